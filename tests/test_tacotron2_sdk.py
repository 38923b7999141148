"""Tacotron2 in the SDK (voxport.families.tacotron2.loop): the decoder loop's stop rule, state carried between
steps, seeded and replayed draws, streaming that follows the decoder, per-step events, Griffin-Lim.

Runs on fake sessions: numpy stand-ins for the four graphs with the contract's tensor names, so the loop
is tested without torch or an exporter. (`tests/support/tiny_tacotron2.py` bundles are tested further down
when that module exists.)
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from support import fake_tacotron2
from support.fake_tacotron2 import HOP, LAYERS, PRENET, SPEED, Z_CHANNELS, Z_STEPS
from test_tacotron2_frontend import SYMBOL_MAP

from voxport import Voice
from voxport.bundle import contract as c
from voxport.families.tacotron2.loop import CAP, FORCED, GATE, DecoderStepCapWarning
from voxport.families.tacotron2.noise import RandomDecoderNoise, SeededDecoderNoise
from voxport.pipeline.engine import StageEvent, StageTimes
from voxport.pipeline.reach import measure_reach

TEXT = "Turn left here. Then {HH AW1} again, twice!"


def fake_voice(vocoder: str | None = "waveglow", **kw) -> Voice:
    return fake_tacotron2.fake_voice(SYMBOL_MAP, vocoder, **kw)


@pytest.fixture(scope="module")
def voice() -> Voice:
    return fake_voice()


def ids_of(voice: Voice, text: str = "Turn left here.") -> list[int]:
    return next(voice.frontend.text_to_ids(text))[2]


def run(voice: Voice, ids: list[int], seed: int = 0, **kw):
    """The loop as the voice runs a call's first sentence with `seed`."""
    return voice.pipeline.decoder_run(ids, SeededDecoderNoise(seed).next_utterance(), **kw).finish()


# --- the loop --------------------------------------------------------------------------------------------------
def test_the_loop_stops_after_the_first_frame_whose_gate_fires_and_keeps_it(voice):
    ids = ids_of(voice)
    utterance = run(voice, ids)
    # The attention passes the last symbol (position > n - 0.5) at step SPEED * (n - 0.5), rounded up.
    assert utterance.n_frames == math.floor(SPEED * (len(ids) - 0.5)) + 1
    assert utterance.stopped_by == GATE
    gates = 1 / (1 + np.exp(-utterance.gate_logits))
    assert gates[-1] > 0.5 and np.all(gates[:-1] <= 0.5)
    assert voice.synthesize_ids(ids, seed=0).size == utterance.n_frames * HOP
    # The attention's peaks give frames per symbol (timestamps): SPEED each, all frames counted.
    assert utterance.frames.sum() == utterance.n_frames and utterance.frames.shape == (len(ids),)


def test_the_step_cap_stops_with_a_warning_naming_it_and_the_sentence_length():
    capped = fake_voice(max_steps=7, gate=False)
    ids = ids_of(capped)
    with pytest.warns(DecoderStepCapWarning, match=rf"cap of 7 steps.*{len(ids)} symbols"):
        audio = capped.synthesize_ids(ids, seed=1)
    assert audio.size == 7 * HOP


def test_forced_steps_ignore_the_gate_and_do_not_warn(voice):
    ids = ids_of(voice)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        utterance = run(voice, ids, steps=60)
        assert voice.synthesize_ids(ids, seed=0, decoder_steps=60).size == 60 * HOP
    assert utterance.n_frames == 60 and utterance.stopped_by == FORCED
    with pytest.warns(DecoderStepCapWarning):
        capped = fake_voice(max_steps=5, gate=False).pipeline.decoder_run(ids, RandomDecoderNoise(0)).finish()
    assert capped.stopped_by == CAP


