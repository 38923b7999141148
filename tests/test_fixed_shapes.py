"""Fixed-shape execution: padding to buckets and windowing long sequences give the audio of dynamic
shapes, on every runtime installed here; window plans cover every frame once with enough context."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from voxport import Voice
from voxport.runtimes import ShapePlan, available_runtimes
from voxport.windows import plan_windows

TEXTS = ["Hi.", "A somewhat longer sentence, with a comma and several words in it.",
         "Short one. " + "This sentence goes on and on, " * 6 + "until it ends."]
RUNTIMES = [r for r in ("onnxruntime", "openvino") if r in available_runtimes()]


@pytest.fixture(scope="module")
def dynamic_voice(tiny_bundle):
    with Voice.load(tiny_bundle, shapes="dynamic", threads=1) as voice:
        yield voice


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("plan", [ShapePlan(), ShapePlan(phoneme_buckets=(16, 48, 512), frame_buckets=(24, 40))],
                         ids=["default-buckets", "tiny-buckets-windowed"])
def test_padded_and_windowed_stages_equal_dynamic_shapes(tiny_bundle, dynamic_voice, runtime, plan):
    with Voice.load(tiny_bundle, runtime=runtime, shapes=plan, threads=1) as voice:
        assert set(voice.engine.runners) == {"encoder", "duration", "decoder", "vocoder"}
        for i, text in enumerate(TEXTS):
            want = list(dynamic_voice.iter_sentences(text, seed=i))
            got = list(voice.iter_sentences(text, seed=i))
            for a, b in zip(want, got, strict=True):
                np.testing.assert_array_equal(a.frames, b.frames)
                np.testing.assert_allclose(b.audio, a.audio, atol=1e-4)


def test_every_call_runs_at_a_bucket_shape(tiny_bundle):
    plan = ShapePlan(phoneme_buckets=(16, 48, 512), frame_buckets=(24, 40))
    with Voice.load(tiny_bundle, shapes=plan, threads=1) as voice:
        seen: dict[str, set[int]] = {}
        for stage, session in voice.sessions.sessions.items():
            run = session.run

            def spy(feeds, stage=stage, run=run):
                seen.setdefault(stage, set()).update(v.shape[-1] for v in feeds.values() if v.ndim >= 2)
                return run(feeds)

            session.run = spy
        voice.synthesize(TEXTS[2], seed=0)
        list(voice.stream(TEXTS[1], seed=0))
    assert seen["encoder"] <= {16, 48, 512} and seen["duration"] <= {1, 16, 48, 512}
    assert seen["decoder"] <= {1, 24, 40} and seen["vocoder"] <= {1, 24, 40}
    assert 40 in seen["vocoder"]  # the long sentence was windowed at the largest bucket


def test_a_sentence_longer_than_the_largest_phoneme_bucket_is_split_at_word_breaks(tiny_bundle):
    with Voice.load(tiny_bundle, shapes=ShapePlan(phoneme_buckets=(16, 64)), threads=1) as voice:
        pieces = list(voice.iter_sentences(TEXTS[1], seed=1))
    assert len(pieces) > 1 and all(len(p.phoneme_ids) <= 64 for p in pieces)
    assert " ".join(p.text for p in pieces) == TEXTS[1]


def test_ids_longer_than_every_bucket_run_at_their_own_shape_with_a_warning(tiny_bundle, dynamic_voice, caplog):
    ids = next(dynamic_voice.iter_sentences(TEXTS[1])).phoneme_ids
    with Voice.load(tiny_bundle, shapes=ShapePlan(phoneme_buckets=(8,)), threads=1) as voice, \
            caplog.at_level(logging.WARNING):
        np.testing.assert_allclose(voice.synthesize_ids(ids, seed=1), dynamic_voice.synthesize_ids(ids, seed=1),
                                   atol=1e-4)
    assert "exceed the largest phoneme bucket" in caplog.text


def test_runtime_default_is_dynamic_on_onnxruntime_and_fixed_on_openvino(tiny_bundle):
    with Voice.load(tiny_bundle, threads=1) as voice:
        assert voice.engine.runners == {}
    if "openvino" in available_runtimes():
        with Voice.load(tiny_bundle, runtime={"encoder": "onnxruntime", "default": "openvino"}, threads=1) as voice:
            assert set(voice.engine.runners) == {"duration", "decoder", "vocoder"}
            assert set(voice.warm_up_seconds["vocoder"]) == set(ShapePlan().frame_buckets)


@pytest.mark.parametrize("reach,multiple", [(0, 1), (11, 1), (32, 1), (32, 2)])
def test_window_plans_cover_every_frame_once_with_context(reach, multiple):
    buckets = (32, 64, 96, 128, 192, 256, 384)
    for n in range(multiple, 1600, multiple):
        covered = []
        for w in plan_windows(n, buckets, reach, multiple):
            assert w.size in buckets and w.hi - w.lo <= w.size
            assert w.keep_lo - w.lo >= reach or w.lo == 0
            assert w.hi - w.keep_hi >= reach or w.hi == n
            assert w.lo % multiple == 0 and w.hi % multiple == 0
            covered += range(w.keep_lo, w.keep_hi)
        assert covered == list(range(n))


def test_a_bucket_too_small_for_the_reach_is_refused():
    with pytest.raises(ValueError, match="too small for a reach of 32"):
        plan_windows(200, (32, 64), 32)
