"""Static int8 quantization of one graph in QDQ form (onnxruntime, and OpenVINO reads the same file).

QDQ with per-channel int8 weights and uint8 activations is the path onnxruntime accelerates with VNNI
on x86; dynamic quantization would re-derive activation ranges on every call, which is what made VITS
~100x slower elsewhere (sherpa-onnx#575). Only convolutions and matrix products are quantized: their
inputs are re-quantized, but residual additions, activations and the flow's exp/log stay float, where
8 bits would add error without saving time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

QUANTIZED_OPS = ("Conv", "ConvTranspose", "MatMul")
METHODS = ("minmax", "percentile", "entropy")


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over a list of feed dicts."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]) -> None:
        self._it = iter(list(feeds))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:  # some onnxruntime versions call it between passes
        pass


def quantize_graph(
    source: Path,
    target: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    *,
    method: str = "minmax",
    exclude_nodes: Sequence[str] = (),
    per_channel: bool = True,
) -> Path:
    """Write an int8 QDQ version of `source` calibrated on `feeds`; deterministic for equal inputs."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of {METHODS}")
    calibrate_method = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }[method]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "pre.onnx"
        # Shape inference + constant folding first, as onnxruntime recommends for static quantization.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            _Feeds(feeds),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(QUANTIZED_OPS),
            nodes_to_exclude=list(exclude_nodes),
            calibrate_method=calibrate_method,
            extra_options={"CalibTensorRangeSymmetric": False, "CalibPercentile": 99.99},
        )
    return target
