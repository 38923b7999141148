"""Small boards: shapes="small" keeps within the shape budget it declares and speaks what dynamic shapes
speak; OpenVINO's compile cache is filled on a first load, used (nothing added) on a second, and a
damaged or unusable cache costs a compilation, never the load."""

from __future__ import annotations

import numpy as np
import pytest

from voxport import Voice
from voxport.pipeline import compile_cache as cc
from voxport.runtimes import ShapePlan, available_runtimes
from voxport.runtimes.shapes import (
    SMALL_FRAME_BUCKETS,
    SMALL_PHONEME_BUCKETS,
    SMALL_PHONEME_STEP,
    SMALL_WINDOW_FACTOR,
    small_plan,
)

TEXTS = ["Hi.", "Short one. " + "This sentence goes on and on, " * 6 + "until it ends."]
RUNTIMES = [r for r in ("onnxruntime", "openvino") if r in available_runtimes()]
needs_openvino = pytest.mark.skipif("openvino" not in available_runtimes(),
                                    reason="the compile cache is OpenVINO's; openvino is not installed")


def test_the_small_plan_keeps_few_buckets_far_apart_and_no_copies():
    plan = small_plan(ShapePlan(), context=32)
    assert plan.phoneme_buckets == (32, 128, 512)  # the largest kept: sentences split where they did
    assert plan.frame_buckets == (128,)  # the smallest holding 4x the context
    assert plan.specialize == ()
    assert plan.shape_count() <= SMALL_PHONEME_BUCKETS + SMALL_FRAME_BUCKETS
    steps = np.diff(np.log(plan.phoneme_buckets)) / np.log(SMALL_PHONEME_STEP)
    assert (steps >= 1 - 1e-9).all()


def test_the_small_plan_falls_back_to_the_largest_frame_bucket_and_refuses_a_bad_context():
    assert small_plan(ShapePlan(frame_buckets=(24, 40)), context=32).frame_buckets == (40,)
    assert small_plan(ShapePlan(phoneme_buckets=(7,)), context=0).phoneme_buckets == (7,)
    with pytest.raises(ValueError, match="context must be None or an int >= 0"):
        small_plan(ShapePlan(), context=-1)
    # A stage that cannot be windowed must fit its calls in one bucket: the largest.
    assert small_plan(ShapePlan(), context=None).frame_buckets == (384,)


@pytest.mark.parametrize("name", ["glowtts-hifigan", "tacotron2-hifigan"])
def test_other_families_get_a_small_plan_from_what_they_declare(committed_bundle, name):
    """No family is named in shared code: "small" pads the stages "fixed" pads (the family's paddable
    stages whose graphs mask padding), on buckets sized by the contexts the family declares."""
    bundle = committed_bundle(name)
    with Voice.load(bundle, shapes="fixed", threads=1) as fixed:
        fixed_stages = set(fixed.engine.runners)
    with Voice.load(bundle, shapes="small", threads=1) as voice:
        runners = voice.engine.runners
        assert set(runners) == fixed_stages
        frame_stages = [s for s in runners if runners[s].axis == "frames"]
        for stage in frame_stages:
            plan = runners[stage].plan
            context = voice.family.pipeline.context(voice.manifest, stage)
            assert plan.specialize == () and len(plan.frame_buckets) == SMALL_FRAME_BUCKETS
            assert plan.frame_buckets[0] >= SMALL_WINDOW_FACTOR * context or plan.frame_buckets[0] == 384
        assert voice.synthesize("A short sentence to speak.", seed=0).size


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_small_voice_stays_within_its_budget_and_speaks_what_dynamic_shapes_speak(tiny_bundle, runtime):
    with Voice.load(tiny_bundle, shapes="dynamic", threads=1) as dynamic, \
            Voice.load(tiny_bundle, runtime=runtime, shapes="small", threads=1) as small:
        runners = small.engine.runners
        assert set(runners) == {"encoder", "duration", "decoder", "vocoder"}
        plan = runners["encoder"].plan
        context = max(small.manifest.streaming.decoder, small.manifest.streaming.vocoder)
        assert plan == small_plan(ShapePlan(), context)
        assert plan.frame_buckets[0] >= SMALL_WINDOW_FACTOR * context
        # Its declared budget: the plan's buckets, plus the stream's first-chunk sizes the family asks for.
        heads = small.family.pipeline.stream_heads(small.manifest)
        for stage, runner in runners.items():
            allowed = set(plan.phoneme_buckets) | set(plan.frame_buckets) | set(heads.get(stage, ()))
            assert set(runner.buckets) <= allowed, stage
            assert set(small.warm_up_seconds[stage]) <= allowed, stage
            # No copy per bucket: each copy holds its weights again.
            assert getattr(runner.session, "_copies", None) is None, stage
        for i, text in enumerate(TEXTS):
            for a, b in zip(dynamic.iter_sentences(text, seed=i), small.iter_sentences(text, seed=i), strict=True):
                np.testing.assert_array_equal(a.frames, b.frames)
                np.testing.assert_allclose(b.audio, a.audio, atol=1e-4)


