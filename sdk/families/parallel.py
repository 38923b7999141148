"""The parallel pipeline strategy (VITS, GlowTTS): encoder -> duration predictor -> length regulation and
prior noise (numpy) -> decoder -> vocoder, every frame of the sentence decoded at once.

`prepare` runs everything up to the sampled prior latent; `render` turns any window of that latent into
audio (decoder + vocoder). Whole-utterance synthesis renders the full window once, streaming renders
overlapping windows (voxport.pipeline.streaming), both from the same prepared latent, so they draw the
same noise and agree sample for sample. Calibration replays a reference's noise and frame counts
(`Prepared.replay`, `prepare(frames=...)`) on other precisions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from voxport.bundle import contract as c
from voxport.bundle.manifest import Manifest, Reach
from voxport.families.base import Pipeline
from voxport.pipeline.engine import LENGTH_REGULATION
from voxport.pipeline.noise import Noise, RandomNoise, RecordedNoise
from voxport.pipeline.reach import measure_frames_reached
from voxport.pipeline.regulate import expand_prior, fit_to_multiple, frames_per_phoneme, shift_prior
from voxport.pipeline.streaming import stream_windows
from voxport.pipeline.windows import DEFAULT_FIRST_CHUNK_FRAMES, stream_head_frames
from voxport.synthesis import Scales, SynthesisConfig

__all__ = ["PARALLEL_CONTRACTS", "ParallelPipeline", "Prepared"]

PARALLEL_CONTRACTS = c.CONTRACTS


@dataclass(frozen=True)
class Prepared:
    """One utterance up to the decoder: its sampled prior latent, its frames and the draws behind them."""

    frames: np.ndarray  # int64 [n_ids], what the latent was expanded with
    predicted_frames: np.ndarray  # int64 [n_ids], what the duration predictor said (differs if frames were given)
    prior_latent: np.ndarray  # float32 [1, C, n_frames]
    conditioning: dict[str, np.ndarray]  # speaker embedding for multi-speaker voices, else empty
    duration_noise: np.ndarray
    eps: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.prior_latent.shape[2])

    def replay(self) -> RecordedNoise:
        """This utterance's draws, to run it again elsewhere (another precision) with the same noise."""
        return RecordedNoise(self.duration_noise, self.eps)


