"""The model pipeline between phoneme ids and audio, split where streaming needs it.

`prepare` runs everything up to the sampled prior latent (encoder, duration predictor, length
regulation, noise); `render` turns any window of that latent into audio (decoder + vocoder). Whole-
utterance synthesis renders the full window once, streaming renders overlapping windows — both from
the same prepared latent, so they draw the same noise and agree sample for sample.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voxport.griffin_lim import GriffinLim
from voxport.manifest import Manifest
from voxport.regulate import duration_noise, expand_prior, fit_to_multiple, frames_per_phoneme, sample_prior
from voxport.stages import StageSessions


@dataclass
class StageTimer:
    """Wall time per pipeline stage, summed over calls (seconds)."""

    totals: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, seconds: float) -> None:
        self.totals[stage] += seconds


@dataclass(frozen=True)
class Scales:
    length_scale: float
    noise_scale: float
    noise_w: float


@dataclass(frozen=True)
class Prepared:
    """One utterance up to the decoder: its sampled prior latent and how many frames each id got."""

    frames: np.ndarray  # int64 [n_ids]
    prior_latent: np.ndarray  # float32 [1, C, n_frames]
    conditioning: dict[str, np.ndarray]  # speaker embedding for multi-speaker voices, else empty

    @property
    def n_frames(self) -> int:
        return int(self.prior_latent.shape[2])


class Engine:
    """Runs one bundle's graphs. What differs between model families (duration rule, frame multiple,
    vocoder graph or Griffin-Lim on the mel) comes from the manifest, not from the family's name."""

    def __init__(self, manifest: Manifest, sessions: StageSessions) -> None:
        self.manifest = manifest
        self.sessions = sessions
        self.hop_length = manifest.hop_length
        self.frame_multiple = manifest.frame_multiple
        self.n_vocab = manifest.extra.get("model_config", {}).get("n_vocab")
        self.griffin_lim: GriffinLim | None = None
        if "vocoder" not in sessions.sessions:
            if manifest.mel is None:
                raise ValueError("the bundle has no vocoder graph and no `mel` parameters to run Griffin-Lim on")
            self.griffin_lim = GriffinLim(manifest.mel, manifest.sample_rate, manifest.hop_length)
        self.timer: StageTimer | None = None
        # Sees each stage's inputs before it runs (calibration captures real stage inputs this way).
        self.observer: Callable[[str, dict[str, np.ndarray]], None] | None = None

    def _run(self, stage: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.observer is not None:
            wanted = self.sessions.input_names(stage)
            self.observer(stage, {k: v for k, v in feeds.items() if k in wanted})
        start = time.perf_counter()
        out = self.sessions.run(stage, feeds)
        if self.timer is not None:
            self.timer.add(stage, time.perf_counter() - start)
        return out

    def scales(self, length_scale: float | None, noise_scale: float | None, noise_w: float | None) -> Scales:
        d = self.manifest.inference
        ls = d.get("length_scale", 1.0) if length_scale is None else length_scale
        ns = d.get("noise_scale", 0.667) if noise_scale is None else noise_scale
        nw = d.get("noise_w", 0.8) if noise_w is None else noise_w
        if not ls > 0:
            raise ValueError(f"length_scale must be > 0, got {ls}")
        if ns < 0 or nw < 0:
            raise ValueError("noise_scale and noise_w must be >= 0")
        return Scales(float(ls), float(ns), float(nw))

    def speaker_id(self, speaker: int | str | None) -> np.ndarray | None:
        m = self.manifest
        if m.num_speakers <= 1:
            return None
        if speaker is None:
            speaker = 0
        if isinstance(speaker, str):
            if speaker not in m.speaker_id_map:
                raise ValueError(f"unknown speaker {speaker!r}; known: {sorted(m.speaker_id_map)}")
            speaker = m.speaker_id_map[speaker]
        if not 0 <= int(speaker) < m.num_speakers:
            raise ValueError(f"speaker id {speaker} out of range 0..{m.num_speakers - 1}")
        return np.array([int(speaker)], np.int64)

    def prepare(
        self, ids: list[int], scales: Scales, rng: np.random.Generator, sid: np.ndarray | None
    ) -> Prepared:
        if self.n_vocab is not None and (min(ids) < 0 or max(ids) >= self.n_vocab):
            raise ValueError(f"phoneme ids must lie in [0, {self.n_vocab}); got min {min(ids)}, max {max(ids)}")
        feeds: dict[str, np.ndarray] = {
            "phoneme_ids": np.asarray([ids], dtype=np.int64),
            "phoneme_lengths": np.asarray([len(ids)], dtype=np.int64),
        }
        if sid is not None:
            feeds["sid"] = sid
        feeds.update(self._run("encoder", feeds))
        feeds["noise"] = duration_noise(len(ids), scales.noise_w, rng)
        logw = self._run("duration", feeds)["log_durations"]
        start = time.perf_counter()
        frames = self.frames(logw, feeds["phoneme_mask"], scales.length_scale)
        mean, log_std = expand_prior(feeds["prior_mean"], feeds["prior_log_std"], frames)
        latent = sample_prior(mean, log_std, scales.noise_scale, rng)
        if self.timer is not None:
            self.timer.add("length_regulation", time.perf_counter() - start)
        conditioning = {"speaker_embedding": feeds["speaker_embedding"]} if "speaker_embedding" in feeds else {}
        return Prepared(frames, latent, conditioning)

    def frames(self, log_durations: np.ndarray, phoneme_mask: np.ndarray, length_scale: float) -> np.ndarray:
        """Frames per phoneme by the manifest's duration rule, fitted to its frame multiple."""
        rule = self.manifest.durations
        frames = frames_per_phoneme(
            log_durations, phoneme_mask, length_scale, offset=rule.offset, min_frames=rule.min_frames
        )
        return fit_to_multiple(frames, self.frame_multiple)

    def decode(self, prepared: Prepared, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Decoder (flow, reversed) over prior-latent frames [start, stop): latent (or mel) [1, C, n].

        `start` and `stop` must lie on the manifest's frame multiple (the decoder groups frames).
        """
        window = prepared.prior_latent[:, :, start:stop]
        if start % self.frame_multiple or window.shape[2] % self.frame_multiple:
            raise ValueError(f"decoder windows must start and end on multiples of {self.frame_multiple} frames")
        feeds = {"prior_latent": window, "frame_mask": np.ones((1, 1, window.shape[2]), np.float32)}
        return self._run("decoder", {**feeds, **prepared.conditioning})["latent"]

    @property
    def vocoder_is_local(self) -> bool:
        """Whether audio of a frame window depends only on nearby frames (false for Griffin-Lim)."""
        return self.griffin_lim is None

    def vocode(self, prepared: Prepared, latent: np.ndarray) -> np.ndarray:
        """Vocoder graph (or Griffin-Lim) over decoded frames: float32 audio [n * hop_length]."""
        if self.griffin_lim is not None:
            start = time.perf_counter()
            audio = self.griffin_lim(latent)
            if self.timer is not None:
                self.timer.add("vocoder", time.perf_counter() - start)
            return audio
        audio = self._run("vocoder", {"latent": latent, **prepared.conditioning})["audio"].reshape(-1)
        return audio.astype(np.float32, copy=False)

    def render(self, prepared: Prepared) -> np.ndarray:
        """The whole utterance's audio in one decoder and one vocoder call."""
        return self.vocode(prepared, self.decode(prepared))
