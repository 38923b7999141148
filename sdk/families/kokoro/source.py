"""The harmonic-plus-noise source of Kokoro's decoder (kokoro's SineGen), computed on the host.

Its phase is a running sum over the whole utterance and its draws are random, so it cannot live in a graph
that runs window by window on every runtime: it is computed here once per utterance from the prosody
graph's F0 and the seed, and the decoder graph takes each window's slice. The arithmetic follows kokoro's
SineGen step by step (nearest upsampling of F0, per-sample phase increments, linear down- and
upsampling of the phase by the hop, voiced/unvoiced by F0 > 10 Hz), in float64 so long utterances keep
their phase exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HARMONICS = 9  # the fundamental and 8 overtones
SINE_AMP, NOISE_STD, VOICED_THRESHOLD = 0.1, 0.003, 10.0


@dataclass(frozen=True)
class SourceDraws:
    """One utterance's random draws: initial phase per harmonic (cycles; 0 for the fundamental) and
    standard normal noise [samples, HARMONICS]."""

    initial_phase: np.ndarray
    noise: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, samples: int, noise_scale: float = 1.0) -> SourceDraws:
        phase = rng.random(HARMONICS)
        phase[0] = 0.0
        noise = rng.standard_normal((samples, HARMONICS)) * noise_scale
        return cls(phase, noise)


def _linear(x: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """torch's F.interpolate(mode="linear", align_corners=False, scale_factor=1/scale) along axis 0."""
    src = np.maximum((np.arange(out_len) + 0.5) * scale - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), len(x) - 1)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (src - lo)[:, None]
    return x[lo] * (1.0 - w) + x[hi] * w


def harmonics(f0: np.ndarray, upsample: int, sample_rate: int, draws: SourceDraws) -> np.ndarray:
    """f0 [n] (Hz at the prosody rate) -> the source's harmonics [1, HARMONICS, n * upsample] float32."""
    f0 = np.asarray(f0, np.float64).reshape(-1)
    n = f0.shape[0]
    f0_up = np.repeat(f0, upsample)
    rad = (f0_up[:, None] * np.arange(1, HARMONICS + 1) / sample_rate) % 1.0
    rad[0] += draws.initial_phase
    phase = np.cumsum(_linear(rad, n, float(upsample)), axis=0) * 2.0 * np.pi
    phase = _linear(phase * upsample, n * upsample, 1.0 / upsample)
    uv = (f0_up > VOICED_THRESHOLD).astype(np.float64)[:, None]
    noise = (uv * NOISE_STD + (1.0 - uv) * SINE_AMP / 3.0) * draws.noise
    out = np.sin(phase) * SINE_AMP * uv + noise
    return np.ascontiguousarray(out.T[None], dtype=np.float32)
