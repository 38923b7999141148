"""Tests for voxport.runtimes: the spec check every backend shares (on a fake runtime), the registry of
backends and runtime names, tensor specs and the errors. The onnxruntime backend itself: test_runtimes.py."""

from __future__ import annotations

import json
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
    register_backend,
)
from voxport.runtimes import registry as registry_module

pytest.importorskip("onnx", reason="building the test graph needs the export extra (onnx)")

from support.affine_graph import INPUTS, OUTPUTS  # noqa: E402
from support.affine_graph import affine_model as make_affine_model  # noqa: E402
from support.affine_graph import feeds as _feeds  # noqa: E402


@pytest.fixture
def affine_model(tmp_path: Path) -> Path:
    return make_affine_model(tmp_path / "affine.onnx")


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
