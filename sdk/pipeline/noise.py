"""Where the pipeline's random draws come from: a seeded generator, or a recording of earlier draws.

Noise is sampled outside the graphs (no random operators in them), so the same draws can be given to
any runtime or precision: the calibration gate replays an fp32 reference's draws on a candidate.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

DURATION_NOISE_CHANNELS = 2  # VITS's stochastic duration predictor's flow input


class Noise(Protocol):
    def duration(self, n_phonemes: int, noise_w: float) -> np.ndarray:
        """Input noise of the stochastic duration predictor, [1, 2, n], already scaled by noise_w."""
        ...

    def prior(self, shape: tuple[int, ...]) -> np.ndarray:
        """Unscaled N(0, 1) eps for the prior latent, float32 of `shape`."""
        ...


class RandomNoise:
    """Draws from `rng` in pipeline order: duration noise, then the prior's eps. Both are drawn even at
    scale 0, so a seed gives the same stream whatever the scales are."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def duration(self, n_phonemes: int, noise_w: float) -> np.ndarray:
        eps = self.rng.standard_normal((1, DURATION_NOISE_CHANNELS, n_phonemes), dtype=np.float32)
        return (eps * np.float32(noise_w)).astype(np.float32)

    def prior(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.standard_normal(shape, dtype=np.float32)


class RecordedNoise:
    """Gives back draws recorded from an earlier run (`Prepared.replay()`), checking they fit."""

    def __init__(self, duration_noise: np.ndarray, eps: np.ndarray) -> None:
        self.duration_noise, self.eps = duration_noise, eps

    def duration(self, n_phonemes: int, noise_w: float) -> np.ndarray:
        if self.duration_noise.shape[-1] != n_phonemes:
            raise ValueError(f"recorded duration noise covers {self.duration_noise.shape[-1]} phonemes, "
                             f"not {n_phonemes}")
        return self.duration_noise

    def prior(self, shape: tuple[int, ...]) -> np.ndarray:
        if self.eps.shape != tuple(shape):
            raise ValueError(f"recorded prior noise has shape {self.eps.shape}, not {tuple(shape)}: replay "
                             "with the recorded frames")
        return self.eps