class ParallelPipeline(Pipeline):
    """Duration-predicted families: every stage runs once per sentence (decoder and vocoder per window)."""

    # Both render and stream run the decoder and vocoder on the one prepared latent (windows with their
    # measured margins), and the frames are the duration predictor's.
    whole_is_stream = True

    def draws(self, config: SynthesisConfig) -> RandomNoise:
        return RandomNoise(np.random.default_rng(config.seed))

    def utterance(self, ids: list[int], config: SynthesisConfig, draws: Noise) -> Prepared:
        e = self.engine
        return self.prepare(ids, e.scales(config), draws, e.speaker_id(config.speaker))

    def prepare(self, ids: list[int], scales: Scales, noise: Noise | np.random.Generator,
                sid: np.ndarray | None = None, frames: np.ndarray | None = None) -> Prepared:
        """Encoder, duration predictor, length regulation and prior noise for one utterance.

        `noise` draws the duration noise and the prior's eps (a Generator is wrapped in RandomNoise);
        `frames` replaces the predicted frame counts (comparing precisions at one length).
        """
        e, m = self.engine, self.engine.manifest
        if min(ids) < 0 or max(ids) >= m.n_vocab:
            raise ValueError(f"phoneme ids must lie in [0, {m.n_vocab}); got min {min(ids)}, max {max(ids)}")
        draws = RandomNoise(noise) if isinstance(noise, np.random.Generator) else noise
        feeds: dict[str, np.ndarray] = {
            c.PHONEME_IDS: np.asarray([ids], dtype=np.int64),
            c.PHONEME_LENGTHS: np.asarray([len(ids)], dtype=np.int64),
        }
        if sid is not None:
            feeds[c.SID] = sid
        feeds.update(e.run(c.ENCODER, feeds))
        # Drawn even for predictors without a noise input, so a seed gives one stream on every family.
        feeds[c.NOISE] = duration_noise = draws.duration(len(ids), scales.noise_w)
        logw = e.run(c.DURATION, feeds)[c.LOG_DURATIONS]
        start = time.perf_counter()
        predicted = self.durations(logw, feeds[c.PHONEME_MASK], scales.length_scale)
        used = predicted if frames is None else np.asarray(frames, np.int64)
        mean, log_std = expand_prior(feeds[c.PRIOR_MEAN], feeds[c.PRIOR_LOG_STD], used)
        eps = draws.prior(mean.shape)
        latent = shift_prior(mean, log_std, eps, scales.noise_scale)
        e.report(LENGTH_REGULATION, time.perf_counter() - start)
        conditioning = {c.SPEAKER_EMBEDDING: feeds[c.SPEAKER_EMBEDDING]} if c.SPEAKER_EMBEDDING in feeds else {}
        return Prepared(used, predicted, latent, conditioning, duration_noise, eps)

    def durations(self, log_durations: np.ndarray, phoneme_mask: np.ndarray, length_scale: float) -> np.ndarray:
        """Frames per phoneme by the manifest's duration rule, fitted to its frame multiple."""
        m = self.engine.manifest
        frames = frames_per_phoneme(log_durations, phoneme_mask, length_scale, offset=m.durations.offset,
                                    min_frames=m.durations.min_frames)
        return fit_to_multiple(frames, m.frame_multiple)

    def decode(self, prepared: Prepared, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Decoder (flow, reversed) over prior-latent frames [start, stop): latent (or mel) [1, C, n].
        `start` and `stop` must lie on the manifest's frame multiple (the decoder groups frames)."""
        multiple = self.engine.manifest.frame_multiple
        window = prepared.prior_latent[:, :, start:stop]
        if start % multiple or window.shape[2] % multiple:
            raise ValueError(f"decoder windows must start and end on multiples of {multiple} frames")
        feeds = {c.PRIOR_LATENT: window, c.FRAME_MASK: np.ones((1, 1, window.shape[2]), np.float32)}
        return self.engine.run(c.DECODER, {**feeds, **prepared.conditioning})[c.LATENT]

    def vocode(self, prepared: Prepared, latent: np.ndarray, start: int = 0) -> np.ndarray:
        """Vocoder (or Griffin-Lim) over decoded frames: float32 audio [n * hop_length]."""
        return self.engine.vocode(latent, prepared.conditioning)

    def render(self, prepared: Prepared) -> np.ndarray:
        """The whole utterance's audio in one decoder and one vocoder call."""
        return self.vocode(prepared, self.decode(prepared))

    def stream(self, prepared: Prepared, reach: Reach, first: int, size: int) -> Iterator[tuple[np.ndarray, bool]]:
        if reach.vocoder is None or not self.engine.vocoder_is_local:
            yield self.render(prepared), True  # Griffin-Lim is not local in time: one chunk per sentence
            return
        yield from stream_windows(lambda lo, hi: self.decode(prepared, lo, hi),
                                  lambda latent: self.vocode(prepared, latent), prepared.n_frames, reach,
                                  hop=self.engine.hop_length, multiple=self.engine.manifest.frame_multiple,
                                  first=first, size=size)

    def frames(self, prepared: Prepared) -> np.ndarray:
        return prepared.frames

    # --- receptive fields and shaped execution ------------------------------------------------------
    def measure_reach(self, n_frames: int = 256) -> Reach:
        """Decoder and vocoder reach on the graphs as loaded (any runtime, any precision)."""
        e = self.engine
        multiple = e.manifest.frame_multiple
        n_frames = -(-n_frames // multiple) * multiple
        # The latent is what the encoder's prior describes; its speaker embedding conditions what follows.
        encoded = {t.name: t for t in e.sessions[c.ENCODER].outputs}
        channels = int(encoded[c.PRIOR_MEAN].shape[1])
        cond = {}
        if c.SPEAKER_EMBEDDING in encoded:  # any fixed speaker shows the same temporal reach
            width = int(encoded[c.SPEAKER_EMBEDDING].shape[1])
            cond[c.SPEAKER_EMBEDDING] = np.zeros((1, width, 1), np.float32)

        def probe(latent: np.ndarray) -> Prepared:
            none = np.zeros(0, np.int64)
            return Prepared(none, none, latent, cond, np.zeros(0, np.float32), np.zeros(0, np.float32))

        return Reach(
            decoder=measure_frames_reached(lambda z: self.decode(probe(z))[0].T, channels, 1, n_frames),
            vocoder=(measure_frames_reached(lambda z: self.vocode(probe(z), z), channels, e.hop_length, n_frames)
                     if e.vocoder_is_local else None),
        )

    @classmethod
    def stream_heads(cls, manifest: Manifest) -> dict[str, tuple[int, ...]]:
        """A bucket of their own for the first chunk's calls keeps time to first audio from paying for
        padding: 19 frames run at the 32-frame bucket cost ~1.8x as much on OpenVINO (2-core AMD EPYC)."""
        reach = manifest.streaming
        if reach is None or reach.vocoder is None:
            return {}
        decoder, vocoder = stream_head_frames(DEFAULT_FIRST_CHUNK_FRAMES, reach.decoder, reach.vocoder,
                                              manifest.frame_multiple)
        return {c.DECODER: (decoder,), c.VOCODER: (vocoder,)}

    @classmethod
    def context(cls, manifest: Manifest, stage: str) -> int | None:
        reach = manifest.streaming
        if reach is None:
            return None
        return {c.DECODER: reach.decoder, c.VOCODER: reach.vocoder}.get(stage)

    @classmethod
    def frame_multiple(cls, manifest: Manifest, stage: str) -> int:
        return manifest.frame_multiple if stage == c.DECODER else 1
