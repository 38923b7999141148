"""Tests for voxport.runtimes: the backend interface, the registry and the onnxruntime backend.

Models are built with onnx.helper in tmp_path, so no bundle or voice is needed.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voxport.pipeline.precision import variant_for
from voxport.runtimes import (
    KNOWN_RUNTIMES,
    Backend,
    GraphIO,
    GraphTensor,
    InputMismatchError,
    OnnxRuntimeCPUBackend,
    OnnxRuntimeSession,
    RuntimeOptions,
    RuntimeUnavailableError,
    Session,
    TensorSpec,
    UnsupportedPrecisionError,
    VoxportRuntimeError,
    available_runtimes,
    canonical_runtime,
    get_backend,
    open_session,
    physical_core_count,
    register_backend,
)
from voxport.runtimes import registry as registry_module

# onnx comes with the export extra, not the core install: only needed here to build test graphs.
onnx = pytest.importorskip("onnx")
TensorProto = onnx.TensorProto
helper = onnx.helper

# y = x * 2 + b ; m = n + 1.  "batch" is shared by x and n, 3 is a fixed feature size.
INPUTS = (
    TensorSpec("x", "float32", ("batch", 3)),
    TensorSpec("b", "float32", (3,)),
    TensorSpec("n", "int64", ("batch",)),
)
OUTPUTS = (TensorSpec("y", "float32", ("batch", 3)), TensorSpec("m", "int64", ("batch",)))


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    # Pin opset and IR version: the onnx package's defaults can be newer than onnxruntime supports.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def affine_model(tmp_path: Path) -> Path:
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
    return _save(graph, tmp_path / "affine.onnx")


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


# --- the spec check every backend shares, on a fake runtime -----------------------------------------


class FakeSession(Session):
    """Reports a fixed GraphIO, so the shared check is tested without any runtime."""

    runtime = "fake"
    io = GraphIO((), ())
    closed_by_check: list[str] = []

    def _load(self) -> None:
        pass

    def _graph_io(self) -> GraphIO:
        return self.io

    def _run(self, feeds):  # pragma: no cover - never run
        raise AssertionError

    def _close(self) -> None:
        FakeSession.closed_by_check.append(self.name)


class FakeRuntime(Backend):
    name = "fake"
    module = "numpy"  # always installed
    extra_keys = ("knob",)
    session_class = FakeSession


def _fake_open(tmp_path: Path, io: GraphIO, inputs, outputs, **extra):
    model = tmp_path / "fake.onnx"
    model.write_bytes(b"")
    FakeSession.io = io
    return FakeRuntime().open(model, inputs, outputs, options=RuntimeOptions(extra=extra), name="vocoder")


def test_shared_check_accepts_aliases_optional_inputs_and_unknown_types(tmp_path: Path) -> None:
    io = GraphIO(
        (
            GraphTensor("latent:0", "float32", (None, 192, "frames"), aliases=("latent",)),
            GraphTensor("scale", "float32", (), required=False),  # may be fed, need not be
        ),
        (GraphTensor("audio", None, None),),  # dtype without numpy equivalent, unknown rank
    )
    specs_in = (TensorSpec("latent", "float32", (1, 192, "frames")),)  # fixed over dynamic: a restriction
    with _fake_open(tmp_path, io, specs_in, (TensorSpec("audio", "float16", ("batch", 1, "samples")),)) as session:
        assert not session.closed
    with _fake_open(tmp_path, io, (*specs_in, TensorSpec("scale", "float32", ())), ()):
        pass


def test_shared_check_lists_every_problem_and_closes_the_session(tmp_path: Path) -> None:
    io = GraphIO(
        (GraphTensor("latent", "float32", (None, 192, None)), GraphTensor("lengths", "int64", (None,))),
        (GraphTensor("audio", "float32", (None, 1, None)),),
        kind="engine",
    )
    inputs = (TensorSpec("latent", "float16", ("batch", 80, "frames")), TensorSpec("noise", "float32", (1,)))
    outputs = (TensorSpec("audio", "float32", ("batch", "samples")),)
    FakeSession.closed_by_check.clear()
    with pytest.raises(VoxportRuntimeError) as info:
        _fake_open(tmp_path, io, inputs, outputs)
    message = str(info.value)
    assert message.startswith("graph 'vocoder': declared specs do not match the engine built from ")
    for fragment in (
        "engine input 'lengths' is not declared",
        "input 'latent' is float32 in the engine, declared float16",
        "input 'latent' axis 1 is 192 in the engine, declared 80",
        "declared input 'noise' is not an engine input ['latent', 'lengths']",
        "output 'audio' has rank 3 in the engine (float32[?, 1, ?]), declared 2 (float32['batch', 'samples'])",
    ):
        assert fragment in message
    assert FakeSession.closed_by_check == ["vocoder"]  # what the runtime loaded is released


def test_extra_keys_are_checked_before_the_backend_opens_anything(tmp_path: Path) -> None:
    FakeSession.closed_by_check.clear()
    with pytest.raises(VoxportRuntimeError) as info:
        _fake_open(tmp_path, GraphIO((), ()), (), (), knob=1, knbo=2)
    assert str(info.value) == (
        "graph 'vocoder': runtime 'fake' does not understand RuntimeOptions.extra keys ['knbo']; it accepts ['knob']"
    )
    assert FakeSession.closed_by_check == []  # never constructed


# --- registry ------------------------------------------------------------------------------------


def test_available_runtimes_are_canonical_names() -> None:
    assert "onnxruntime" in available_runtimes()
    assert "cpu" not in available_runtimes()  # an alias, not a second runtime


@pytest.mark.parametrize("alias", ["cpu", "CPU", "ort", "onnxruntime", " OnnxRuntime "])
def test_aliases_resolve(alias: str, affine_model: Path) -> None:
    assert isinstance(get_backend(alias), OnnxRuntimeCPUBackend)
    assert get_backend(alias).name == "onnxruntime"
    with open_session(alias, affine_model, INPUTS, OUTPUTS) as sess:
        assert sess.runtime == "onnxruntime"


def test_cpu_still_opens_a_session(affine_model: Path) -> None:
    # "cpu" was the canonical name: users' scripts and stored manifests still say it.
    with open_session("cpu", affine_model, INPUTS, OUTPUTS) as sess:
        np.testing.assert_array_equal(sess.run(_feeds())["m"], _feeds()["n"] + 1)


def test_canonical_runtime_maps_every_alias() -> None:
    assert canonical_runtime("cpu") == canonical_runtime("ORT") == "onnxruntime"
    assert canonical_runtime(" OnnxRuntime ") == "onnxruntime"
    assert canonical_runtime("ov") == canonical_runtime("OpenVINO") == "openvino"
    # No library needed: TensorRT is not installed here, yet its records still need a key.
    assert canonical_runtime("TRT") == canonical_runtime("tensorrt") == "tensorrt"
    assert set(KNOWN_RUNTIMES) == {canonical_runtime(name) for name in KNOWN_RUNTIMES}


def test_canonical_runtime_refuses_an_unknown_name_like_get_backend() -> None:
    with pytest.raises(RuntimeUnavailableError) as info:
        canonical_runtime("coreml")
    with pytest.raises(RuntimeUnavailableError) as via_backend:
        get_backend("coreml")
    assert str(info.value) == str(via_backend.value)
    assert "'coreml'" in str(info.value) and "unknown" in str(info.value)


@pytest.mark.parametrize("alias", ["cpu", "ORT", "onnxruntime"])
def test_variant_for_accepts_aliases(alias: str) -> None:
    assert variant_for(alias, "fp16", {"fp32"}) == "fp16"  # onnxruntime compiles no precision
    assert variant_for(alias, "int8", {"fp32", "int8"}) == "int8"


def test_unknown_runtime() -> None:
    with pytest.raises(RuntimeUnavailableError) as info:
        get_backend("coreml")
    message = str(info.value)
    assert "'coreml'" in message and "unknown" in message
    assert "cpu" in message  # among the known names, aliases included
    assert "Runtimes available on this machine: onnxruntime" in message
    assert "pip install 'voxport[openvino]'" in message or "openvino" in available_runtimes()


@pytest.mark.parametrize("runtime", ["openvino", "tensorrt", "OpenVINO"])
def test_planned_runtimes_give_install_hint(runtime: str, affine_model: Path) -> None:
    if runtime.lower() in available_runtimes():
        pytest.skip(f"{runtime} is installed and has a working backend here")
    with pytest.raises(RuntimeUnavailableError) as info:
        open_session(runtime, affine_model, INPUTS, OUTPUTS)
    err = info.value
    assert err.extra == KNOWN_RUNTIMES[runtime.lower()]
    assert "onnxruntime" in err.available
    assert "onnxruntime" in str(err) and f"pip install 'voxport[{runtime.lower()}]'" in str(err)


def test_registered_but_unavailable_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_backends", dict(registry_module._backends))
    monkeypatch.setattr(registry_module, "_aliases", dict(registry_module._aliases))

    @register_backend
    class FakeBackend(Backend):
        name = "fake"
        aliases = ("fk",)
        extra = "fake"
        module = "voxport_no_such_module"

        def _open(self, *args):  # pragma: no cover - never available
            raise AssertionError

    assert "fake" not in available_runtimes()
    with pytest.raises(RuntimeUnavailableError, match=r"pip install 'voxport\[fake\]'.*onnxruntime"):
        get_backend("FK")
    assert canonical_runtime("FK") == "fake"  # registered, though not installed
    with pytest.raises(ValueError, match="already used"):

        @register_backend
        class Clash(FakeBackend):
            name = "other"
            aliases = ("ort",)


def test_describe() -> None:
    info = get_backend("cpu").describe()
    assert info["name"] == "onnxruntime" and "cpu" in info["aliases"] and info["available"] is True
    assert info["precisions"] == ["fp32", "int8"] and info["devices"] == ["cpu"]
    assert isinstance(info["version"], str)
    json.dumps(info)


def test_import_does_not_load_runtime_libraries() -> None:
    code = (
        "import sys, voxport.runtimes; "
        "bad = [m for m in ('onnxruntime', 'onnx', 'torch', 'openvino', 'tensorrt') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- specs and errors ----------------------------------------------------------------------------


def test_tensor_spec_round_trip() -> None:
    for spec in (*INPUTS, *OUTPUTS, TensorSpec("scalar", "float32", ())):
        data = json.loads(json.dumps(spec.to_dict()))
        assert isinstance(data["shape"], list)
        assert TensorSpec.from_dict(data) == spec
    assert TensorSpec("x", np.float32, [1, "T"]) == TensorSpec("x", "float32", (1, "T"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "dtype": "float32", "shape": ()},
        {"name": "x", "dtype": "floaty", "shape": ()},
        {"name": "x", "dtype": None, "shape": ()},
        {"name": "x", "dtype": "float32", "shape": (-1,)},
        {"name": "x", "dtype": "float32", "shape": (None,)},
        {"name": "x", "dtype": "float32", "shape": (True,)},
        {"name": "x", "dtype": "float32", "shape": ("",)},
    ],
)
def test_tensor_spec_rejects_bad_values(kwargs) -> None:
    with pytest.raises(ValueError):
        TensorSpec(**kwargs)


def test_tensor_spec_from_dict_missing_key() -> None:
    with pytest.raises(ValueError, match="shape"):
        TensorSpec.from_dict({"name": "x", "dtype": "float32"})


def test_errors_pickle() -> None:
    errors = [
        InputMismatchError("enc", "x", "wrong dtype", "float32", "float64"),
        UnsupportedPrecisionError("cpu", "fp16", ["fp32"]),
        RuntimeUnavailableError("openvino", "no backend yet", ["cpu"], "openvino", supported=False),
    ]
    for err in errors:
        clone = pickle.loads(pickle.dumps(err))
        assert type(clone) is type(err) and str(clone) == str(err)
