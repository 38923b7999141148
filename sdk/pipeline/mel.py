"""The mel spectrogram described by a manifest's `mel` block, in numpy: filterbank and dB scaling.

Used by the Griffin-Lim fallback to invert a model's mel, and at export to convert one normalization
into another in front of a vocoder (so the two sides share these formulas).
"""

from __future__ import annotations

import numpy as np

from voxport.bundle.mel_params import MelNormalization, MelParams

__all__ = ["db_affine", "denormalize", "mel_filterbank", "mel_to_magnitude", "normalize"]


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False)."""
    hz = np.asarray(hz, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank(params: MelParams, sample_rate: int) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] float32, equal to librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax)."""
    fmax = sample_rate / 2.0 if params.fmax is None else params.fmax
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, params.n_fft // 2 + 1)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(params.fmin), _hz_to_mel(fmax), params.n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    # Slaney normalization: each filter has unit area, so loudness does not depend on its width.
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


def db_affine(norm: MelNormalization) -> tuple[float, float, tuple[float, float] | None]:
    """(scale, offset, clip range): dB = clip(x) * scale + offset, and x = clip((dB - offset) / scale).

    Coqui's range normalization is an affine map with a clip on the normalized side, written out here
    once so that denormalizing (Griffin-Lim) and renormalizing (in front of a vocoder) agree.
    """
    if norm.kind == "none":
        return 1.0, 0.0, None
    span = -norm.min_level_db
    if norm.symmetric:
        scale = span / (2.0 * norm.max_norm)
        offset = norm.min_level_db / 2.0 + norm.ref_level_db
        clip = (-norm.max_norm, norm.max_norm)
    else:
        scale = span / norm.max_norm
        offset = norm.min_level_db + norm.ref_level_db
        clip = (0.0, norm.max_norm)
    return scale, offset, clip if norm.clip else None


def denormalize(mel: np.ndarray, norm: MelNormalization) -> np.ndarray:
    """Normalized mel -> dB."""
    scale, offset, clip = db_affine(norm)
    if clip is not None:
        mel = np.clip(mel, *clip)
    return mel * np.float32(scale) + np.float32(offset)


def normalize(db: np.ndarray, norm: MelNormalization) -> np.ndarray:
    """dB -> normalized mel (the inverse of `denormalize` inside the clip range)."""
    scale, offset, clip = db_affine(norm)
    mel = (db - np.float32(offset)) / np.float32(scale)
    return mel if clip is None else np.clip(mel, *clip)


def mel_to_magnitude(mel: np.ndarray, params: MelParams, sample_rate: int) -> np.ndarray:
    """Normalized mel [n_mels, T] -> linear STFT magnitude [n_fft // 2 + 1, T] (least squares, >= 1e-10)."""
    amplitude = np.power(params.log_base, denormalize(mel, params.normalization) / params.spec_gain)
    inverse = np.linalg.pinv(mel_filterbank(params, sample_rate))
    return np.maximum(1e-10, inverse @ amplitude)