def test_state_is_carried_from_each_step_to_the_next_without_copies(voice):
    session = voice.sessions[c.DECODER_STEP]
    session.calls.clear()
    utterance = run(voice, ids_of(voice))
    calls = session.calls
    assert len(calls) == utterance.n_frames
    for name in c.STEP_STATE:
        assert not calls[0][0][name].any()  # every state starts at zeros
    assert not calls[0][0][c.PREVIOUS_FRAME].any()
    for (_, before), (feeds, _) in zip(calls, calls[1:], strict=False):
        for name in c.STEP_STATE:
            assert feeds[name] is before[c.next_state(name)]
        assert feeds[c.PREVIOUS_FRAME] is before[c.FRAME]
        assert feeds[c.MEMORY] is calls[0][0][c.MEMORY]  # the encoder's outputs, fed as they are
    assert np.array_equal(utterance.mel[0].T, np.concatenate([out[c.FRAME] for _, out in calls]))


def test_each_step_gets_its_own_mask_from_the_seed(voice):
    session = voice.sessions[c.DECODER_STEP]
    session.calls.clear()
    utterance = run(voice, ids_of(voice), seed=5)
    masks = utterance.prenet_masks
    assert masks.shape == (utterance.n_frames, LAYERS, PRENET)
    assert np.array_equal(masks, np.concatenate([f[c.PRENET_DROPOUT] for f, _ in session.calls]))
    assert set(np.unique(masks)) == {0.0, 2.0} and 0.35 < (masks > 0).mean() < 0.65
    assert not np.array_equal(masks[0], masks[1])
    assert not np.array_equal(masks, run(voice, ids_of(voice), seed=6).prenet_masks[: len(masks)])


def test_masks_do_not_depend_on_how_much_audio_was_rendered():
    rendered, silent = RandomDecoderNoise(9), RandomDecoderNoise(9)
    rendered.z(0, 500, Z_CHANNELS, Z_STEPS)
    first = [rendered.prenet_mask(k, (LAYERS, PRENET), 0.5) for k in range(20)]
    assert all(np.array_equal(a, silent.prenet_mask(k, (LAYERS, PRENET), 0.5)) for k, a in enumerate(first))
    # A window's z is a slice of the utterance's, however it was drawn.
    assert np.array_equal(silent.z(3, 7, Z_CHANNELS, Z_STEPS), rendered.z(0, 10, Z_CHANNELS, Z_STEPS)[:, 12:28])


def test_replayed_draws_give_the_same_audio(voice):
    ids = ids_of(voice)
    utterance = run(voice, ids, seed=3)
    reference = voice.pipeline.render(utterance)
    replayed = voice.pipeline.decoder_run(ids, utterance.replay(), steps=utterance.n_frames).finish()
    assert np.array_equal(voice.pipeline.render(replayed), reference)
    assert np.array_equal(utterance.z, replayed.z)
    assert utterance.z.shape == (1, Z_CHANNELS, utterance.n_frames * Z_STEPS)
    assert not np.array_equal(voice.pipeline.render(run(voice, ids, seed=4)), reference)
    with pytest.raises(ValueError, match="prenet masks"):  # one step more than was recorded
        voice.pipeline.decoder_run(ids, utterance.replay(), steps=utterance.n_frames + 1).finish()


def test_sigma_scales_z_and_the_denoiser_strength_is_fed(voice):
    ids = ids_of(voice)
    session = voice.sessions[c.VOCODER]
    session.calls.clear()
    voice.synthesize_ids(ids, seed=2, sigma=0.0)
    feeds = session.calls[-1][0]
    assert not feeds[c.Z].any() and feeds[c.DENOISER_STRENGTH].tolist() == [np.float32(0.01)]
    voice.synthesize_ids(ids, seed=2)
    same = run(voice, ids, seed=2)  # at the manifest's sigma, 0.6
    assert np.array_equal(session.calls[-1][0][c.Z], same.z) and same.sigma == pytest.approx(0.6)


