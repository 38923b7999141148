"""Length regulation and the prior shift: the data-dependent steps kept out of the graphs.

They run in numpy between the duration graph and the decoder graph, which is what lets the decoder
and vocoder have plain dynamic time axes.
"""

from __future__ import annotations

import numpy as np


def frames_per_phoneme(
    log_durations: np.ndarray,
    phoneme_mask: np.ndarray,
    length_scale: float,
    *,
    offset: float = 0.0,
    min_frames: int = 0,
) -> np.ndarray:
    """ceil((exp(logw) + offset) * mask * length_scale) as int64 [T], computed in float32 like the models.

    VITS: offset 0. GlowTTS predicts log(1 + frames): offset -1 and at least `min_frames` = 1 per phoneme
    (the manifest's `durations` rule). float32 matters: the ceiling of a value that lands near an integer
    must round the same way as the original model, or one phoneme gains or loses a frame.
    """
    logw = np.asarray(log_durations, dtype=np.float32).reshape(-1)
    mask = np.asarray(phoneme_mask, dtype=np.float32).reshape(-1)
    w = np.exp(logw)
    if offset:  # skipped at 0 so that VITS's arithmetic stays exactly what it was
        w = w + np.float32(offset)
    frames = np.ceil(w * mask * np.float32(length_scale)).astype(np.int64)
    if min_frames:
        frames = np.where(mask > 0, np.maximum(frames, min_frames), frames)
    return frames


def fit_to_multiple(frames: np.ndarray, multiple: int) -> np.ndarray:
    """Frames per phoneme whose total is a multiple of `multiple` (GlowTTS's squeeze of the time axis).

    Like Coqui, the frames past the last multiple are dropped, from the last phonemes backwards; a total
    below one multiple is instead filled up by holding the last phoneme.
    """
    total = int(frames.sum())
    if multiple <= 1 or total % multiple == 0 and total:
        return frames
    target = max(total // multiple * multiple, multiple)
    fitted = frames.copy()
    if target > total:
        fitted[-1] += target - total
        return fitted
    excess = total - target
    for i in range(fitted.size - 1, -1, -1):
        cut = min(excess, int(fitted[i]))
        fitted[i] -= cut
        excess -= cut
        if not excess:
            break
    return fitted


def expand_prior(
    prior_mean: np.ndarray, prior_log_std: np.ndarray, frames: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat each phoneme's prior statistics for its frames: [1, C, T] -> [1, C, sum(frames)].

    At least one frame is produced (VITS clamps the length to 1); a frame no phoneme covers gets mean 0
    and log-std 0, as VITS's all-zero alignment path gives.
    """
    m = np.repeat(prior_mean[0], frames, axis=1)
    logs = np.repeat(prior_log_std[0], frames, axis=1)
    if m.shape[1] == 0:
        m = np.zeros((prior_mean.shape[1], 1), np.float32)
        logs = np.zeros_like(m)
    return m[None], logs[None]


def shift_prior(mean: np.ndarray, log_std: np.ndarray, eps: np.ndarray, noise_scale: float) -> np.ndarray:
    """z_p = m + eps * exp(logs) * noise_scale, with eps from voxport.pipeline.noise."""
    return (mean + eps * np.exp(log_std) * np.float32(noise_scale)).astype(np.float32)
