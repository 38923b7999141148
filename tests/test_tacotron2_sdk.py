"""Tacotron2 in the SDK (voxport.autoregressive): the decoder loop's stop rule, state carried between
steps, seeded and replayed draws, streaming that follows the decoder, per-step events, Griffin-Lim.

Runs on fake sessions: numpy stand-ins for the four graphs with the contract's tensor names, so the loop
is tested without torch or an exporter. (`tests/support/tiny_tacotron2.py` bundles are tested further down
when that module exists.)
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_tacotron2_frontend import SYMBOL_MAP

from voxport import Voice
from voxport import contract as c
from voxport.autoregressive import CAP, FORCED, GATE, DecoderStepCapWarning
from voxport.autoregressive_params import DecoderLoop, VocoderNoise
from voxport.engine import StageEvent, StageTimes
from voxport.manifest import GraphEntry, GraphVariant, Manifest
from voxport.mel_params import MelParams
from voxport.noise import RandomDecoderNoise, SeededDecoderNoise
from voxport.receptive_field import measure_reach
from voxport.runtimes.base import GraphIO, GraphTensor, RuntimeOptions, Session
from voxport.stages import StageSessions

N_MEL, LAYERS, PRENET, RNN, CHANNELS, ATTENTION = 8, 2, 16, 12, 10, 6
HOP, Z_CHANNELS, Z_STEPS = 16, 4, 4
SPEED = 3  # steps per symbol: the fake attention moves one symbol every SPEED steps
TEXT = "Turn left here. Then {HH AW1} again, twice!"


class FakeSession(Session):
    """A graph computed by a numpy function; remembers what it was fed and gave."""

    runtime = "fake"

    def __init__(self, name: str, specs: tuple, fn) -> None:
        self.fn, self.calls = fn, []
        super().__init__(Path("fake.onnx"), specs[0], specs[1], "fp32", RuntimeOptions(), name)

    def _load(self) -> None:
        pass

    def _graph_io(self) -> GraphIO:
        return GraphIO(*(tuple(GraphTensor(t.name, t.dtype, None) for t in specs)
                         for specs in (self.inputs, self.outputs)))

    def _run(self, feeds):
        out = self.fn(**feeds)
        self.calls.append((feeds, out))
        return out


def _conv(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'Same' convolution along the last axis with zero padding, per row."""
    pad = len(kernel) // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)])
    return sum(kernel[i] * padded[..., i : i + x.shape[-1]] for i in range(len(kernel))).astype(np.float32)


