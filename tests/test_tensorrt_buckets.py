"""TensorRT with one optimization profile per bucket, tested against fakes of TensorRT and CUDA.

No GPU and no tensorrt package here: the fakes below record what the backend asks of TensorRT (which
profiles an engine is built with, which context each call runs on) and check shapes against the
profiles as TensorRT would.  They say nothing about TensorRT's own behaviour (kernel choice, memory,
speed); none of this has been run on a GPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from voxport.runtimes import InputMismatchError, RuntimeOptions, TensorSpec, VoxportRuntimeError
from voxport.runtimes import tensorrt_backend as backend_module
from voxport.runtimes.base import GraphIO, GraphTensor, Session
from voxport.runtimes.tensorrt_backend import TensorRTSession
from voxport.runtimes.tensorrt_build import build_serialized_engine, derive_profile, engine_cache_key
from voxport.runtimes.tensorrt_profiles import bucket_profiles, bucket_sizes, call_size

DECODER_INPUTS = (
    TensorSpec("prior_latent", "float32", ("batch", 4, "frames")),
    TensorSpec("frame_mask", "float32", ("batch", 1, "frames")),
)
DECODER_OUTPUTS = (TensorSpec("latent", "float32", ("batch", 4, "frames")),)
ENCODER_INPUTS = (
    TensorSpec("phoneme_ids", "int64", ("batch", "phonemes")),
    TensorSpec("phoneme_lengths", "int64", ("batch",)),
)
# WaveGlow's vocoder: two time axes of its own (frames, z_steps) besides batch.
WAVEGLOW_INPUTS = (
    TensorSpec("latent", "float32", ("batch", 80, "frames")),
    TensorSpec("z", "float32", ("batch", 8, "z_steps")),
)
SHA = "ab" * 32


# --- the profiles ------------------------------------------------------------------------------------


def test_one_profile_per_bucket_fixes_the_axis_and_keeps_batch_dynamic():
    profiles = bucket_profiles(DECODER_INPUTS, "frames", [64, 32, 128])
    assert len(profiles) == 3
    for profile, size in zip(profiles, (32, 64, 128), strict=True):  # ascending: index i = i-th bucket
        assert profile["prior_latent"] == ((1, 4, size), (1, 4, size), (4, 4, size))
        assert profile["frame_mask"] == ((1, 1, size), (1, 1, size), (4, 1, size))


def test_other_dynamic_axes_keep_their_ranges():
    profiles = bucket_profiles(WAVEGLOW_INPUTS, "frames", [32, 48], {"z_steps": (8, 256, 2048), "batch": (1, 1, 1)})
    assert [p["latent"] for p in profiles] == [((1, 80, 32),) * 3, ((1, 80, 48),) * 3]
    assert all(p["z"] == ((1, 8, 8), (1, 8, 256), (1, 8, 2048)) for p in profiles)
    encoder = bucket_profiles(ENCODER_INPUTS, "phonemes", [16])[0]
    assert encoder == {"phoneme_ids": ((1, 16), (1, 16), (4, 16)), "phoneme_lengths": ((1,), (1,), (4,))}


def test_a_bucket_replaces_a_range_override_of_its_own_axis():
    (profile,) = bucket_profiles(DECODER_INPUTS, "frames", [40], {"frames": (1, 256, 4096)})
    assert profile["frame_mask"] == ((1, 1, 40), (1, 1, 40), (4, 1, 40))


def test_bad_buckets_and_axes_are_refused():
    assert bucket_sizes([48, 32, 48]) == (32, 48)
    assert bucket_sizes(np.array([8, 4])) == (4, 8)
    for bad in ([], [0, 4], [4.0], [True], 7):
        with pytest.raises(ValueError, match="ints >= 1"):
            bucket_sizes(bad)
    with pytest.raises(ValueError, match=r"no input has the axis 'phonemes'.*\['batch', 'frames'\]"):
        bucket_profiles(DECODER_INPUTS, "phonemes", [32])
    with pytest.raises(ValueError, match=r"unknown axes \['frame'\]"):
        bucket_profiles(DECODER_INPUTS, "frames", [32], {"frame": (1, 2, 3)})


def test_call_size_reads_the_axis_wherever_it_is():
    feeds = {"phoneme_ids": np.zeros((1, 48), np.int64), "phoneme_lengths": np.array([40])}
    assert call_size(ENCODER_INPUTS, feeds, "phonemes") == 48
    assert call_size(ENCODER_INPUTS, feeds, "frames") is None


# --- cache keys ----------------------------------------------------------------------------------------


def _key(profiles):
    return engine_cache_key(SHA, "fp32", "10.3.0", "NVIDIA H200", profiles)


def test_the_cache_key_changes_with_the_bucket_list():
    keys = {_key(bucket_profiles(DECODER_INPUTS, "frames", sizes)) for sizes in ([32], [32, 64], [32, 48], [64])}
    keys.add(_key(derive_profile(DECODER_INPUTS)))
    assert len(keys) == 5
    unordered, ordered = (bucket_profiles(DECODER_INPUTS, "frames", sizes) for sizes in ([64, 32], [32, 64]))
    assert _key(unordered) == _key(ordered)


def test_a_single_profile_keeps_the_key_engines_were_cached_under():
    profile = derive_profile(DECODER_INPUTS)
    legacy = json.dumps({"profile": {k: [list(s) for s in v] for k, v in sorted(profile.items())}, "fp32_ops": []},
                        sort_keys=True)
    assert _key(profile).endswith("-" + hashlib.sha256(legacy.encode()).hexdigest()[:12])


# --- building: every profile reaches the builder, in order ---------------------------------------------


def _fake_builder_trt(added: list) -> ModuleType:
    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, low, opt, high):
            self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

    class Config:
        def set_memory_pool_limit(self, *_):
            pass

        def add_optimization_profile(self, profile):
            added.append(profile.shapes)

        def clear_flag(self, _):
            pass

    network = SimpleNamespace(num_inputs=2, get_input=lambda i: SimpleNamespace(name=DECODER_INPUTS[i].name))
    builder = SimpleNamespace(create_network=lambda flags: network, create_builder_config=Config,
                              create_optimization_profile=Profile, build_serialized_network=lambda n, c: b"plan")
    trt = ModuleType("tensorrt")
    trt.Logger = SimpleNamespace(WARNING=2)
    trt.Builder = lambda logger: builder
    trt.OnnxParser = lambda net, logger: SimpleNamespace(parse_from_file=lambda path: True)
    trt.BuilderFlag = SimpleNamespace(TF32="tf32")
    return trt


def test_the_builder_gets_one_optimization_profile_per_bucket_in_order(monkeypatch, tmp_path):
    added: list = []
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_builder_trt(added))
    profiles = bucket_profiles(DECODER_INPUTS, "frames", [32, 64, 96])
    assert build_serialized_engine(tmp_path / "g.onnx", profiles, "fp32", "decoder", logger=object()) == b"plan"
    assert added == profiles
    added.clear()
    build_serialized_engine(tmp_path / "g.onnx", derive_profile(DECODER_INPUTS), "fp32", "decoder", logger=object())
    assert added == [derive_profile(DECODER_INPUTS)]  # one profile, as before


# --- the session, on fake TensorRT and CUDA ------------------------------------------------------------


class FakeContext:
    def __init__(self, engine, strategy):
        self.engine, self.strategy, self.profile, self.shapes = engine, strategy, 0, {}

    def set_optimization_profile_async(self, index, stream):
        self.profile = index
        return 0 <= index < len(self.engine.profiles)

    def set_input_shape(self, name, shape):
        low, _, high = self.engine.profiles[self.profile][name]
        self.shapes[name] = tuple(shape)
        return all(lo <= s <= hi for lo, s, hi in zip(low, shape, high, strict=True))

    def get_tensor_shape(self, name):
        sizes = {d: s for spec in self.engine.inputs for d, s in zip(spec.shape, self.shapes[spec.name], strict=True)}
        return tuple(sizes.get(d, 1) if isinstance(d, str) else d for d in self.engine.outputs[name].shape)

    def set_tensor_address(self, name, pointer):
        return True

    def execute_async_v3(self, stream):
        self.engine.runs.append((self.engine.kind, self.profile, self.shapes["prior_latent"][-1]))
        return True


class FakeEngine:
    def __init__(self, profiles, runs):
        self.profiles, self.runs, self.contexts = profiles, runs, []
        self.kind = "single" if len(profiles) == 1 and profiles[0]["frame_mask"][0][-1] == 1 else "buckets"
        self.inputs, self.outputs = DECODER_INPUTS, {spec.name: spec for spec in DECODER_OUTPUTS}
        self.names = [spec.name for spec in (*DECODER_INPUTS, *DECODER_OUTPUTS)]
        self.num_io_tensors, self.num_optimization_profiles = len(self.names), len(profiles)

    def get_tensor_name(self, i):
        return self.names[i]

    def get_tensor_mode(self, name):
        return "OUTPUT" if name in self.outputs else "INPUT"

    def get_tensor_shape(self, name):
        spec = self.outputs.get(name) or next(s for s in self.inputs if s.name == name)
        return tuple(-1 if isinstance(d, str) else d for d in spec.shape)

    def get_tensor_dtype(self, name):
        return np.float32

    def create_execution_context(self, strategy=None):
        self.contexts.append(FakeContext(self, strategy))
        return self.contexts[-1]


class FakeCudart:
    cudaMemcpyKind = SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)

    def __init__(self):
        self.pointer = 1 << 20

    def cudaGetDeviceCount(self):
        return 0, 1

    def cudaGetDeviceProperties(self, index):
        return 0, SimpleNamespace(name=b"Fake GPU\x00")

    def cudaMalloc(self, size):
        self.pointer += size
        return 0, self.pointer

    def cudaStreamCreate(self):
        return 0, 7

    def __getattr__(self, name):  # cudaSetDevice, cudaMemcpyAsync, cudaStreamSynchronize, cudaFree, ...
        return lambda *args: (0,)


@pytest.fixture
def fake_trt(monkeypatch):
    """Fake tensorrt + cuda-python; ``builds`` lists the profiles of every engine built, ``engines``
    every engine deserialized, ``runs`` (engine kind, profile, frames) per executed call."""
    state = SimpleNamespace(builds=[], engines=[], runs=[])

    def build(onnx_path, profiles, precision, graph, fp32_ops, workspace, logger):
        profiles = [profiles] if isinstance(profiles, dict) else list(profiles)
        state.builds.append(profiles)
        return json.dumps(profiles).encode()

    def deserialize(data):
        profiles = [{k: tuple(tuple(s) for s in v) for k, v in p.items()} for p in json.loads(data)]
        state.engines.append(FakeEngine(profiles, state.runs))
        return state.engines[-1]

    trt = ModuleType("tensorrt")
    trt.__version__ = "10.3.0"
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.Runtime = lambda logger: SimpleNamespace(deserialize_cuda_engine=deserialize)
    trt.nptype = lambda dtype: dtype
    trt.TensorIOMode = SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.ExecutionContextAllocationStrategy = SimpleNamespace(STATIC=0, ON_PROFILE_CHANGE=1, USER_MANAGED=2)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    cudart = FakeCudart()
    monkeypatch.setattr(backend_module, "_cudart", lambda: cudart)
    monkeypatch.setattr(backend_module, "build_serialized_engine", build)
    return state


def _session(tmp_path, **extra) -> TensorRTSession:
    model = tmp_path / "decoder.onnx"
    model.write_bytes(b"not really onnx")
    options = RuntimeOptions(cache_dir=str(tmp_path / "engines"), extra=extra)
    return TensorRTSession(model, DECODER_INPUTS, DECODER_OUTPUTS, "fp32", options, "decoder")


def _feeds(frames: int, batch: int = 1) -> dict[str, np.ndarray]:
    return {"prior_latent": np.zeros((batch, 4, frames), np.float32),
            "frame_mask": np.ones((batch, 1, frames), np.float32)}


def test_a_session_never_given_buckets_runs_as_before(fake_trt, tmp_path):
    with _session(tmp_path) as session:
        for frames in (7, 300, 32):
            assert session.run(_feeds(frames))["latent"].shape == (1, 4, frames)
        assert session.buckets is None and session.bucket_profiles == [] and session.bucket_engine_path is None
    assert fake_trt.builds == [[derive_profile(DECODER_INPUTS)]]
    assert fake_trt.runs == [("single", 0, 7), ("single", 0, 300), ("single", 0, 32)]


def test_each_bucket_runs_on_its_own_profile_and_context(fake_trt, tmp_path):
    with _session(tmp_path) as session:
        session.prepare_buckets("frames", [64, 32, 128])
        assert session.buckets == ("frames", (32, 64, 128))
        assert fake_trt.builds[1] == bucket_profiles(DECODER_INPUTS, "frames", [32, 64, 128])
        bucket_engine = fake_trt.engines[1]
        on_profile_change = 1
        assert [(c.profile, c.strategy) for c in bucket_engine.contexts] == [(i, on_profile_change) for i in range(3)]
        for frames in (128, 32, 64, 32):
            assert session.run(_feeds(frames))["latent"].shape == (1, 4, frames)
        assert fake_trt.runs == [("buckets", 2, 128), ("buckets", 0, 32), ("buckets", 1, 64), ("buckets", 0, 32)]
        # every call ran on a context that only ever saw its own bucket's shape
        assert all(c.shapes["prior_latent"][-1] == (32, 64, 128)[c.profile] for c in bucket_engine.contexts)


def test_a_size_off_the_buckets_falls_back_to_the_single_profile_engine(fake_trt, tmp_path, caplog):
    with _session(tmp_path) as session:
        session.prepare_buckets("frames", [32, 64])
        single = fake_trt.engines[0]
        assert session._context is None  # released: its memory is sized for the profile's largest shapes
        with caplog.at_level(logging.WARNING, logger=backend_module.__name__):
            session.run(_feeds(50))
            session.run(_feeds(500))
        assert fake_trt.runs == [("single", 0, 50), ("single", 0, 500)]
        assert len(single.contexts) == 2  # one at open, one created again for the first call off the buckets
        assert [r.message for r in caplog.records].count(
            "graph 'decoder': a call with frames=50, not a prepared bucket [32, 64], runs on the single-profile "
            "engine") == 1  # warned once


def test_a_bucket_call_outside_its_other_axes_is_refused_with_the_bucket_range(fake_trt, tmp_path):
    with _session(tmp_path) as session:
        session.prepare_buckets("frames", [32])
        with pytest.raises(InputMismatchError, match=r"outside the TensorRT optimization profile.*\(1, 4, 32\) and "
                                                     r"\(4, 4, 32\)"):
            session.run(_feeds(32, batch=5))


def test_buckets_are_built_once_per_list_and_then_read_from_the_cache(fake_trt, tmp_path):
    with _session(tmp_path) as session:
        session.prepare_buckets("frames", [32, 64])
        session.prepare_buckets("frames", (64, 32, 32))  # the same buckets: nothing to do
        session.prepare_buckets("phonemes", [16, 32])  # no decoder input has phonemes: nothing to do
        assert len(fake_trt.builds) == 2 and not session.buckets_loaded_from_cache
        first_path = session.bucket_engine_path
        session.prepare_buckets("frames", [32, 48])  # another list: another engine
        assert len(fake_trt.builds) == 3 and session.bucket_engine_path != first_path
        assert len(fake_trt.engines[1].contexts) == 2 and session.buckets == ("frames", (32, 48))
    with _session(tmp_path) as again:  # a new process: both engines come from disk
        again.prepare_buckets("frames", [32, 64])
        assert again.loaded_from_cache and again.buckets_loaded_from_cache
        assert again.bucket_engine_path == first_path
    assert len(fake_trt.builds) == 3
    with _session(tmp_path, rebuild=True) as rebuilt:
        rebuilt.prepare_buckets("frames", [32, 64])
        assert rebuilt.buckets_loaded_from_cache is False and len(fake_trt.builds) == 5


def test_bad_buckets_and_closed_sessions_are_refused(fake_trt, tmp_path):
    session = _session(tmp_path)
    with pytest.raises(VoxportRuntimeError, match=r"graph 'decoder': bucket sizes must be .* got \[0\]"):
        session.prepare_buckets("frames", [0])
    session.close()
    assert session.buckets is None
    with pytest.raises(VoxportRuntimeError, match="session is closed"):
        session.prepare_buckets("frames", [32])


def test_close_releases_the_bucket_engine(fake_trt, tmp_path):
    session = _session(tmp_path)
    session.prepare_buckets("frames", [32])
    session.close()
    assert session._bucket_contexts == [] and session._bucket_engine is None and session._engine is None


def test_the_base_hook_prepares_nothing_and_changes_no_call(tmp_path):
    """A runtime that does not override prepare_buckets: the hook runs nothing, loads nothing, keeps no
    state, and calls at the announced sizes (and others) reach the runtime and come back as before."""
    class Plain(Session):
        runtime = "plain"

        def _load(self):
            self.loads = getattr(self, "loads", 0) + 1
            self.calls: list[dict[str, tuple[int, ...]]] = []

        def _graph_io(self):
            return GraphIO(tuple(GraphTensor(s.name, s.dtype, s.shape) for s in DECODER_INPUTS),
                           tuple(GraphTensor(s.name, s.dtype, s.shape) for s in DECODER_OUTPUTS))

        def _run(self, feeds):
            self.calls.append({name: value.shape for name, value in feeds.items()})
            return {"latent": feeds["prior_latent"] + feeds["frame_mask"]}

    session = Plain(tmp_path / "decoder.onnx", DECODER_INPUTS, DECODER_OUTPUTS, "fp32", RuntimeOptions(), "decoder")
    sizes = (32, 64, 40)  # the two announced sizes and one that is not
    before = [session.run(_feeds(frames))["latent"] for frames in sizes]
    state = dict(vars(session))
    runtime_calls = list(session.calls)

    assert session.prepare_buckets("frames", [32, 64], specialize=True) is None
    assert vars(session) == state and all(vars(session)[k] is v for k, v in state.items())  # nothing recorded
    assert session.calls == runtime_calls and session.stats.count == len(sizes) and session.loads == 1

    after = [session.run(_feeds(frames))["latent"] for frames in sizes]
    assert session.calls == runtime_calls * 2  # the same calls, at the same shapes, reach the runtime
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(new, old)
