"""NVIDIA's WaveGlow denoiser as graph operations: STFT and inverse STFT by convolution, no atan2.

NVIDIA (DLE waveglow/denoiser.py, common/stft.py): STFT with n_fft = win = 1024, hop 256, periodic
Hann window, the signal reflect-padded by n_fft / 2 on both sides; magnitude and phase (atan2);
magnitude minus strength x the bias spectrum (the first STFT frame of WaveGlow's audio for an all-zero
mel at sigma 0), clamped at 0; inverse with the original phase through the pseudo-inverse Fourier
basis, divided by the window's squared overlap-add sum, the padding cut off again.

Here, with X the STFT, |X| its magnitude and r = min(strength x bias, |X|) what the clamp removes:
    denoised = audio + ISTFT(-X * r / max(|X|, eps))
ISTFT is linear and reconstructs the audio exactly from X (the basis is a pseudo-inverse, the window
sum normalises), so this equals NVIDIA's ISTFT(X * (|X| - r) / |X|) up to float rounding, and:
  * the phase is never computed (X / |X| keeps it), so no atan2, cos or sin;
  * at strength 0 the correction is exactly 0, so the output is bit-identical to WaveGlow's;
  * at reduced precision only the small correction passes through the STFT, not the whole audio.
eps only matters for bins with |X| < eps, where NVIDIA's correction is at most |X| itself.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

N_FFT = 1024
STFT_HOP = 256  # NVIDIA's Denoiser: hop = filter_length / n_overlap(4)
MAGNITUDE_EPS = 1e-5  # representable in fp16 (as a subnormal), far below audible bin magnitudes
BIAS_FRAMES = 88  # NVIDIA's denoiser vocodes a (1, n_mel, 88) all-zero mel for its bias


def hann_window(n: int = N_FFT) -> np.ndarray:
    """The periodic Hann window (scipy.signal.get_window('hann', n, fftbins=True)), float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


@functools.lru_cache(maxsize=2)
def fourier_bases(n_fft: int = N_FFT) -> tuple[np.ndarray, np.ndarray]:
    """(forward [2 * bins, 1, n_fft], inverse [2 * bins, 1, n_fft]) windowed bases, float64.

    Rows are the real parts of bins 0..n_fft/2, then their imaginary parts (e^{-i 2 pi k n / N}). The
    inverse is the pseudo-inverse of the unwindowed forward basis, so ISTFT(STFT(x)) overlap-adds
    window^2 * x per frame; dividing by the window's squared overlap-add sum gives x back.
    """
    bins = n_fft // 2 + 1
    angle = 2.0 * np.pi * np.outer(np.arange(bins), np.arange(n_fft)) / n_fft
    basis = np.vstack([np.cos(angle), -np.sin(angle)])
    # The basis has full column rank, so its pseudo-inverse is (B^T B)^-1 B^T (as np.linalg.pinv, 3x faster).
    inverse = np.linalg.solve(basis.T @ basis, basis.T).T
    window = hann_window(n_fft)
    return (basis * window)[:, None, :], (inverse * window)[:, None, :]


def reflect_indices(n: int, pad: int) -> torch.Tensor:
    """Indices of `x` that reflect-pad it by `pad` on each side (edge sample not repeated).

    For pad < n this is torch's / NVIDIA's reflect padding; for longer pads it keeps reflecting (period
    2 (n - 1)), as numpy.pad(mode='reflect') does, where torch's reflect padding would refuse: a 1- or
    2-frame utterance (256 or 512 samples) is shorter than NVIDIA's 512-sample pad.
    """
    period = 2 * (n - 1)
    i = torch.remainder(torch.arange(n + 2 * pad) - pad, period)
    return torch.where(i < n, i, period - i)


class Denoiser(nn.Module):
    """audio [B, 1, N], strength [1] -> audio [B, 1, N] with strength x bias subtracted per STFT bin."""

    def __init__(self, bias_spectrum: torch.Tensor) -> None:
        super().__init__()
        forward_basis, inverse_basis = fourier_bases()
        self.register_buffer("forward_basis", torch.from_numpy(forward_basis).float())
        self.register_buffer("inverse_basis", torch.from_numpy(inverse_basis).float())
        window_sq = torch.from_numpy(hann_window() ** 2).float()
        self.register_buffer("window_squared", window_sq.reshape(1, 1, N_FFT))
        self.register_buffer("bias_spectrum", bias_spectrum.detach().float().reshape(1, -1, 1))

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, 1, N] -> X [B, 2 * bins, N / hop + 1]: real parts, then imaginary parts."""
        padded = audio.index_select(2, reflect_indices(audio.shape[2], N_FFT // 2))
        return F.conv1d(padded, self.forward_basis, stride=STFT_HOP)

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """X [B, 2 * bins, T] -> audio [B, 1, (T - 1) * hop], the reflect padding already cut off."""
        audio = F.conv_transpose1d(spec, self.inverse_basis, stride=STFT_HOP, padding=N_FFT // 2)
        # The squared window's overlap-add over the same T frames, built from the frame count in-graph.
        frames = torch.ones_like(spec[:1, :1])
        window_sum = F.conv_transpose1d(frames, self.window_squared, stride=STFT_HOP, padding=N_FFT // 2)
        return audio / window_sum

    def forward(self, audio: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        spec = self.stft(audio)
        bins = spec.shape[1] // 2
        real, imag = spec[:, :bins], spec[:, bins:]
        magnitude = torch.sqrt(real * real + imag * imag)
        removed = torch.minimum(strength.reshape(1, 1, 1) * self.bias_spectrum, magnitude)
        gain = removed / torch.clamp(magnitude, min=MAGNITUDE_EPS)
        correction = torch.cat([real * gain, imag * gain], 1)
        return audio - self.istft(correction)

    def first_frame_magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        """|STFT| of the first frame (centred on sample 0) [bins]: the bias spectrum of `audio` [1, 1, N]."""
        spec = self.stft(audio)[0, :, 0]
        bins = spec.shape[0] // 2
        return torch.sqrt(spec[:bins] ** 2 + spec[bins:] ** 2)