def test_flow_knobs_warn_once_and_change_nothing():
    fresh = fake_voice()
    ids = ids_of(fresh)
    with pytest.warns(UserWarning, match="length_scale has no effect on a tacotron2 voice"):
        slow = fresh.synthesize_ids(ids, seed=0, length_scale=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.synthesize_ids(ids, seed=0, length_scale=2.0)
    assert np.array_equal(slow, fresh.synthesize_ids(ids, seed=0))


def test_bad_ids_are_refused(voice):
    with pytest.raises(ValueError, match=r"\[0, 148\)"):
        run(voice, [3, 500])
    assert voice.synthesize("").size == 0


# --- the engine's hook ---------------------------------------------------------------------------------------------
def test_each_step_is_reported_as_a_decoder_step_event(voice):
    events: list[StageEvent] = []
    with voice.engine.watch(events.append), voice.engine.watch(StageTimes()) as times:
        audio = voice.synthesize_ids(ids_of(voice), seed=0)
    stages = [e.stage for e in events]
    n = audio.size // HOP
    assert stages == [c.ENCODER] + [c.DECODER_STEP] * n + [c.POSTNET, c.VOCODER]
    assert all(e.seconds > 0 for e in events) and set(times.totals) == set(stages)
    assert c.PRENET_DROPOUT in events[1].feeds  # what calibration captures


# --- streaming -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first,size", [(1, 1), (2, 5), (8, 512), (10_000, 10_000)])
@pytest.mark.parametrize("vocoder", ["waveglow", "hifigan"])
def test_stream_equals_synthesize(first, size, vocoder):
    streaming = fake_voice(vocoder)
    ref = streaming.synthesize(TEXT, seed=7)
    chunks = list(streaming.stream(TEXT, seed=7, first_chunk_frames=first, chunk_frames=size))
    out = np.concatenate([ch.audio for ch in chunks])
    assert out.shape == ref.shape and float(np.max(np.abs(out - ref))) <= 1e-6
    assert [ch.last_in_sentence for ch in chunks if ch.sentence_index == 0][-1]
    assert sum(ch.last_in_sentence for ch in chunks if ch.sentence_index >= 0) == 2  # two sentences


def test_first_audio_leaves_before_the_loop_finishes(voice):
    reach = voice.reach
    events: list[str] = []
    with voice.engine.watch(lambda e: events.append(e.stage)):
        chunks = voice.stream("Turn left here, and then keep going straight on.", seed=0, first_chunk_frames=4)
        first = next(chunks)
        steps_before_first = events.count(c.DECODER_STEP)
        rest = list(chunks)
    total = events.count(c.DECODER_STEP)
    assert first.audio.size == 4 * HOP
    assert steps_before_first == 4 + reach.decoder + reach.vocoder < total
    assert len(rest) >= 2


def test_reach_is_measured_over_postnet_and_vocoder(voice):
    reach = measure_reach(voice.engine)
    assert reach.decoder == 4  # two convolutions of kernel 5
    assert 1 <= reach.vocoder <= 3  # a 2-hop kernel on the latent, z spread over 9 samples


# --- Griffin-Lim ---------------------------------------------------------------------------------------------
def test_without_a_vocoder_the_mel_is_inverted_by_griffin_lim():
    gl = fake_voice(vocoder=None)
    ids = ids_of(gl)
    audio = gl.synthesize_ids(ids, seed=0)
    utterance = run(gl, ids)
    assert audio.size == utterance.n_frames * HOP and np.abs(audio).max() > 0
    assert np.array_equal(audio, gl.engine.griffin_lim(gl.pipeline.decode(utterance)))
    chunks = list(gl.stream("Turn left here.", seed=0))
    assert len(chunks) == 1 and np.array_equal(chunks[0].audio, audio)  # not local in time: one chunk


# --- tiny bundles built from DLE-named checkpoints (tests/support/tiny_tacotron2.py) ---------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """tiny(vocoder, stop) -> (bundle path, the support module); each bundle built once."""
    pytest.importorskip("torch", reason="building tiny Tacotron2 bundles needs the export extra (torch)")
    module = pytest.importorskip("support.tiny_tacotron2", reason="helper T1's tiny Tacotron2 is not there yet")
    built: dict[tuple[str | None, str], object] = {}

    def get(vocoder: str | None, stop: str = "gate"):
        if (vocoder, stop) not in built:
            folder = tmp_path_factory.mktemp("tacotron2")
            built[vocoder, stop] = module.tiny_tacotron2_bundle(folder, vocoder, stop=stop)
        return built[vocoder, stop], module

    return get


def test_the_committed_bundle_stops_by_its_gate_after_ten_frames(tacotron2_bundle):
    """tests/data/bundles/tacotron2-hifigan: support.tiny_tacotron2's "gate" model (GATE_STEP = 10), no torch."""
    with Voice.load(tacotron2_bundle, threads=1) as loaded:
        utterance = run(loaded, ids_of(loaded), seed=3)
        audio = loaded.synthesize(TEXT, seed=1)
        sentences = list(loaded.iter_sentences(TEXT, seed=1))
        hop = loaded.hop_length
    assert utterance.n_frames == 10 and utterance.stopped_by == GATE
    assert [s.frames.sum() for s in sentences] == [10, 10]
    assert audio.size >= 20 * hop and np.all(np.isfinite(audio)) and np.abs(audio).max() > 0


def test_a_bundle_decodes_as_the_torch_model_with_the_same_masks(tiny):
    import torch

    bundle, module = tiny("hifigan")
    with Voice.load(bundle, threads=1) as loaded:
        ids = ids_of(loaded)
        utterance = run(loaded, ids, seed=3)
        latent = loaded.pipeline.decode(utterance)
    mel, postnet, gates = module.tiny_tacotron2(stop="gate").infer(
        torch.tensor([ids]), torch.from_numpy(utterance.prenet_masks)[:, None])
    assert utterance.n_frames == mel.shape[2] == module.GATE_STEP and utterance.stopped_by == GATE
    np.testing.assert_allclose(utterance.mel, mel.numpy(), atol=1e-4)
    np.testing.assert_allclose(latent, postnet.numpy(), atol=1e-4)
    np.testing.assert_allclose(utterance.gate_logits, gates[0].numpy(), atol=1e-4)


def test_a_waveglow_bundle_vocodes_the_drawn_z_as_the_torch_reference(tiny):
    import torch

    from voxport.export.waveglow import load_waveglow, waveglow_infer

    bundle, _ = tiny("waveglow")
    with Voice.load(bundle, threads=1) as loaded:
        utterance = run(loaded, ids_of(loaded), seed=2)
        latent = loaded.pipeline.decode(utterance)
        audio = loaded.pipeline.vocode(utterance, latent)
        noise = loaded.manifest.vocoder_noise
        assert loaded.synthesize("Turn left here.", seed=2).tolist() == audio.tolist()
    assert utterance.z.shape == (1, noise.z_channels, utterance.n_frames * noise.steps_per_frame)
    reference = waveglow_infer(load_waveglow(bundle.parent / "waveglow.pt"), torch.from_numpy(latent),
                               torch.from_numpy(utterance.z), noise.denoiser_strength)
    assert float(np.max(np.abs(audio - reference[0, 0].numpy()))) <= 1e-3 * max(1.0, float(np.abs(audio).max()))


@pytest.mark.parametrize("vocoder", ["hifigan", "waveglow"])
def test_a_bundle_streams_what_it_synthesizes(tiny, vocoder):
    from voxport.pipeline.reach import measure_bundle_reach

    bundle, module = tiny(vocoder)
    reach = measure_bundle_reach(bundle)  # what bundle_writer records at build time
    assert reach.decoder == 6 and reach.vocoder is not None and reach.vocoder > 0  # postnet: 3 convs of kernel 5
    with Voice.load(bundle, threads=1) as loaded:
        ref = loaded.synthesize(TEXT, seed=5)
        for first, size in ((1, 2), (4, 512)):
            chunks = list(loaded.stream(TEXT, seed=5, first_chunk_frames=first, chunk_frames=size))
            out = np.concatenate([ch.audio for ch in chunks])
            assert out.shape == ref.shape
            assert float(np.max(np.abs(out - ref))) <= 1e-5 * max(1.0, float(np.abs(ref).max()))
        sentences = list(loaded.iter_sentences(TEXT, seed=5))
    assert [s.frames.sum() for s in sentences] == [module.GATE_STEP] * 2  # attention frames per id, summed


def test_a_bundle_at_its_step_cap_warns_and_stops_there(tiny):
    bundle, module = tiny("hifigan", "cap")
    with Voice.load(bundle, threads=1) as loaded, pytest.warns(DecoderStepCapWarning, match=f"{module.MAX_STEPS}"):
        audio = loaded.synthesize("Turn left here.", seed=0)
    assert audio.size == module.MAX_STEPS * loaded.hop_length


def test_a_bundle_without_a_vocoder_speaks_through_griffin_lim(tiny):
    bundle, module = tiny(None)
    with Voice.load(bundle, threads=1) as loaded:
        assert loaded.engine.griffin_lim is not None and loaded.manifest.mel.log_base == pytest.approx(math.e)
        audio = loaded.synthesize("Turn left here.", seed=0)
        chunks = list(loaded.stream("Turn left here.", seed=0))
    assert audio.size == module.GATE_STEP * 256 and np.abs(audio).max() > 0
    assert len(chunks) == 1 and np.array_equal(chunks[0].audio, audio)


def test_profile_reports_per_step_decoder_latency(tacotron2_bundle):
    from voxport.tools.profiling import profile, schema_errors, to_markdown

    report = profile(tacotron2_bundle, texts=["Turn left here. Then right."], runs=1, warmup=0, passes=1, cold=0,
                     threads=[1], baseline=False, isolate=False, progress=False, decoder_steps=12)
    assert schema_errors(report) == []
    [row] = report["configurations"]
    steps = row["decoder_step_ms"]
    assert steps["steps_per_text"] == 24  # two sentences of exactly 12 forced steps
    assert steps["steps_per_audio_s"] == pytest.approx(24 / row["audio_s_per_text"])
    assert 0 < steps["p50"] <= steps["p90"] <= steps["p99"]
    assert row["graph_calls_per_text"][c.DECODER_STEP] == 24 and c.DECODER_STEP in row["stages_ms"]
    markdown = to_markdown(report)
    assert "## Decoder steps" in markdown and "exactly 12 decoder steps" in markdown


def test_ssml_speaks_without_warning_about_the_rate_it_cannot_change():
    fresh = fake_voice()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = fresh.synthesize('<speak>Turn left here.<break time="100ms"/></speak>', text_format="ssml", seed=0)
    assert plain.size == fresh.synthesize("Turn left here.", seed=0).size + 800  # 100 ms at 8 kHz
    with pytest.warns(UserWarning, match="length_scale"):
        fresh.synthesize('<speak><prosody rate="slow">Turn left.</prosody></speak>', text_format="ssml", seed=0)


def test_calibration_refuses_an_autoregressive_bundle_and_info_shows_its_loop(tacotron2_bundle):
    pytest.importorskip("onnx", reason="voxport.calibration needs the calibration extra (onnx)")
    from voxport.calibration import calibrate
    from voxport.cli.info import format_facts, voice_facts

    bundle = tacotron2_bundle
    with pytest.raises(NotImplementedError, match="tacotron2 bundles"):
        calibrate(bundle, "onnxruntime", max_sentences=2, check_wer=False)
    with Voice.load(bundle, threads=1) as loaded:
        text = format_facts(voice_facts(loaded.manifest))
    assert "gate_threshold 0.5" in text and "noise_scale" not in text
