"""Seeded top-k / temperature sampling of AR tokens, in numpy, so every backend draws the same token from
the same logits (the draw is one uniform number per step from the seed; only logits that differ across
backends by more than the gap to a neighbouring token's cumulative probability can change it)."""

from __future__ import annotations

import numpy as np


class TokenSampler:
    """One synthesis call's draws: `next()` for each token, from `seed`."""

    def __init__(self, seed: int | None, top_k: int = -100, temperature: float = 1.0) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.rng = np.random.default_rng(seed)
        self.top_k, self.temperature = int(top_k), float(temperature)

    def __call__(self, logits: np.ndarray) -> int:
        """A token from float logits [vocab]; top_k <= 0 keeps every token (Plachtaa's default -100)."""
        z = np.asarray(logits, np.float64).reshape(-1) / self.temperature
        if 0 < self.top_k < z.size:
            kth = np.partition(z, -self.top_k)[-self.top_k]
            z = np.where(z < kth, -np.inf, z)
        p = np.exp(z - z.max())
        cdf = np.cumsum(p)
        return int(min(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"), z.size - 1))
