"""Kokoro's pipeline strategy: style (voice pack row) -> encoder -> length regulation (host) -> prosody ->
harmonic source (host, seeded) -> decoder, whole or window by window.

Streaming inside a sentence is approximate, and off by default: every AdaIN in the decoder normalises over
the window it is given, so a window (even widened by context frames on both sides) is not the whole
sentence. Measured with Kokoro-82M's real weights on 12 Japanese sentences (docs/families/kokoro.md), the
joined stream's MCD against the whole sentence is 10.7 dB with no context, 5.1 dB with 24 frames and 3.9 dB
with 32: far from inaudible. So the default context is 0, meaning "the whole sentence" (one exact chunk per
sentence); the `stream_context` option (frames) asks for approximate windows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from voxport.bundle.manifest import Reach
from voxport.families.base import Pipeline
from voxport.families.kokoro import contract as k
from voxport.families.kokoro.regulate import expand, frames_of
from voxport.families.kokoro.source import SourceDraws, harmonics
from voxport.families.kokoro.voices import style_row, voice_weights
from voxport.pipeline.engine import LENGTH_REGULATION
from voxport.pipeline.streaming import GROWTH
from voxport.synthesis import SynthesisConfig

__all__ = ["DEFAULT_CONTEXT_FRAMES", "KokoroPipeline", "KokoroUtterance"]

# Frames of context on each side of a streamed decoder window (25 ms each at 24 kHz / hop 600); 0: none, the
# sentence is decoded whole (the join measurement in docs/families/kokoro.md found no inaudible context).
DEFAULT_CONTEXT_FRAMES = 0


def _context(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"stream_context must be a whole number of frames >= 0, got {value!r}")
    return value


class KokoroDraws:
    """One synthesis call's source of draws: each utterance takes its initial phases and noise in turn."""

    def __init__(self, seed: int | np.random.Generator | None, noise_scale: float) -> None:
        self.rng = np.random.default_rng(seed)  # a Generator is used as it is (calibration's capture shares one)
        self.noise_scale = noise_scale

    def next(self, samples: int) -> SourceDraws:
        return SourceDraws.draw(self.rng, samples, self.noise_scale)


@dataclass(frozen=True)
class KokoroUtterance:
    """One sentence up to the decoder: everything the decoder reads, frame-aligned."""

    frames: np.ndarray  # int64 [n_ids]
    durations: np.ndarray  # float32 [n_ids]: the encoder's, before speed and rounding
    style: np.ndarray  # [1, 256]
    aligned_text: np.ndarray  # [1, C, F]
    f0: np.ndarray  # [1, 2F]
    energy: np.ndarray  # [1, 2F]
    harmonics: np.ndarray  # [1, 9, F * hop]
    stream_context: int | None = None  # the `stream_context` option: frames of context per window

    @property
    def n_frames(self) -> int:
        return int(self.aligned_text.shape[2])


