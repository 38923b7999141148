"""Kokoro's weights out of a kokoro-onnx monolith (`kokoro-v1.0.onnx`, `.fp16.onnx`, or the dynamic-int8
`kokoro-v1.0.int8.onnx`), back to float, named as KokoroModel's parameters.

The monolith was exported from a wrapper (`encoder.*` = bert, bert_encoder, predictor, text_encoder;
`decoder.decoder.*` = the decoder) and optimised: weight norms constant-folded into tensors named after the
node that made them, identical constants merged, LSTMs fused into (DynamicQuantize)LSTM, repeated ALBERT
layers scoped `attention_3`, `ffn_7`... So a weight is found through the node that consumes it: its scope
names the module (`/decoder/decoder/decode.0/conv1/Conv_quant` -> `decoder.decode.0.conv1`), its input
position says which tensor it is, and the node's own inputs give its scale and zero point. int8 weights are
dequantized as (q - zero_point) * scale: the cost against the original is what the int8 file already paid
(weights), while voxport's graphs compute in float (the activations are no longer quantized on the fly).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from onnx import ModelProto, numpy_helper

_SCOPED = re.compile(r"_\d+$")  # a repeated call's scope: attention_3 -> attention


class QuantizedGraph:
    """A kokoro-onnx graph's initializers, read as float on demand (dequantized where they are int8)."""

    def __init__(self, model: ModelProto) -> None:
        self.inits = {i.name: i for i in model.graph.initializer}
        self.nodes = list(model.graph.node)  # one wrapper per node: identities (`is`, id) hold across the maps
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self._cache: dict[str, np.ndarray] = {}

    def array(self, name: str) -> np.ndarray | None:
        if name not in self.inits:
            return None
        if name not in self._cache:
            self._cache[name] = numpy_helper.to_array(self.inits[name])
        return self._cache[name]

    def float_of(self, name: str, scale: str | None, zero: str | None, axis: int = 0) -> np.ndarray | None:
        """An initializer as float32: dequantized when it is quantized (its scale and zero point given,
        per tensor or per slice along `axis`)."""
        q = self.array(name)
        if q is None:
            return None
        if scale is None or not np.issubdtype(q.dtype, np.integer):
            return q.astype(np.float32)
        s = self.array(scale)
        z = self.array(zero) if zero else None
        z = np.zeros((), np.float32) if z is None else z.astype(np.float32)
        return ((q.astype(np.float32) - _along(z, q, axis)) * _along(s, q, axis)).astype(np.float32)


def _along(p: np.ndarray, q: np.ndarray, axis: int) -> np.ndarray:
    """A per-slice scale or zero point shaped to broadcast along `axis` of `q`: per output channel (convs,
    axis 0), per output column (MatMul weights [in, out], axis -1), per direction (LSTMs, axis 0)."""
    p = np.asarray(p, np.float32)
    if p.ndim == 1 and p.size > 1:
        shape = [1] * q.ndim
        shape[axis] = p.size
        return p.reshape(shape)
    return p


def _module_path(node_name: str) -> str:
    """`/decoder/decoder/generator/resblocks.4/adain2.2/fc/Gemm_MatMul_quant` -> the module's dotted path without
    the wrapper's prefix (`decoder.generator.resblocks.4.adain2.2.fc`); a repeated call's scope loses its count
    (`attention_3` -> `attention`) and a Sequential's doubled scope folds (`cnn.0/cnn.0.0` -> `cnn.0.0`)."""
    scopes = [_SCOPED.sub("", p) for p in node_name.strip("/").split("/")[:-1]]
    if scopes[:2] == ["decoder", "decoder"] or scopes[:1] == ["encoder"]:
        scopes = scopes[1:]
    kept = [s for i, s in enumerate(scopes) if not (i + 1 < len(scopes) and scopes[i + 1].startswith(s + "."))]
    return ".".join(kept)


def scale_name(quantized: str) -> str:
    """The scale initializer's name beside an int8 one (`X_quantized` -> `X_scale`), or "" when it has none."""
    return quantized[: -len("_quantized")] + "_scale" if quantized.endswith("_quantized") else ""


