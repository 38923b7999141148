"""Kokoro's length regulation, on the host: frames per phoneme from the encoder's durations and the speed,
and phoneme-rate features repeated frame by frame (kokoro's alignment matrix product, without the matrix)."""

from __future__ import annotations

import numpy as np


def frames_of(durations: np.ndarray, speed: float) -> np.ndarray:
    """int64 [T]: round(durations / speed), at least 1 frame per phoneme (kokoro: round().clamp(min=1)).
    The division stays in float32, as kokoro's, so halves round the same way."""
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    d = np.asarray(durations, np.float32).reshape(-1) / np.float32(speed)
    return np.maximum(np.round(d), 1).astype(np.int64)


def expand(features: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """[1, C, T] phoneme-rate features -> [1, C, sum(frames)], each phoneme's column repeated."""
    return np.ascontiguousarray(np.repeat(features, frames, axis=2))