class KokoroPipeline(Pipeline):
    def _params(self) -> dict:
        return self.engine.manifest.params

    def draws(self, config: SynthesisConfig) -> KokoroDraws:
        return KokoroDraws(config.seed, self.engine.scales(config).noise_scale)

    def check(self, config: SynthesisConfig) -> None:
        self.engine.scales(config)
        self.weights(config)
        if config.options.get("stream_context") is not None:
            _context(config.options["stream_context"])

    def weights(self, config: SynthesisConfig) -> np.ndarray:
        p = self._params()
        blend = config.options.get("voice", config.speaker)
        return voice_weights(blend, p["voices"], p["default_voice"])

    def style(self, n_ids: int, weights: np.ndarray) -> np.ndarray:
        row = style_row(n_ids, int(self._params()["pack_rows"]))
        return self.engine.run(k.STYLE_STAGE, {k.VOICE_WEIGHTS: weights, k.STYLE_ROW: row})[k.STYLE]

    def utterance(self, ids: list[int], config: SynthesisConfig, draws: KokoroDraws) -> KokoroUtterance:
        u = self.prepare(ids, self.weights(config), 1.0 / self.engine.scales(config).length_scale, draws)
        context = config.options.get("stream_context")
        return u if context is None else replace(u, stream_context=_context(context))

    def prepare(self, ids: list[int], weights: np.ndarray, speed: float, draws: KokoroDraws,
                frames: np.ndarray | None = None) -> KokoroUtterance:
        """Style, encoder, regulation, prosody and source for one utterance; `frames` replaces the predicted
        frame counts (comparing against another implementation at the same length)."""
        limit = int(self._params()["context_length"])
        if len(ids) > limit:
            raise ValueError(f"{len(ids)} phoneme ids exceed Kokoro's context of {limit}: the front-end splits "
                             "longer sentences; pass ids of at most that many")
        e = self.engine
        style = self.style(len(ids), weights)
        enc = e.run(k.ENCODER, {k.PHONEME_IDS: np.asarray([ids], np.int64), k.STYLE: style})
        start = time.perf_counter()
        frames = frames_of(enc[k.DURATIONS], speed) if frames is None else np.asarray(frames, np.int64)
        aligned_prosody = expand(enc[k.PROSODY_FEATURES], frames)
        aligned_text = expand(enc[k.TEXT_FEATURES], frames)
        e.report(LENGTH_REGULATION, time.perf_counter() - start)
        pro = e.run(k.PROSODY, {k.ALIGNED_PROSODY: aligned_prosody, k.STYLE: style})
        upsample = int(self._params()["source_upsample"])
        source = harmonics(pro[k.F0][0], upsample, e.manifest.sample_rate, draws.next(pro[k.F0].shape[1] * upsample))
        return KokoroUtterance(frames, enc[k.DURATIONS][0], style, aligned_text, pro[k.F0], pro[k.ENERGY], source)

    def decode(self, u: KokoroUtterance, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """The decoder over frames [lo, hi): audio [(hi - lo) * hop]."""
        hi = u.n_frames if hi is None else hi
        hop = self.engine.hop_length
        feeds = {k.ALIGNED_TEXT: u.aligned_text[:, :, lo:hi], k.F0: u.f0[:, 2 * lo:2 * hi],
                 k.ENERGY: u.energy[:, 2 * lo:2 * hi], k.STYLE: u.style,
                 k.HARMONICS: u.harmonics[:, :, lo * hop:hi * hop]}
        return self.engine.run(k.DECODER, feeds)[k.AUDIO][0]

    def render(self, u: KokoroUtterance) -> np.ndarray:
        return self.decode(u)

    def stream(self, u: KokoroUtterance, reach: Reach, first: int, size: int) -> Iterator[tuple[np.ndarray, bool]]:
        """Windows of `first` frames, growing to `size`, each decoded with the context (the utterance's
        `stream_context`, else `reach.decoder`) on both sides and cut to its own frames. Joined, they
        approximate `render` (see the module's note); a context of 0 renders the sentence whole."""
        if first < 1 or size < 1:
            raise ValueError(f"chunk sizes must be >= 1 frame, got first={first}, size={size}")
        total, hop = u.n_frames, self.engine.hop_length
        ctx = reach.decoder if u.stream_context is None else u.stream_context
        if ctx <= 0:
            yield self.render(u), True
            return
        start, step = 0, first
        while True:
            stop = min(total, start + step)
            if total - stop < ctx:  # a tail shorter than the context goes with this window
                stop = total
            lo, hi = max(0, start - ctx), min(total, stop + ctx)
            audio = self.decode(u, lo, hi)
            yield audio[(start - lo) * hop:(stop - lo) * hop], stop == total
            if stop == total:
                return
            start, step = stop, min(size, step * GROWTH)

    def frames(self, u: KokoroUtterance) -> np.ndarray:
        return u.frames

    def measure_reach(self) -> Reach:
        """Not a probe: every output of the decoder depends on every input (instance norm over the window).
        The manifest's context (default DEFAULT_CONTEXT_FRAMES: whole sentences); `vocoder` 0: no separate
        vocoder."""
        return Reach(decoder=int(self._params().get("stream_context_frames", DEFAULT_CONTEXT_FRAMES)), vocoder=0)
