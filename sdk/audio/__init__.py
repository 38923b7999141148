"""Turning float waveforms into what applications consume: files, silence, volume."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np


def silence(seconds: float, sample_rate: int) -> np.ndarray:
    return np.zeros(max(0, round(seconds * sample_rate)), dtype=np.float32)


def join_sentences(pieces: Iterable[np.ndarray], gap: np.ndarray) -> np.ndarray:
    """Sentences' audio joined with `gap` (silence) between them; no pieces give empty audio."""
    joined: list[np.ndarray] = []
    for piece in pieces:
        if joined and gap.size:
            joined.append(gap)
        joined.append(piece)
    return np.concatenate(joined) if joined else np.zeros(0, np.float32)


def apply_volume(audio: np.ndarray, volume: float) -> np.ndarray:
    """Scale by a fixed gain and clip to [-1, 1].

    A fixed gain, not peak normalization: per-utterance normalization would change the level from one
    sentence (or streamed chunk) to the next and break parity with the original model.
    """
    if volume == 1.0:
        return audio
    return np.clip(audio * np.float32(volume), -1.0, 1.0).astype(np.float32)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """16-bit PCM WAV, the format every player and Piper's CLI produce."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sample_rate, subtype="PCM_16")
    return path
