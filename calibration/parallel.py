"""The calibration plan of the parallel families (VITS/Piper, GlowTTS): encoder, duration predictor,
flow decoder and vocoder, the prior's noise drawn by the SDK and replayed for the gate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxport.bundle import contract as c
from voxport.calibration.plan import CalibrationPlan, Reference, Rendered
from voxport.families.parallel import ParallelPipeline
from voxport.pipeline.engine import Engine
from voxport.pipeline.noise import RandomNoise, RecordedNoise
from voxport.pipeline.sessions import StageSessions
from voxport.voice import Voice

# onnxruntime's calibrators hold every intermediate tensor of every sample in memory: 32 vocoder crops
# are ~3 GB; the whole corpus (500+ crops) was killed for memory on a 24 GB machine.
MAX_SAMPLES = {c.ENCODER: 128, c.DURATION: 128, c.DECODER: 32, c.VOCODER: 32}
# Convolutions kept in float, from measurement on the default voice (gate MCD, 5 held-out sentences):
# - decoder: the couplings' pre/post 1x1 convs produce the shift subtracted from the latent, so their
#   error lands in the output unattenuated (all int8 2.0 dB; these kept 1.5 dB, 1.3 dB with percentile).
# - vocoder: the waveform-facing edges and upsampling convs were the most sensitive layers one by one
#   (24-26 dB SNR alone vs 27-40 dB for resblock convs); keeping them: 3.3 dB -> 2.5 dB.
# On OpenVINO the upsampling convs ("/ups.", polyphase there) stay float too: alone they cost the most
# MCD of any layer (0.36-0.44 dB each) for 12 % of the vocoder's multiply-adds.
KEEP_FLOAT = {c.DECODER: ("/pre/", "/post/"), c.VOCODER: ("conv_pre", "/ups.", "conv_post")}
# The frame-level stages and the input whose last axis is the frame axis (cut into crops).
FRAME_INPUTS = {c.DECODER: c.PRIOR_LATENT, c.VOCODER: c.LATENT}


def shifted_eps(eps: np.ndarray, frames: np.ndarray, new_frames: np.ndarray, key: Sequence[int]) -> np.ndarray:
    """The prior eps [1, C, sum(new_frames)] for `new_frames` per phoneme, made from `eps` (drawn for
    `frames`) phoneme by phoneme: each keeps its first min(old, new) columns; the columns a phoneme
    gains are fresh N(0, 1) draws from a generator seeded by (*key, phoneme).

    Why not simply draw again from the reference's seed: eps fills [1, C, n] channel by channel, so a
    different n shifts every channel's draws against the frames, and the whole utterance would get
    other noise. The DTW-MCD would then measure two samples of the voice's own randomness (noise_scale
    is large) instead of the candidate's error. Kept per phoneme, an unmoved phoneme's latent is the
    reference's exactly, and reusing a subset of i.i.d. columns is still a draw from the same prior.
    Seeding the gained columns per phoneme keeps them reproducible and independent of other phonemes'
    moves (one generator in phoneme order would change a later phoneme's draws when an earlier moves).
    """
    frames, new_frames = np.asarray(frames, np.int64), np.asarray(new_frames, np.int64)
    starts = np.concatenate(([0], np.cumsum(frames)[:-1]))
    channels = eps.shape[:2]
    pieces = []
    for phoneme, (start, old, new) in enumerate(zip(starts, frames, new_frames, strict=True)):
        pieces.append(eps[:, :, start : start + min(old, new)])
        if new > old:
            rng = np.random.default_rng([*key, phoneme])
            pieces.append(rng.standard_normal((*channels, new - old), dtype=np.float32))
    shifted = np.concatenate(pieces, axis=2)
    # An utterance of zero frames still gets one (expand_prior's rule), with the reference's first draw.
    return shifted if shifted.shape[2] else eps[:, :, :1]


class ParallelReplay:
    """References seeded per held-out line (seed + index), so a sentence's reference does not depend on
    which sentences precede it (a shorter held-out set judges the same audio)."""

    limits: dict[str, float] = {}  # no measures of its own: MCD, durations and WER judge it

    def __init__(self, voice: Voice, seed: int, allow_shift: bool) -> None:
        self.voice, self.seed, self.allow_shift = voice, seed, allow_shift
        self.scales, self.sid = voice.engine.scales(), voice.engine.speaker_id(None)

    def reference(self, index: int, text: str, ids: list[int]) -> Reference:
        pipeline = self.voice.pipeline
        prepared = pipeline.prepare(ids, self.scales, RandomNoise(np.random.default_rng(self.seed + index)), self.sid)
        return Reference(text, ids, prepared.frames, pipeline.render(prepared), (index, prepared))

    def render(self, sessions: StageSessions, references: Sequence[Reference], own: bool) -> Rendered:
        """The own-duration audio is rendered only when it is judged (`own`) and differs (some duration
        moved): otherwise it is the forced audio."""
        pipeline = ParallelPipeline(Engine(self.voice.manifest, sessions))
        out = Rendered()
        for ref in references:
            index, reference = ref.state
            prepared = pipeline.prepare(ref.ids, self.scales, reference.replay(), self.sid, frames=ref.frames)
            predicted, mine = prepared.predicted_frames, None
            if own and np.any(predicted != ref.frames):
                eps = shifted_eps(reference.eps, ref.frames, predicted, (self.seed, index))
                noise = RecordedNoise(reference.duration_noise, eps)
                mine = pipeline.render(pipeline.prepare(ref.ids, self.scales, noise, self.sid, frames=predicted))
            out.add(pipeline.render(prepared), ref.frames, predicted, mine)
        return out


def _run(voice: Voice, ids: list[int], rng: np.random.Generator) -> np.ndarray:
    pipeline, engine = voice.pipeline, voice.engine
    return pipeline.render(pipeline.prepare(ids, engine.scales(), RandomNoise(rng), engine.speaker_id(None)))


def _check(voice: Voice) -> None:
    if voice.manifest.num_speakers > 1:
        # Ranges captured and a gate run on one speaker would say nothing about the others.
        raise NotImplementedError("calibration of multi-speaker voices is not supported yet")
    if c.VOCODER not in voice.bundle.stages:
        raise NotImplementedError("this bundle vocodes with Griffin-Lim (no vocoder graph); only graphs are quantized "
                                  "and gated, so calibrate a bundle built with a vocoder")


PLAN = CalibrationPlan(stages=c.STAGES, frame_inputs=FRAME_INPUTS, keep_float=KEEP_FLOAT, max_samples=MAX_SAMPLES,
                       run=_run, replay=ParallelReplay, check=_check)
