"""A float graph that computes like a device running it at fp16 or bf16, on a machine that cannot.

Cross-calibration gates a precision the host does not run natively (fp16 on an x86 CPU for an ARMv8.2
board, bf16 without AVX512-BF16): the gate needs audio with that precision's rounding. This rewrite
rounds every float weight to the precision and puts a round trip (Cast to fp16/bf16, Cast back) after
every float tensor a node produces and on every float graph input, so each op reads and writes values
the precision can hold, and overflow past fp16's 65504 becomes inf as it would on the device.

What it does not emulate: accumulation inside an op stays fp32 here. A device whose kernels accumulate in
fp16 (some ARM convolution and GEMM kernels do) can lose more than this, and one that keeps some ops in
f32 (OpenVINO does for a few) loses less; the device's own `voxport calibrate` (or `--time-only`, which
times what this gated) is the check that the device agrees.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["EMULATED", "emulate_precision", "round_to"]

EMULATED = {"fp16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}


def round_to(values: np.ndarray, precision: str) -> np.ndarray:
    """fp32 values rounded to the nearest `precision` value (round half to even), back in fp32."""
    values = np.asarray(values, np.float32)
    if precision == "fp16":
        with np.errstate(over="ignore"):
            return values.astype(np.float16).astype(np.float32)
    bits = values.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000  # bf16 is fp32's top 16 bits, rounded
    nan = np.isnan(values)
    out = rounded.astype(np.uint32).view(np.float32)
    return np.where(nan, values, out)


def _float_tensors(model: onnx.ModelProto) -> set[str]:
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    typed = [*graph.value_info, *graph.output, *graph.input]
    return {v.name for v in typed if v.type.tensor_type.elem_type == TensorProto.FLOAT}


def emulate_precision(model: onnx.ModelProto, precision: str) -> onnx.ModelProto:
    """A copy of `model` (fp32) whose weights and every float tensor are rounded to `precision`."""
    if precision not in EMULATED:
        raise ValueError(f"can emulate {sorted(EMULATED)}, not {precision!r}")
    target = EMULATED[precision]
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    floats = _float_tensors(model)
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(round_to(numpy_helper.to_array(init), precision), init.name))
    rounded: dict[str, str] = {}  # tensor -> its rounded copy
    nodes = []

    def round_trip(name: str, back: str) -> list[onnx.NodeProto]:
        low = f"{name}__to_{precision}"
        return [helper.make_node("Cast", [name], [low], to=target, name=f"{low}_cast"),
                helper.make_node("Cast", [low], [back], to=TensorProto.FLOAT, name=f"{back}_cast")]

    for graph_input in graph.input:
        if graph_input.name in floats:
            rounded[graph_input.name] = f"{graph_input.name}__{precision}"
            nodes += round_trip(graph_input.name, rounded[graph_input.name])
    outputs = {o.name for o in graph.output}
    for node in graph.node:
        node.input[:] = [rounded.get(name, name) for name in node.input]
        nodes.append(node)
        for i, name in enumerate(node.output):
            if name not in floats:
                continue
            if name in outputs:  # the graph's output keeps its name and is the rounded value
                node.output[i] = raw = f"{name}__raw"
                nodes += round_trip(raw, name)
            else:
                rounded[name] = f"{name}__{precision}"
                nodes += round_trip(name, rounded[name])
    del graph.node[:]
    graph.node.extend(nodes)
    return model