def _lstm_to_torch(w: np.ndarray, hidden: int) -> np.ndarray:
    """ONNX gate order (i, o, f, c) along the first axis -> torch's (i, f, g=c, o)."""
    i, o, f, c = (w[k * hidden:(k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, c, o])


def _lstm(g: QuantizedGraph, node, module: str) -> dict[str, np.ndarray]:  # noqa: ANN001
    quantized = node.op_type == "DynamicQuantizeLSTM"
    ins = list(node.input) + [""] * 12
    w = g.float_of(ins[1], ins[8] if quantized else None, ins[9] if quantized else None)
    r = g.float_of(ins[2], ins[10] if quantized else None, ins[11] if quantized else None)
    b = g.array(ins[3])
    if quantized:  # DynamicQuantizeLSTM keeps W [dirs, input, 4h] and R [dirs, h, 4h]: transposed
        w, r = w.transpose(0, 2, 1), r.transpose(0, 2, 1)
    hidden = r.shape[2]
    out = {}
    for d, suffix in enumerate(("", "_reverse")[: w.shape[0]]):
        out[f"{module}.weight_ih_l0{suffix}"] = _lstm_to_torch(w[d], hidden)
        out[f"{module}.weight_hh_l0{suffix}"] = _lstm_to_torch(r[d], hidden)
        if b is not None:
            out[f"{module}.bias_ih_l0{suffix}"] = _lstm_to_torch(b[d][: 4 * hidden], hidden)
            out[f"{module}.bias_hh_l0{suffix}"] = _lstm_to_torch(b[d][4 * hidden:], hidden)
    return out


def _from_node(g: QuantizedGraph, node) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The float weights one node reads, by module path (not yet resolved against the model)."""
    op, ins, module = node.op_type, list(node.input), _module_path(node.name)
    if op in ("LSTM", "DynamicQuantizeLSTM"):
        return _lstm(g, node, module)
    if op in ("MatMulInteger", "ConvInteger") and ins[1] in g.inits:
        w = g.float_of(ins[1], scale_name(ins[1]), ins[3] if len(ins) > 3 else None,
                       axis=-1 if op == "MatMulInteger" else 0)
        return {f"{module}.weight": w.T if op == "MatMulInteger" else w}
    if op in ("MatMul", "Gemm") and len(ins) > 1 and ins[1] in g.inits:
        w = g.float_of(ins[1], None, None)
        return {f"{module}.weight": w.T if op == "MatMul" else w}
    if op in ("Conv", "ConvTranspose") and ins[1] in g.inits:
        return {f"{module}.weight": g.float_of(ins[1], None, None)}
    if op == "Gather" and ins[0] in g.inits and ins[0].endswith("_quantized"):
        deq = next((n for n in g.consumers.get(node.output[0], []) if n.op_type == "DequantizeLinear"), None)
        zero = deq.input[2] if deq is not None and len(deq.input) > 2 else ins[0][: -len("_quantized")] + "_zero_point"
        return {f"{module}.weight": g.float_of(ins[0], scale_name(ins[0]), zero)}
    if op == "Gather" and ins[0] in g.inits and g.array(ins[0]).ndim == 2:
        return {f"{module}.weight": g.float_of(ins[0], None, None)}
    return {}


def onnx_state(model: ModelProto, expected: Mapping[str, tuple[int, ...]]) -> tuple[dict[str, np.ndarray], list[str]]:
    """(param -> float array, initializers that map to nothing) for a model whose parameters have the
    `expected` shapes. A module path found in the graph is matched to a parameter directly or, for the
    predictor's blocks the wrapper called at its top level (`F0.1`, `shared`), under `predictor.`."""
    g = QuantizedGraph(model)
    found: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def put(name: str, value: np.ndarray) -> bool:
        for key in (name, f"predictor.{name}", *_by_suffix(name, value.shape)):
            if key in expected and tuple(value.shape) == tuple(expected[key]):
                found[key] = value
                return True
        return False

    def _by_suffix(name: str, shape: tuple[int, ...]) -> list[str]:
        """A scope that skipped a container no one calls (`generator/l_linear` for `generator.m_source.l_linear`):
        the one parameter of that shape whose path ends the same way, if there is exactly one."""
        parts = name.split(".")
        for k in range(min(3, len(parts) - 1), 1, -1):
            tail = "." + ".".join(parts[-k:])
            hits = [p for p, s in expected.items() if p.endswith(tail) and tuple(s) == tuple(shape)]
            if len(hits) == 1:
                return hits
        return []

    for name in g.inits:  # named float tensors: biases, norms, alphas
        # `decoder.decoder.X` is the model's `decoder.X`; `encoder.X` its `X`.
        key = name.split(".", 1)[1] if name.startswith(("decoder.", "encoder.")) else name
        value = g.array(name)
        if not np.issubdtype(value.dtype, np.integer) and put(key, value.astype(np.float32)):
            used.add(name)
    for n in g.nodes:
        for key, value in _from_node(g, n).items():
            if put(key, value):
                used.update(i for i in n.input if i in g.inits)
    unused = sorted(n for n in g.inits if n not in used and n.endswith(("_quantized", ".weight", ".bias")))
    return found, unused
