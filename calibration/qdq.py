"""Activation ranges from real inputs, and a QDQ graph writer with full control over both.

The graph keeps float tensors between layers: only a quantized conv's input is quantized (uint8,
one scale per tensor) and its weights are int8 per output channel. OpenVINO fuses that into int8
convolutions with float outputs; quantizing the outputs as well (onnxruntime's QDQ layout, which its
int8 kernels need) added a rounding step after every conv and raised the vocoder's MCD from 1.46 to
2.18 dB on the default voice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

UINT8_LEVELS = 255
_RANGE_SAMPLES = 200_000
_GRID = np.linspace(0.2, 1.0, 33)


def tensor_values(model: onnx.ModelProto, tensors: Sequence[str],
                  feeds: Iterable[Mapping[str, np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """Each tensor's value per feed and batch item as [channels, time] (float graph, onnxruntime)."""
    import onnxruntime as ort

    if not tensors:  # session.run([]) would return every graph output instead of nothing
        return {}
    probe = onnx.ModelProto.FromString(model.SerializeToString())
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
                              for t in tensors if t not in present)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    values: dict[str, list[np.ndarray]] = {t: [] for t in tensors}
    for feed in feeds:
        for t, v in zip(tensors, session.run(list(tensors), dict(feed)), strict=True):
            values[t].extend(item.reshape(item.shape[0], -1) for item in v)
    return values


def uint8_params(low: float, high: float) -> tuple[np.float32, np.uint8]:
    """Scale and zero point of an asymmetric uint8 range that holds 0 exactly."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max((high - low) / UINT8_LEVELS, 1e-12)
    return np.float32(scale), np.uint8(np.clip(np.round(-low / scale), 0, UINT8_LEVELS))


def _fake_quant_mse(x: np.ndarray, low: float, high: float) -> float:
    scale, zero = uint8_params(low, high)
    q = np.clip(np.round(x / scale) + float(zero), 0, UINT8_LEVELS)
    return float(np.mean(((q - float(zero)) * scale - x) ** 2))


def mse_range(values: Sequence[np.ndarray], seed: int = 0) -> tuple[float, float]:
    """The clipped range with the least quantization error on the observed values.

    Min/max ranges are set by rare peaks (the vocoder's conv inputs peak at 13-41 standard deviations),
    which leaves few steps for the values that carry the signal; clipping trades error on the peaks for
    finer steps everywhere else. A seeded subsample keeps it fast and deterministic.
    """
    x = np.concatenate([np.asarray(v, np.float32).reshape(-1) for v in values])
    if x.size > _RANGE_SAMPLES:
        x = np.random.default_rng(seed).choice(x, _RANGE_SAMPLES, replace=False)
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    candidates = [(low * b, high * a) for a in _GRID for b in _GRID]
    errors = [_fake_quant_mse(x, lo, hi) for lo, hi in candidates]
    return candidates[int(np.argmin(errors))]


def write_qdq(model: onnx.ModelProto, ranges: Mapping[str, tuple[float, float]],
              weights: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> onnx.ModelProto:
    """Quantize the Conv nodes named in `weights` (node -> (int8 codes, per-row scales)).

    Each conv's input goes through QuantizeLinear/DequantizeLinear with its tensor's range (one pair per
    tensor, shared by the convs that read it); its weight becomes int8 codes with a per-row DequantizeLinear.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    nodes: list[onnx.NodeProto] = []
    dequantized: dict[str, str] = {}
    for node in model.graph.node:
        if node.name in weights:
            x = node.input[0]
            if x not in dequantized:
                scale, zero = uint8_params(*ranges[x])
                q = x + "/int8"
                model.graph.initializer.extend([numpy_helper.from_array(np.array(scale), q + ".scale"),
                                                numpy_helper.from_array(np.array(zero), q + ".zero_point")])
                nodes += [helper.make_node("QuantizeLinear", [x, q + ".scale", q + ".zero_point"], [q], name=q + "/Q"),
                          helper.make_node("DequantizeLinear", [q, q + ".scale", q + ".zero_point"], [q + "/dq"],
                                           name=q + "/DQ")]
                dequantized[x] = q + "/dq"
            codes, scales = weights[node.name]
            w = node.input[1] + "/int8"
            model.graph.initializer.extend([
                numpy_helper.from_array(np.asarray(codes, np.int8), w),
                numpy_helper.from_array(np.asarray(scales, np.float32), w + ".scale"),
                numpy_helper.from_array(np.zeros(len(scales), np.int8), w + ".zero_point")])
            nodes.append(helper.make_node("DequantizeLinear", [w, w + ".scale", w + ".zero_point"], [w + "/dq"],
                                          name=w + "/DQ", axis=0))
            node.input[0], node.input[1] = dequantized[x], w + "/dq"
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model
