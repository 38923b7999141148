"""Every graph of a bundle is importable by TensorRT 10's ONNX parser, checked offline (no TensorRT)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="reading graphs needs the export extra (onnx)")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from voxport.export.tensorrt_ops import (  # noqa: E402
    DATA_DEPENDENT_OPS,
    SUPPORTED_OPS,
    check_graph,
)

STAGES = ("encoder", "duration", "decoder", "vocoder")


@pytest.mark.parametrize("stage", STAGES)
def test_tiny_bundle_graphs_use_only_tensorrt_operators(tiny_bundle, stage):
    report = check_graph(tiny_bundle / f"{stage}.onnx")
    assert report.ok, report.problems()
    assert report.ops  # a graph was actually read


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_real_voice_graphs_use_only_tensorrt_operators(joe_bundle, stage):
    report = check_graph(joe_bundle / f"{stage}.onnx")
    assert report.ok, report.problems()


@pytest.mark.slow
def test_piper_monolith_is_what_the_split_removes(joe_files):
    # The original graph draws its own noise and builds the alignment path with NonZero: exactly the
    # operators the split moves into the SDK.
    report = check_graph(joe_files[0])
    assert {"NonZero", "RandomNormalLike"} <= set(report.data_dependent)
    assert not report.ok


def _model(op: str, inputs: list[str], inits: dict[str, np.ndarray], opset: int = 17, **attrs):
    node = helper.make_node(op, inputs, ["y"], name="n", **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in inputs if n not in inits and n],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_a_data_dependent_operator_is_reported():
    report = check_graph(_model("NonZero", ["x"], {}))
    assert report.data_dependent == ["NonZero"] and not report.ok


def test_an_operator_outside_the_list_is_reported():
    report = check_graph(_model("STFT", ["x", "step"], {"step": np.array(4, np.int64)}))
    assert report.unsupported == ["STFT"] and not report.ok
    assert "STFT" not in SUPPORTED_OPS and "Conv" in SUPPORTED_OPS


def test_an_operator_of_another_domain_is_unsupported():
    model = _model("Relu", ["x"], {})
    model.graph.node[0].domain = "com.microsoft"
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    assert check_graph(model).unsupported == ["com.microsoft:Relu"]


def test_a_computed_axes_input_is_reported_and_a_constant_one_is_not():
    computed = _model("CumSum", ["x", "axis"], {})
    constant = _model("CumSum", ["x", "axis"], {"axis": np.array(1, np.int64)})
    assert check_graph(computed).non_constant_inputs == ["n (CumSum) input 1"]
    assert check_graph(constant).ok


def test_an_opset_outside_the_parser_range_is_reported():
    report = check_graph(_model("Relu", ["x"], {}, opset=21))
    assert not report.opset_supported and not report.ok


def test_operators_inside_subgraphs_are_checked():
    body = helper.make_graph(
        [helper.make_node("RandomNormal", [], ["r"], shape=[1])], "then", [],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, [1])],
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=body)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    report = check_graph(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert report.data_dependent == ["If", "RandomNormal"]
    assert report.ops["RandomNormal"] == 2


def test_the_forbidden_list_covers_the_issue():
    assert {"NonZero", "Unique", "Compress", "Loop", "If", "Scan", "Multinomial"} <= DATA_DEPENDENT_OPS
    assert {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike"} <= DATA_DEPENDENT_OPS
