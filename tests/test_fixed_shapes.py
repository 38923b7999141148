"""Fixed-shape execution: padding to buckets and windowing long sequences give the audio of dynamic
shapes, on every runtime installed here; window plans cover every frame once with enough context."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from voxport import Voice
from voxport.pipeline.windows import (
    CALL_COST_FRAMES,
    DEFAULT_FIRST_CHUNK_FRAMES,
    cheapest_windows,
    plan_windows,
    stream_head_frames,
)
from voxport.runtimes import ShapePlan, available_runtimes

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
        reach = voice.manifest.streaming
        head_decoder, head_vocoder = stream_head_frames(DEFAULT_FIRST_CHUNK_FRAMES, reach.decoder, reach.vocoder)
    assert seen["encoder"] <= {16, 48, 512} and seen["duration"] <= {1, 16, 48, 512}
    # The stream's first chunk runs at its own prepared sizes (those that fit under the largest bucket).
    heads = {n for n in (head_decoder, head_vocoder) if n <= 40}
    assert seen["decoder"] <= {1, 24, 40} | heads and seen["vocoder"] <= {1, 24, 40} | heads
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
            head = stream_head_frames(DEFAULT_FIRST_CHUNK_FRAMES, voice.manifest.streaming.decoder,
                                      voice.manifest.streaming.vocoder)[1]
            assert set(voice.warm_up_seconds["vocoder"]) == set(ShapePlan().frame_buckets) | {head}


@pytest.mark.parametrize("planner", [plan_windows, cheapest_windows])
@pytest.mark.parametrize("reach,multiple", [(0, 1), (11, 1), (32, 1), (32, 2)])
def test_window_plans_cover_every_frame_once_with_context(reach, multiple, planner):
    buckets = (32, 64, 96, 128, 192, 256, 384)
    for n in range(multiple, 1600, multiple):
        covered = []
        for w in planner(n, buckets, reach, multiple):
            assert w.size in buckets and w.hi - w.lo <= w.size
            assert w.keep_lo - w.lo >= reach or w.lo == 0
            assert w.hi - w.keep_hi >= reach or w.hi == n
            assert w.lo % multiple == 0 and w.hi % multiple == 0
            covered += range(w.keep_lo, w.keep_hi)
        assert covered == list(range(n))


def test_the_cheapest_plan_never_computes_more_frames_and_windows_when_padding_costs_more():
    buckets = (32, 48, 64, 96, 128, 192, 256, 384)
    for n in range(1, 1600):
        cost = [sum(w.size + CALL_COST_FRAMES for w in planner(n, buckets, 11)) for planner in
                (plan_windows, cheapest_windows)]
        assert cost[1] <= cost[0]
    # 300 frames: one call padded to 384, or 256 + 96 with the reach of 11 frames as context.
    assert [w.size for w in cheapest_windows(300, buckets, 11)] == [256, 96]
    assert [w.size for w in cheapest_windows(300, buckets, 32)] == [384]  # a wide reach: padding is cheaper
    assert [w.size for w in cheapest_windows(40, buckets, 11)] == [48]


def test_a_bucket_too_small_for_the_reach_is_refused():
    with pytest.raises(ValueError, match="too small for a reach of 32"):
        plan_windows(200, (32, 64), 32)


def test_a_streams_first_chunk_runs_unpadded_at_its_own_prepared_sizes(tiny_bundle, dynamic_voice):
    with Voice.load(tiny_bundle, shapes="fixed", threads=1) as voice:
        reach = voice.manifest.streaming
        head_decoder, head_vocoder = stream_head_frames(DEFAULT_FIRST_CHUNK_FRAMES, reach.decoder, reach.vocoder,
                                                        voice.manifest.frame_multiple)
        assert head_decoder in voice.warm_up_seconds["decoder"]
        assert head_vocoder in voice.warm_up_seconds["vocoder"]
        calls: list[tuple[str, int]] = []
        for stage in ("decoder", "vocoder"):
            run = voice.sessions[stage].run

            def spy(feeds, stage=stage, run=run):
                calls.append((stage, feeds["frame_mask"].shape[-1], int(feeds["frame_mask"].sum())))
                return run(feeds)

            voice.sessions[stage].run = spy
        text = TEXTS[1]  # long enough that the first chunk is not the whole sentence
        chunks = [chunk.audio for chunk in voice.stream(text, seed=3)]
    # The first decoder and vocoder calls are the head, at their exact size, with no masked frame.
    assert calls[0] == ("decoder", head_decoder, head_decoder)
    assert calls[1] == ("vocoder", head_vocoder, head_vocoder)
    want = np.concatenate([chunk.audio for chunk in dynamic_voice.stream(text, seed=3)])
    np.testing.assert_allclose(np.concatenate(chunks), want, atol=1e-4)


def test_warm_up_tells_the_session_its_buckets_before_running_them(tiny_bundle):
    from voxport.pipeline.shaped import ShapedRunner

    with Voice.load(tiny_bundle, shapes="dynamic", threads=1) as voice:
        session, told = voice.sessions["vocoder"], []
        session.prepare_buckets = lambda axis, sizes, specialize: told.append((axis, list(sizes), specialize))
        plan = ShapePlan(frame_buckets=(24, 40), specialize=("vocoder",))
        runner = ShapedRunner("vocoder", session, plan, hop_length=voice.hop_length, frame_multiple=1,
                              context=voice.manifest.streaming.vocoder, exact=(19,))
        spent = runner.warm_up()
    # The vocoder asks for a compiled copy per bucket (ShapePlan.specialize), where a runtime can make one.
    assert told == [("frames", [19, 24, 40], True)] and list(spent) == [19, 24, 40]


def test_without_a_recorded_reach_a_sequence_that_fits_a_bucket_is_never_split(tiny_bundle):
    from voxport.pipeline.shaped import ShapedRunner

    with Voice.load(tiny_bundle, shapes="fixed", threads=1) as voice:
        session, sizes = voice.sessions["vocoder"], []
        run = session.run
        session.run = lambda feeds: sizes.append(feeds["latent"].shape[-1]) or run(feeds)
        plan = ShapePlan(frame_buckets=(32, 48, 64, 96, 128, 192, 256, 384))
        latent = np.zeros((1, session.inputs[0].shape[1], 300), np.float32)
        feeds = {"latent": latent, "frame_mask": np.ones((1, 1, 300), np.float32)}
        reach = voice.manifest.streaming
        windowed = [w.size for w in cheapest_windows(300, plan.frame_buckets, reach.vocoder)]
        assert len(windowed) == 2  # with its reach, 300 frames cost less as two windows than padded to 384
        for given, calls in ((None, [384]), (reach.vocoder, windowed)):
            sizes.clear()
            ShapedRunner("vocoder", session, plan, hop_length=voice.hop_length, frame_multiple=1,
                         context=given).run(feeds)
            assert sizes == calls
