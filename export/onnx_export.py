"""Trace a GraphSpec's module to ONNX and check the result against torch."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from .errors import ForbiddenOpError, OutputNameMismatch, OutputShapeMismatch, OutputValueMismatch
from .spec import GraphSpec

OPSET = 17
# Random ops and ops whose output shape depends on tensor *values*: TensorRT rejects them, OpenVINO and
# NPU compilers fall back or fail. Noise and length regulation belong to the SDK instead.
FORBIDDEN_OPS = frozenset({
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli",
    "NonZero", "Unique", "Compress", "Loop", "If", "Scan", "ScatterND",
})


def export_graph(spec: GraphSpec, path: str | Path, seed: int = 0) -> float:
    """Export `spec.module` to `path` with the spec's names and dynamic axes, then validate it.

    Returns the worst |onnx - torch| seen in validation; a failed validation raises.
    """
    path = Path(path)
    # Inference semantics (BatchNorm running statistics, no dropout) for the export and for torch's side of
    # the validation; torch.onnx.export restores the wrapper's training flag onto every submodule after
    # exporting, so the flag is set again before validating.
    spec.module.eval()
    rng = np.random.default_rng(seed)
    feeds = spec.example(spec.example_lengths[0], rng)
    args = tuple(torch.from_numpy(feeds[t.name]) for t in spec.inputs)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript and does not
        # yet keep VITS's relative attention dynamic; tracer warnings about sizes are expected here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            spec.module,
            args,
            str(path),
            input_names=[t.name for t in spec.inputs],
            output_names=[t.name for t in spec.outputs],
            dynamic_axes=spec.dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    spec.module.eval()
    return validate_graph(spec, path, seed=seed)


def check_ops(spec_name: str, model: onnx.ModelProto) -> None:
    found = sorted({n.op_type for n in model.graph.node} & FORBIDDEN_OPS)
    if found:
        raise ForbiddenOpError(f"{spec_name}: graph contains forbidden operators {found}")


def validate_graph(spec: GraphSpec, path: Path, seed: int = 0) -> float:
    """Compare the ONNX graph with torch at every example length; return the worst abs difference.

    Raises a typed ExportValidationError on a wrong output name, shape or value — never just warns.
    """
    import onnxruntime as ort

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    check_ops(spec.name, model)
    names = [o.name for o in model.graph.output]
    expected = [t.name for t in spec.outputs]
    if names != expected:
        raise OutputNameMismatch(f"{spec.name}: outputs {names}, spec says {expected}")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for length in spec.example_lengths:
        feeds = spec.example(length, np.random.default_rng(seed + length))
        with torch.no_grad():
            ref = spec.module(*(torch.from_numpy(feeds[t.name]) for t in spec.inputs))
        ref = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
        got = session.run(expected, feeds)
        for out_spec, r, g in zip(spec.outputs, ref, got, strict=True):
            if r.shape != g.shape:
                raise OutputShapeMismatch(f"{spec.name}.{out_spec.name} at length {length}: {g.shape} != {r.shape}")
            diff = float(np.max(np.abs(r - g))) if r.size else 0.0
            if not np.isfinite(diff) or diff > spec.atol:
                raise OutputValueMismatch(
                    f"{spec.name}.{out_spec.name} at length {length}: max |onnx - torch| = {diff:.3g} "
                    f"> tolerance {spec.atol:g}"
                )
            worst = max(worst, diff)
    return worst
