"""Can TensorRT 10 import a graph?  Its operators against the ONNX parser's support list, offline.

Checks an ONNX file without TensorRT or a GPU, so CI catches an exporter change that would make a
graph unbuildable long before anyone builds an engine: every operator must be in TensorRT 10's
ONNX-parser support list, none may have a data-dependent output shape or draw random numbers, the
opset must be one the parser reads, and inputs the parser needs as build-time constants must be.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DATA_DEPENDENT_OPS",
    "OPSET_RANGE",
    "SUPPORTED_OPS",
    "CONSTANT_INPUTS",
    "GraphOpReport",
    "check_graph",
]

# The operators marked "Y" in onnx/onnx-tensorrt docs/operators.md at the ONNX-TensorRT 10.1 GA release
# (commit 96e781103cfc4adf4a6bb557e94bac8e693f6f4c, branch 10.1-GA), whose header reads "TensorRT 10.0
# supports operators in the inclusive range of opset 9 to opset 20".  Data, not code: update it from
# that file when moving to a newer TensorRT.
_SUPPORTED_TABLE = """
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast
    CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum
    DeformConv DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten
    Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater
    GreaterOrEqual GridSample GroupNormalization GRU HardSigmoid HardSwish Hardmax Identity If
    ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log
    LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization
    Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu
    QuantizeLinear RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal
    ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
    ReduceSumSquare Relu Reshape Resize ReverseSequence RNN RoiAlign Round ScaledTanh Scan Scatter
    ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus
    Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu
    Unsqueeze Upsample Where Xor
"""
SUPPORTED_OPS: frozenset[str] = frozenset(_SUPPORTED_TABLE.split())
OPSET_RANGE: tuple[int, int] = (9, 20)  # of the default ONNX domain, same source

# Parsed by TensorRT or not, these have no place in a voxport graph: their output shapes depend on
# tensor values (TensorRT then needs data-dependent-shape handling and an output allocator) or they
# draw random numbers (the SDK draws all noise, so that the same seed gives the same audio anywhere).
DATA_DEPENDENT_OPS: frozenset[str] = frozenset(
    {
        "NonZero", "Unique", "Compress", "Loop", "If", "Scan",
        "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli",
    }
)

# Restrictions column of the same file: input index that "must be an initializer" (or, for
# Unsqueeze, "a constant tensor").  The parser also treats Constant-node outputs as initializers.
# Reduce* ops take axes as an input only from opset 18 (ReduceSum from 13); before that they are
# attributes and the input index is simply absent.
CONSTANT_INPUTS: dict[str, int] = {
    "CumSum": 1,
    "Pad": 3,
    "Slice": 3,
    "Squeeze": 1,
    "Unsqueeze": 1,
    **{
        op: 1
        for op in (
            "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
            "ReduceProd", "ReduceSum", "ReduceSumSquare",
        )
    },
}


@dataclass
class GraphOpReport:
    """What :func:`check_graph` found in one ONNX graph (subgraphs included)."""

    ops: Counter[str] = field(default_factory=Counter)  # op type -> count ("domain:Op" outside ONNX's)
    opset: int | None = None
    unsupported: list[str] = field(default_factory=list)  # op types not in SUPPORTED_OPS
    data_dependent: list[str] = field(default_factory=list)  # op types in DATA_DEPENDENT_OPS
    non_constant_inputs: list[str] = field(default_factory=list)  # "node (Op) input k" that must be constant

    @property
    def opset_supported(self) -> bool:
        return self.opset is not None and OPSET_RANGE[0] <= self.opset <= OPSET_RANGE[1]

    @property
    def ok(self) -> bool:
        return self.opset_supported and not (self.unsupported or self.data_dependent or self.non_constant_inputs)

    def problems(self) -> list[str]:
        found = []
        if not self.opset_supported:
            found.append(f"opset {self.opset} outside TensorRT 10's {OPSET_RANGE[0]}..{OPSET_RANGE[1]}")
        if self.unsupported:
            found.append(f"operators outside TensorRT 10's ONNX parser list: {self.unsupported}")
        if self.data_dependent:
            found.append(f"data-dependent or random operators: {self.data_dependent}")
        if self.non_constant_inputs:
            found.append(f"inputs TensorRT needs as initializers are computed: {self.non_constant_inputs}")
        return found


def check_graph(model: str | os.PathLike[str] | Any) -> GraphOpReport:
    """Check an ONNX model (a path or a loaded ``onnx.ModelProto``); never raises on findings."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(os.fspath(model), load_external_data=False)  # weights are not needed
    report = GraphOpReport()
    report.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    for constants, node in _walk(model.graph):
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}"
        report.ops[op] += 1
        index = CONSTANT_INPUTS.get(op)
        computed = index is not None and len(node.input) > index and node.input[index] not in constants
        if computed and node.input[index]:  # "" = an omitted optional input
            report.non_constant_inputs.append(f"{node.name or op} ({op}) input {index}")
    report.unsupported = sorted(op for op in report.ops if op not in SUPPORTED_OPS)
    report.data_dependent = sorted(op for op in report.ops if op in DATA_DEPENDENT_OPS)
    return report


def _walk(graph: Any) -> Iterator[tuple[set[str], Any]]:
    """(names of the node's graph's initializers and Constant outputs, node) for every node, descending
    into If/Loop/Scan bodies (a body's constants are its own; outer ones count as computed there)."""
    import onnx

    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    for node in graph.node:
        yield constants, node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _walk(sub)
