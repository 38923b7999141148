"""A tiny ONNX graph for the runtime tests (y = x * 2 + b; m = n + 1), built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from voxport.runtimes import TensorSpec

# "batch" is shared by x and n, 3 is a fixed feature size.
INPUTS = (
    TensorSpec("x", "float32", ("batch", 3)),
    TensorSpec("b", "float32", (3,)),
    TensorSpec("n", "int64", ("batch",)),
)
OUTPUTS = (TensorSpec("y", "float32", ("batch", 3)), TensorSpec("m", "int64", ("batch",)))


def save(graph: onnx.GraphProto, path: Path) -> Path:
    # Pin opset and IR version: the onnx package's defaults can be newer than onnxruntime supports.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def affine_model(path: Path) -> Path:
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.INT64, [], [1])
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Add", ["x2", "b"], ["y"]),
        helper.make_node("Add", ["n", "one"], ["m"]),
    ]
    graph = helper.make_graph(
        nodes,
        "affine",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("n", TensorProto.INT64, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("m", TensorProto.INT64, ["batch"]),
        ],
        initializer=[two, one],
    )
    return save(graph, path)


def feeds(batch: int = 2) -> dict[str, np.ndarray]:
    return {
        "x": np.arange(batch * 3, dtype=np.float32).reshape(batch, 3),
        "b": np.array([0.5, -1.0, 10.0], dtype=np.float32),
        "n": np.arange(batch, dtype=np.int64),
    }
