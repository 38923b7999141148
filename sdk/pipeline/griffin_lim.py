"""Griffin-Lim: audio from a mel spectrogram without a neural vocoder, in numpy.

The fallback for bundles that have no vocoder graph. It follows Coqui TTS (which calls librosa): mel
-> dB -> amplitude -> linear magnitude by least squares -> magnitude ** power -> Griffin-Lim with
centred, Hann-windowed STFTs. It is not local in time (every iteration mixes whole frames of phase),
so such a bundle streams each sentence as one chunk.
"""

from __future__ import annotations

import numpy as np

from voxport.bundle.mel_params import MelParams
from voxport.pipeline.mel import mel_to_magnitude

__all__ = ["GriffinLim", "griffin_lim", "istft", "stft"]


def _hann(win_length: int, n_fft: int) -> np.ndarray:
    """Periodic Hann window of win_length, zero-padded to n_fft around the centre (librosa's layout)."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left))


def stft(y: np.ndarray, n_fft: int, hop: int, window: np.ndarray, pad_mode: str = "reflect") -> np.ndarray:
    """Centred STFT, [n_fft // 2 + 1, 1 + len(y) // hop] complex (librosa.stft with center=True)."""
    padded = np.pad(y, n_fft // 2, mode=pad_mode)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(frames * window, axis=1).T


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Sum frames [n, n_fft] placed every `hop` samples; length n_fft + hop * (n - 1)."""
    n, n_fft = frames.shape
    blocks = -(-n_fft // hop)
    padded = np.pad(frames, ((0, 0), (0, blocks * hop - n_fft))).reshape(n, blocks, hop)
    out = np.zeros((n + blocks - 1, hop), frames.dtype)
    for k in range(blocks):  # a handful of vectorized adds instead of one per frame
        out[k : k + n] += padded[:, k]
    return out.reshape(-1)[: n_fft + hop * (n - 1)]


def istft(spec: np.ndarray, hop: int, window: np.ndarray, length: int | None = None) -> np.ndarray:
    """Inverse of `stft` (librosa.istft with center=True): (n_frames - 1) * hop samples, or `length`."""
    n_fft = 2 * (spec.shape[0] - 1)
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1) * window
    y = _overlap_add(frames, hop)
    norm = _overlap_add(np.broadcast_to(window**2, frames.shape), hop)
    nonzero = norm > np.finfo(norm.dtype).tiny
    y[nonzero] /= norm[nonzero]
    start = n_fft // 2
    if length is None:
        return y[start:-start]
    y = y[start : start + length]
    return np.pad(y, (0, length - y.size))


def griffin_lim(
    magnitude: np.ndarray,
    n_fft: int,
    hop: int,
    win_length: int,
    iterations: int,
    initial_phase: np.ndarray,
    pad_mode: str = "reflect",
    length: int | None = None,
) -> np.ndarray:
    """Phase by alternating projections from `initial_phase` (uniform in [0, 1) turns), float64 audio.

    Iterates on (T - 1) * hop samples as Coqui does; only the last inverse is cut to `length`.
    """
    window = _hann(win_length, n_fft)
    target = np.abs(magnitude).astype(np.complex128)
    spec = target * np.exp(2j * np.pi * initial_phase)
    y = istft(spec, hop, window)
    for _ in range(iterations):
        spec = target * np.exp(1j * np.angle(stft(y, n_fft, hop, window, pad_mode)))
        y = istft(spec, hop, window)
    return y if length is None else istft(spec, hop, window, length)


class GriffinLim:
    """Mel frames -> audio of exactly n_frames * hop_length samples in [-1, 1], the same for the same mel."""

    def __init__(self, params: MelParams, sample_rate: int, hop_length: int, seed: int = 0) -> None:
        self.params = params
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        # A fixed phase start: Griffin-Lim must not consume the synthesis RNG, and must not vary run to run.
        self.seed = seed

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        p = self.params
        mel = np.asarray(mel, np.float32).reshape(p.n_mels, -1)
        n_frames = mel.shape[1]
        if n_frames == 1:  # one frame gives no signal to iterate on: hold it for a second frame
            mel = np.repeat(mel, 2, axis=1)
        magnitude = mel_to_magnitude(mel, p, self.sample_rate) ** p.power
        phase = np.random.default_rng(self.seed).random(magnitude.shape)
        audio = griffin_lim(magnitude, p.n_fft, self.hop_length, p.win_length, p.griffin_lim_iters, phase,
                            p.pad_mode, length=mel.shape[1] * self.hop_length)
        # Unlike a vocoder's tanh, nothing bounds Griffin-Lim's output; clip to the SDK's [-1, 1] contract.
        return np.clip(audio[: n_frames * self.hop_length], -1.0, 1.0).astype(np.float32)
