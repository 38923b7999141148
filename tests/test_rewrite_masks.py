"""Cross-layer equalization passes through a time-mask multiply (a per-channel scale commutes with a
one-channel mask), but not through a multiply by a one-channel tensor that a convolution computed."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs onnx (the calibration extra)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from voxport.calibration.rewrite import scalable_groups  # noqa: E402


def _conv_mul_conv(multiplier_from_conv: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w1", (4, 4, 3)), ("w2", (4, 4, 3)), ("wm", (1, 4, 1)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"], name="c1", pads=[1, 1])]
    if multiplier_from_conv:
        nodes.append(helper.make_node("Conv", ["x", "wm"], ["m"], name="cm"))
    else:
        nodes.append(helper.make_node("Identity", ["mask"], ["m"]))
    nodes += [helper.make_node("Mul", ["h", "m"], ["hm"]),
              helper.make_node("Conv", ["hm", "w2"], ["y"], name="c2", pads=[1, 1])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, "T"]),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, "T"])]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_a_mask_multiply_keeps_the_group_scalable():
    groups = scalable_groups(_conv_mul_conv(multiplier_from_conv=False))
    assert [([p.name for p in prods], [c.name for c in cons]) for prods, cons in groups] == [(["c1"], ["c2"])]


def test_a_one_channel_tensor_from_a_convolution_is_not_a_mask():
    assert scalable_groups(_conv_mul_conv(multiplier_from_conv=True)) == []
