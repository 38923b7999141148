"""Tests for voxport.runtimes: the backend interface, the registry and the onnxruntime backend.

Models are built with onnx.helper in tmp_path, so no bundle or voice is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from voxport.runtimes import (
    InputMismatchError,
    OnnxRuntimeSession,
    RuntimeOptions,
    TensorSpec,
    UnsupportedPrecisionError,
    VoxportRuntimeError,
    open_session,
    physical_core_count,
)

# onnx comes with the export extra, not the core install: only needed here to build test graphs.
onnx = pytest.importorskip("onnx")
TensorProto = onnx.TensorProto
helper = onnx.helper

from support.affine_graph import INPUTS, OUTPUTS  # noqa: E402
from support.affine_graph import affine_model as make_affine_model  # noqa: E402
from support.affine_graph import save as _save  # noqa: E402,F401


@pytest.fixture
def affine_model(tmp_path: Path) -> Path:
    return make_affine_model(tmp_path / "affine.onnx")


@pytest.fixture
def session(affine_model: Path):
    with open_session("cpu", affine_model, INPUTS, OUTPUTS, name="encoder") as sess:
        yield sess


def _feeds(batch: int = 2) -> dict[str, np.ndarray]:
    return {
        "x": np.arange(batch * 3, dtype=np.float32).reshape(batch, 3),
        "b": np.array([0.5, -1.0, 10.0], dtype=np.float32),
        "n": np.arange(batch, dtype=np.int64),
    }


# --- running -------------------------------------------------------------------------------------


def test_run_gives_right_values(session: OnnxRuntimeSession) -> None:
    for batch in (1, 4):  # the dynamic axis really is dynamic
        feeds = _feeds(batch)
        out = session.run(feeds)
        assert list(out) == ["y", "m"]
        np.testing.assert_allclose(out["y"], feeds["x"] * 2 + feeds["b"])
        assert out["m"].dtype == np.int64
        np.testing.assert_array_equal(out["m"], feeds["n"] + 1)


def test_session_properties(session: OnnxRuntimeSession, affine_model: Path) -> None:
    assert isinstance(session, OnnxRuntimeSession)
    assert session.runtime == "onnxruntime"
    assert session.name == "encoder"
    assert session.precision == "fp32"
    assert session.inputs == INPUTS
    assert session.outputs == OUTPUTS
    assert session.model_path == affine_model
    assert "encoder" in repr(session)


def test_declared_output_subset(affine_model: Path) -> None:
    with open_session("cpu", affine_model, INPUTS, OUTPUTS[1:]) as sess:
        assert list(sess.run(_feeds())) == ["m"]


# --- feed validation -----------------------------------------------------------------------------


def _without(name: str) -> dict[str, np.ndarray]:
    feeds = _feeds()
    del feeds[name]
    return feeds


@pytest.mark.parametrize(
    ("feeds", "input_name", "fragment"),
    [
        (_without("b"), "b", "missing input"),
        ({**_feeds(), "z": np.zeros(1, np.float32)}, "z", "unknown input"),
        ({**_feeds(), "x": np.zeros((2, 3), np.float64)}, "x", "wrong dtype"),
        ({**_feeds(), "n": np.zeros(2, np.int32)}, "n", "wrong dtype"),
        ({**_feeds(), "x": np.zeros((2, 3, 1), np.float32)}, "x", "wrong rank"),
        ({**_feeds(), "b": np.zeros(4, np.float32)}, "b", "wrong size on axis 0"),
        ({**_feeds(), "x": np.zeros((2, 5), np.float32)}, "x", "wrong size on axis 1"),
        ({**_feeds(), "n": np.zeros(3, np.int64)}, "n", "disagrees with input 'x'"),
        ({**_feeds(), "b": [0.0, 0.0, 0.0]}, "b", "not a numpy array"),
    ],
    ids=["missing", "extra", "float64", "int32", "rank", "fixed-dim", "fixed-dim-2", "shared-axis", "list"],
)
def test_feed_validation(session: OnnxRuntimeSession, feeds, input_name: str, fragment: str) -> None:
    with pytest.raises(InputMismatchError) as info:
        session.run(feeds)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, VoxportRuntimeError)
    assert err.input_name == input_name
    assert err.graph == "encoder"
    message = str(err)
    assert repr(input_name) in message and "'encoder'" in message and fragment in message
    assert "expected" in message and "got" in message
    assert session.stats.count == 0  # rejected feeds never reach the runtime


def test_dtype_message_shows_expected_and_got(session: OnnxRuntimeSession) -> None:
    with pytest.raises(InputMismatchError, match="expected float32, got float64"):
        session.run({**_feeds(), "x": np.zeros((2, 3), np.float64)})


# --- stats, lifecycle ----------------------------------------------------------------------------


def test_stats_count_calls_and_time_them(session: OnnxRuntimeSession) -> None:
    stats = session.stats
    assert stats.count == 0 and stats.last_s is None and stats.mean_s is None
    for _ in range(3):
        session.run(_feeds())
    assert stats.count == 3
    assert len(stats.times_s) == 3 and all(t > 0 for t in stats.times_s)
    assert stats.last_s == stats.times_s[-1] > 0
    assert stats.total_s == pytest.approx(sum(stats.times_s))
    assert stats.to_dict()["count"] == 3
    stats.reset()
    assert stats.count == 0 and stats.total_s == 0.0 and stats.last_s is None


def test_stats_history_is_bounded(session: OnnxRuntimeSession) -> None:
    from voxport.runtimes import CallStats

    stats = CallStats(max_history=2)
    for t in (1.0, 2.0, 3.0):
        stats.record(t)
    assert list(stats.times_s) == [2.0, 3.0] and stats.count == 3 and stats.total_s == 6.0


def test_close_and_context_manager(affine_model: Path) -> None:
    with open_session("cpu", affine_model, INPUTS, OUTPUTS) as sess:
        sess.run(_feeds())
    assert sess.closed
    sess.close()  # idempotent
    with pytest.raises(VoxportRuntimeError, match="closed"):
        sess.run(_feeds())


def test_runtime_failure_is_wrapped(tmp_path: Path) -> None:
    # Reshape a dynamic vector to 2x2: any length but 4 passes validation and fails inside onnxruntime.
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [2, 2])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["v", "shape"], ["w"])],
        "reshape",
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 2])],
        initializer=[shape],
    )
    path = _save(graph, tmp_path / "reshape.onnx")
    specs_in, specs_out = [TensorSpec("v", "float32", ("n",))], [TensorSpec("w", "float32", (2, 2))]
    with open_session("cpu", path, specs_in, specs_out, name="decoder") as sess:
        assert sess.run({"v": np.ones(4, np.float32)})["w"].shape == (2, 2)
        with pytest.raises(VoxportRuntimeError, match="'decoder'") as info:
            sess.run({"v": np.ones(3, np.float32)})
        assert info.value.__cause__ is not None


# --- options -------------------------------------------------------------------------------------


def test_threads_option_is_honoured(affine_model: Path) -> None:
    import onnxruntime as ort

    with open_session("cpu", affine_model, INPUTS, OUTPUTS, options=RuntimeOptions(threads=1)) as sess:
        so = sess.session_options
        assert so.intra_op_num_threads == 1
        assert so.inter_op_num_threads == 1
        assert so.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
        assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        assert sess.ort_session.get_providers() == ["CPUExecutionProvider"]
        assert sess.ort_session.get_session_options().intra_op_num_threads == 1
    with open_session("cpu", affine_model, INPUTS, OUTPUTS) as sess:
        assert sess.session_options.intra_op_num_threads == physical_core_count()


def test_physical_core_count_is_sane() -> None:
    assert 1 <= physical_core_count() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_count_rejected(threads) -> None:
    with pytest.raises(ValueError, match="threads"):
        RuntimeOptions(threads=threads)


def test_extra_options(affine_model: Path, tmp_path: Path) -> None:
    optimized = tmp_path / "optimized.onnx"
    extra = {
        "allow_spinning": False,
        "optimized_model_path": str(optimized),
        "graph_optimization_level": "basic",
        "session_config": {"session.intra_op.allow_spinning": "0"},
    }
    with open_session("cpu", affine_model, INPUTS, OUTPUTS, options=RuntimeOptions(extra=extra)) as sess:
        so = sess.session_options
        assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert so.graph_optimization_level.name == "ORT_ENABLE_BASIC"
        sess.run(_feeds())
    assert optimized.is_file()


@pytest.mark.parametrize("threads,extra,spins,stops", [
    (2, {}, "1", "1"),  # spin: busy-wait while a call runs, stop when it returns
    (1, {}, "0", None),  # a pool of one thread has nothing to spin
    (2, {"allow_spinning": False}, "0", None),  # the explicit extra key wins
    (2, {"allow_spinning": True}, "1", None),  # ... spinning after calls too, as onnxruntime's default
])
def test_spin_spins_only_while_a_call_runs(affine_model: Path, threads, extra, spins, stops) -> None:
    options = RuntimeOptions(threads=threads, spin=True, extra=extra)
    with open_session("cpu", affine_model, INPUTS, OUTPUTS, options=options) as sess:
        so = sess.session_options
        assert so.get_session_config_entry("session.intra_op.allow_spinning") == spins
        if stops is None:
            with pytest.raises(RuntimeError):  # onnxruntime raises when the entry was never set
                so.get_session_config_entry("session.force_spinning_stop")
        else:
            assert so.get_session_config_entry("session.force_spinning_stop") == stops
        np.testing.assert_allclose(sess.run(_feeds())["y"], open_session(
            "cpu", affine_model, INPUTS, OUTPUTS, options=RuntimeOptions(threads=threads)).run(_feeds())["y"])


def test_unknown_extra_option_rejected(affine_model: Path) -> None:
    options = RuntimeOptions(extra={"alow_spinning": False})
    with pytest.raises(VoxportRuntimeError, match="alow_spinning") as info:
        open_session("cpu", affine_model, INPUTS, OUTPUTS, options=options)
    message = str(info.value)
    assert "runtime 'onnxruntime' does not understand RuntimeOptions.extra keys ['alow_spinning']" in message
    assert "'allow_spinning'" in message  # the accepted keys, so the typo is easy to spot


def test_unknown_device_rejected(affine_model: Path) -> None:
    with pytest.raises(VoxportRuntimeError, match="device"):
        open_session("cpu", affine_model, INPUTS, OUTPUTS, options=RuntimeOptions(device="cuda:0"))


# --- opening -------------------------------------------------------------------------------------


def test_unsupported_precision(affine_model: Path) -> None:
    with pytest.raises(UnsupportedPrecisionError, match="fp32") as info:
        open_session("cpu", affine_model, INPUTS, OUTPUTS, precision="fp16")
    assert info.value.precision == "fp16" and info.value.supported == ["fp32", "int8"]


def test_precision_is_case_insensitive(affine_model: Path) -> None:
    with open_session("cpu", affine_model, INPUTS, OUTPUTS, precision="FP32") as sess:
        assert sess.precision == "fp32"


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="vocoder"):
        open_session("cpu", tmp_path / "nope.onnx", INPUTS, OUTPUTS, name="vocoder")


def test_invalid_model_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(VoxportRuntimeError, match="could not load"):
        open_session("cpu", path, INPUTS, OUTPUTS)


@pytest.mark.parametrize(
    ("inputs", "outputs", "fragment"),
    [
        ((TensorSpec("x", "int32", ("batch", 3)), *INPUTS[1:]), OUTPUTS, "declared int32"),
        (INPUTS[:2], OUTPUTS, "'n' is not declared"),
        (INPUTS, (TensorSpec("q", "float32", (1,)),), "'q' is not a graph output ['m', 'y']"),
        ((*INPUTS, TensorSpec("k", "float32", (1,))), OUTPUTS, "declared input 'k' is not a graph input"),
        ((TensorSpec("x", "float32", ("batch", 4)), *INPUTS[1:]), OUTPUTS, "axis 1 is 3"),
        ((TensorSpec("b", "float32", (3, 1)), INPUTS[0], INPUTS[2]), OUTPUTS, "rank 1"),
    ],
    ids=["dtype", "undeclared-input", "unknown-output", "unknown-input", "fixed-dim", "rank"],
)
def test_specs_checked_against_graph_at_open(affine_model: Path, inputs, outputs, fragment: str) -> None:
    with pytest.raises(VoxportRuntimeError, match="do not match") as info:
        open_session("cpu", affine_model, inputs, outputs)
    assert fragment in str(info.value)