@needs_openvino
def test_the_small_plan_releases_its_warm_up_buffers_and_speaks_the_same(tiny_bundle, monkeypatch):
    from voxport.runtimes import OpenVINOSession

    texts = ["Released buffers come back.", "Hi."]
    real = OpenVINOSession.release_memory
    monkeypatch.setattr(OpenVINOSession, "release_memory", lambda self: None)
    with Voice.load(tiny_bundle, runtime="openvino", shapes="small", threads=1) as kept:
        before = [kept.synthesize(t, seed=1) for t in texts]
    released: list[str] = []

    def spy(self) -> None:
        released.append(self.name)
        real(self)

    monkeypatch.setattr(OpenVINOSession, "release_memory", spy)
    with Voice.load(tiny_bundle, runtime="openvino", shapes="small", threads=1) as voice:
        assert sorted(released) == sorted(voice.engine.sessions.sessions)  # every graph, once, after warm-up
        # Each call allocates its buffers again: the same audio, sample for sample.
        for text, audio in zip(texts, before, strict=True):
            np.testing.assert_array_equal(voice.synthesize(text, seed=1), audio)
    released.clear()
    with Voice.load(tiny_bundle, runtime="openvino", threads=1):  # the default plan keeps them: speed first
        assert released == []


def test_a_bad_compile_cache_choice_is_one_clear_error(tiny_bundle):
    with pytest.raises(ValueError, match="compile_cache must be True, False or a directory"):
        Voice.load(tiny_bundle, compile_cache=3)


def test_the_environment_turns_the_cache_off_or_moves_it(monkeypatch, tmp_path):
    monkeypatch.setenv(cc.ENV, "off")
    assert cc.compile_cache_root() is None
    assert cc.compile_cache_root(tmp_path) == tmp_path  # an explicit directory wins
    monkeypatch.setenv(cc.ENV, str(tmp_path / "x"))
    assert cc.compile_cache_root() == tmp_path / "x"
    monkeypatch.setenv(cc.ENV, "1")
    monkeypatch.setenv("VOXPORT_CACHE_DIR", str(tmp_path / "home"))
    assert cc.compile_cache_root() == tmp_path / "home" / "compiled"
    assert cc.compile_cache_root(False) is None


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def _openvino_sessions(voice):
    return [s for s in voice.sessions.sessions.values() if s.runtime == "openvino"]


@needs_openvino
def test_a_second_load_compiles_nothing(tiny_bundle, tmp_path):
    with Voice.load(tiny_bundle, runtime="openvino", threads=1, compile_cache=tmp_path) as first:
        audio = first.synthesize(TEXTS[0], seed=0)
        assert not any(s.loaded_from_cache for s in _openvino_sessions(first))
    written = _files(tmp_path)
    assert written, "the first load wrote no compiled graph"
    # One directory per bundle, then per runtime, device and version.
    where = {p.relative_to(tmp_path).parts[:2] for p in written}
    assert len(where) == 1
    key, runtime_dir = where.pop()
    assert key.startswith("tiny-") and runtime_dir.startswith("openvino-")
    with Voice.load(tiny_bundle, runtime="openvino", threads=1, compile_cache=tmp_path) as second:
        assert all(s.loaded_from_cache for s in _openvino_sessions(second))
        np.testing.assert_allclose(second.synthesize(TEXTS[0], seed=0), audio, atol=1e-5)
    assert _files(tmp_path) == written