class FakeTacotron2:
    """Stand-ins with Tacotron2's shape of computation: a prenet with the given dropout, a state that
    must be carried (a step counter in attention_cell drives the attention), a gate that fires when
    the attention passes the last symbol, a 2-layer conv postnet (reach 4) and a local vocoder."""

    def __init__(self, gate: bool = True) -> None:
        rng = np.random.default_rng(0)
        w = lambda *shape: (rng.standard_normal(shape) / math.sqrt(shape[0])).astype(np.float32)  # noqa: E731
        self.emb, self.wp = w(148, CHANNELS), w(CHANNELS, ATTENTION)
        self.p1, self.p2 = w(N_MEL, PRENET), w(PRENET, PRENET)
        self.a1, self.a2, self.a3, self.q = w(PRENET, RNN), w(CHANNELS, RNN), w(RNN, RNN), w(RNN, ATTENTION)
        self.d1, self.d2, self.d3, self.f = w(RNN, RNN), w(CHANNELS, RNN), w(RNN, RNN), w(RNN, N_MEL)
        self.gate = gate

    def encoder(self, phoneme_ids, phoneme_lengths):
        memory = np.tanh(self.emb[phoneme_ids])
        return {c.MEMORY: memory, c.PROCESSED_MEMORY: (memory @ self.wp).astype(np.float32)}

    def step(self, previous_frame, prenet_dropout, attention_hidden, attention_cell, decoder_hidden, decoder_cell,
             attention_weights, attention_weights_cum, attention_context, memory, processed_memory, memory_mask):
        x = np.maximum(previous_frame @ self.p1, 0) * prenet_dropout[:, 0]
        x = np.maximum(x @ self.p2, 0) * prenet_dropout[:, 1]
        counter = attention_cell[:, :1] + 1
        hidden = np.tanh(x @ self.a1 + attention_context @ self.a2 + attention_hidden @ self.a3)
        n = memory.shape[1]
        position = counter[0, 0] / SPEED
        energies = -((np.arange(n) - position) ** 2) + 0.1 * (processed_memory[0] @ (hidden @ self.q)[0])
        energies = energies + (1 - memory_mask[0]) * -1e4
        weights = np.exp(energies - energies.max())
        weights = (weights / weights.sum())[None].astype(np.float32)
        context = (weights @ memory[0]).astype(np.float32)
        dec = np.tanh(hidden @ self.d1 + context @ self.d2 + decoder_hidden @ self.d3)
        gate = 4.0 * (position - (n - 0.5)) if self.gate else -4.0
        f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
        return {c.FRAME: f32(dec @ self.f), c.GATE_LOGIT: f32([[gate]]),
                "attention_hidden_next": f32(hidden), "decoder_hidden_next": f32(dec),
                "attention_cell_next": f32(np.concatenate([counter, np.tanh(hidden[:, 1:])], axis=1)),
                "decoder_cell_next": f32(decoder_cell + dec), "attention_weights_next": weights,
                "attention_weights_cum_next": f32(attention_weights_cum + weights), "attention_context_next": context}

    @staticmethod
    def postnet(mel):
        inner = np.tanh(_conv(mel, np.array([0.1, -0.2, 0.5, 0.3, 0.1], np.float32)))
        return {c.LATENT: mel + _conv(inner, np.array([0.2, 0.1, -0.4, 0.1, 0.3], np.float32))}

    @staticmethod
    def waveglow(latent, z, denoiser_strength):
        up = _conv(np.repeat(latent.mean(axis=1), HOP, axis=-1), np.linspace(-1, 1, 2 * HOP + 1, dtype=np.float32))
        noise = _conv(np.repeat(z.sum(axis=1), HOP // Z_STEPS, axis=-1), np.ones(9, np.float32) / 9)
        return {c.AUDIO: (np.tanh(0.2 * up + noise) * (1 - denoiser_strength[0]))[:, None].astype(np.float32)}

    @staticmethod
    def hifigan(latent):
        up = _conv(np.repeat(latent.mean(axis=1), HOP, axis=-1), np.linspace(1, -1, HOP + 1, dtype=np.float32))
        return {c.AUDIO: np.tanh(0.3 * up)[:, None].astype(np.float32)}


def fake_voice(vocoder: str | None = "waveglow", *, max_steps: int = 400, gate: bool = True) -> Voice:
    model = FakeTacotron2(gate)
    specs = {
        c.ENCODER: (c.tacotron2_encoder_tensors(CHANNELS, ATTENTION), model.encoder),
        c.DECODER_STEP: (c.decoder_step_tensors(N_MEL, LAYERS, PRENET, RNN, RNN, CHANNELS, ATTENTION), model.step),
        c.POSTNET: (c.postnet_tensors(N_MEL), model.postnet),
    }
    if vocoder == "waveglow":
        specs[c.VOCODER] = (c.waveglow_tensors(N_MEL, Z_CHANNELS), model.waveglow)
    elif vocoder == "hifigan":
        specs[c.VOCODER] = (c.vocoder_tensors(N_MEL), model.hifigan)
    variant = {"fp32": GraphVariant("fake.onnx", "0" * 64, 1)}
    manifest = Manifest(
        family="tacotron2", name="fake", sample_rate=8000, hop_length=HOP, n_vocab=148, phoneme_id_map=SYMBOL_MAP,
        phonemizer={"type": "tacotron2_text", "cleaners": "english_cleaners"},
        graphs={stage: GraphEntry(*io, variant) for stage, (io, _) in specs.items()},
        decoder_loop=DecoderLoop(gate_threshold=0.5, max_steps=max_steps, prenet_dropout=0.5),
        vocoder_noise=VocoderNoise(sigma=0.6, z_channels=Z_CHANNELS, steps_per_frame=Z_STEPS, denoiser_strength=0.01)
        if vocoder == "waveglow" else None,
        mel=MelParams(n_fft=64, win_length=64, n_mels=N_MEL, log_base=math.e, spec_gain=1.0, griffin_lim_iters=4),
    )
    sessions = StageSessions({stage: FakeSession(stage, io, fn) for stage, (io, fn) in specs.items()})
    return Voice(SimpleNamespace(manifest=manifest), sessions)


@pytest.fixture(scope="module")
def voice() -> Voice:
    return fake_voice()


def ids_of(voice: Voice, text: str = "Turn left here.") -> list[int]:
    return next(voice.frontend.text_to_ids(text))[2]


def run(voice: Voice, ids: list[int], seed: int = 0, **kw):
    """The loop as the voice runs a call's first sentence with `seed`."""
    return voice.engine.decoder_run(ids, SeededDecoderNoise(seed).next_utterance(), **kw).finish()


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
        capped = fake_voice(max_steps=5, gate=False).engine.decoder_run(ids, RandomDecoderNoise(0)).finish()
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
    reference = voice.engine.render(utterance)
    replayed = voice.engine.decoder_run(ids, utterance.replay(), steps=utterance.n_frames).finish()
    assert np.array_equal(voice.engine.render(replayed), reference)
    assert np.array_equal(utterance.z, replayed.z)
    assert utterance.z.shape == (1, Z_CHANNELS, utterance.n_frames * Z_STEPS)
    assert not np.array_equal(voice.engine.render(run(voice, ids, seed=4)), reference)
    with pytest.raises(ValueError, match="prenet masks"):  # one step more than was recorded
        voice.engine.decoder_run(ids, utterance.replay(), steps=utterance.n_frames + 1).finish()


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
    assert np.array_equal(audio, gl.engine.griffin_lim(gl.engine.decode(utterance)))
    chunks = list(gl.stream("Turn left here.", seed=0))
    assert len(chunks) == 1 and np.array_equal(chunks[0].audio, audio)  # not local in time: one chunk
