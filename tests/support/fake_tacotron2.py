"""Numpy stand-ins for a Tacotron2 bundle's four graphs, with the contract's tensor names: the decoder
loop, streaming and the reach measurement are tested on them without torch or an exporter."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from voxport import Voice
from voxport.bundle import contract as c
from voxport.bundle.manifest import GraphEntry, GraphVariant, Manifest
from voxport.bundle.mel_params import MelParams
from voxport.families.tacotron2.params import DecoderLoop, VocoderNoise
from voxport.pipeline.sessions import StageSessions
from voxport.runtimes.base import GraphIO, GraphTensor, RuntimeOptions, Session

N_MEL, LAYERS, PRENET, RNN, CHANNELS, ATTENTION = 8, 2, 16, 12, 10, 6
HOP, Z_CHANNELS, Z_STEPS = 16, 4, 4
SPEED = 3  # steps per symbol: the fake attention moves one symbol every SPEED steps


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


def fake_voice(symbol_map: dict[str, list[int]], vocoder: str | None = "waveglow", *, max_steps: int = 400,
               gate: bool = True) -> Voice:
    """A Voice on fake sessions: vocoder "waveglow" (takes z), "hifigan" or None (Griffin-Lim)."""
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
        family="tacotron2", name="fake", sample_rate=8000, hop_length=HOP, n_vocab=148, phoneme_id_map=symbol_map,
        phonemizer={"type": "tacotron2_text", "cleaners": "english_cleaners"},
        graphs={stage: GraphEntry(*io, variant) for stage, (io, _) in specs.items()},
        decoder_loop=DecoderLoop(gate_threshold=0.5, max_steps=max_steps, prenet_dropout=0.5),
        vocoder_noise=VocoderNoise(sigma=0.6, z_channels=Z_CHANNELS, steps_per_frame=Z_STEPS, denoiser_strength=0.01)
        if vocoder == "waveglow" else None,
        mel=MelParams(n_fft=64, win_length=64, n_mels=N_MEL, log_base=math.e, spec_gain=1.0, griffin_lim_iters=4),
    )
    sessions = StageSessions({stage: FakeSession(stage, io, fn) for stage, (io, fn) in specs.items()})
    return Voice(SimpleNamespace(manifest=manifest), sessions)