@needs_openvino
def test_the_cache_can_be_turned_off(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv(cc.ENV, str(tmp_path / "env"))
    with Voice.load(tiny_bundle, runtime="openvino", threads=1, compile_cache=False) as voice:
        assert all(s.options.cache_dir is None for s in _openvino_sessions(voice))
    monkeypatch.setenv(cc.ENV, "0")
    with Voice.load(tiny_bundle, runtime="openvino", threads=1) as voice:
        assert all(s.options.cache_dir is None for s in _openvino_sessions(voice))
    assert not (tmp_path / "env").exists()


@needs_openvino
def test_a_damaged_cache_entry_is_recompiled_not_fatal(tiny_bundle, tmp_path):
    with Voice.load(tiny_bundle, runtime="openvino", threads=1, compile_cache=tmp_path) as first:
        audio = first.synthesize(TEXTS[0], seed=0)
    blobs = _files(tmp_path)
    for i, blob in enumerate(blobs):
        blob.chmod(0o644)  # OpenVINO writes its blobs read-only
        # Truncated, garbage and empty: what a full disk, a bad copy or a killed writer leave.
        blob.write_bytes([blob.read_bytes()[:100], b"\xff" * 1000, b""][i % 3])
    with Voice.load(tiny_bundle, runtime="openvino", threads=1, compile_cache=tmp_path) as second:
        assert not any(s.loaded_from_cache for s in _openvino_sessions(second))
        np.testing.assert_allclose(second.synthesize(TEXTS[0], seed=0), audio, atol=1e-5)


@needs_openvino
def test_a_cache_directory_that_cannot_be_made_warns_and_loads(tiny_bundle, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.warns(RuntimeWarning, match="cannot use the compile cache"), \
            Voice.load(tiny_bundle, runtime="openvino", threads=1, compile_cache=blocker) as voice:
        assert voice.synthesize(TEXTS[0], seed=0).size


@needs_openvino
def test_a_compilation_that_fails_with_the_cache_is_retried_without_it(tiny_bundle, tmp_path, monkeypatch):
    from voxport.runtimes import openvino_backend

    real = openvino_backend.shared_core()
    refused = []

    class CacheHostileCore:
        """The real Core, except that any compilation with CACHE_DIR fails (as an unreadable cache may)."""

        def compile_model(self, model, device, config):
            if "CACHE_DIR" in config:
                refused.append(config["CACHE_DIR"])
                raise RuntimeError("cannot read the cache")
            return real.compile_model(model, device, config)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(openvino_backend, "shared_core", CacheHostileCore)
    with pytest.warns(RuntimeWarning, match="compiling without it"), \
            Voice.load(tiny_bundle, runtime="openvino", threads=1, compile_cache=tmp_path) as voice:
        assert voice.synthesize(TEXTS[0], seed=0).size
    assert refused  # the first try did use the cache


def test_profile_gives_a_row_per_thread_count_comma_separated_or_repeated(tiny_bundle, tmp_path):
    import json

    from voxport.cli.main import main
    from voxport.tools.profiling.report import to_markdown

    out = tmp_path / "threads.json"
    code = main(["profile", "--bundle", str(tiny_bundle), "--threads", "1,2", "--threads", "4", "--in-process",
                 "--runs", "1", "--warmup", "0", "--passes", "1", "--cold", "0", "--no-baseline", "--quiet",
                 "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    rows = {r["threads"]: r for r in report["configurations"]}
    assert sorted(rows) == [1, 2, 4]
    assert all(r["status"] == "ok" and r["name"].endswith(f"/t{n}") for n, r in rows.items())
    markdown = to_markdown(report)
    assert all(f"/t{n}" in markdown for n in (1, 2, 4))


def test_profile_refuses_a_thread_count_below_one_in_one_line(tiny_bundle, capsys):
    from voxport.cli.main import main

    assert main(["profile", "--bundle", str(tiny_bundle), "--threads", "2", "--threads", "0", "--in-process"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["voxport profile: thread counts must be >= 1, got '2,0'"]
    assert main(["profile", "--bundle", str(tiny_bundle), "--threads", "two", "--in-process"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["voxport profile: thread counts must be >= 1, got 'two'"]
