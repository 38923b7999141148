"""A plain-torch reference for the exported vocoder, written the way NVIDIA's inference runs.

It reuses only the loaded weights: the condition is regrouped with `unfold` as in DLE's
`WaveGlow.infer`, the coupling network is written out with functional convolutions, each 1x1
convolution is inverted in float32 on the spot (NVIDIA's `W.float().inverse()`), and the denoiser is
NVIDIA's recipe on torch.stft / torch.istft (centered, reflect padding, periodic Hann, magnitude and
atan2 phase, clamp, resynthesis). Tests compare the graph with it, and a compatibility test can compare
it with NVIDIA's own classes.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .config import HOP_LENGTH, UPSAMPLE_KERNEL
from .denoiser import BIAS_FRAMES, N_FFT, STFT_HOP
from .model import WN
from .vocoder import WaveGlowVocoder


def _wn(wn: WN, audio: torch.Tensor, spect: torch.Tensor) -> torch.Tensor:
    n = wn.n_channels
    audio = F.conv1d(audio, wn.start.weight, wn.start.bias)
    output = torch.zeros(())
    for i in range(wn.n_layers):
        layer = wn.in_layers[i]
        acts = (F.conv1d(audio, layer.weight, layer.bias, dilation=layer.dilation, padding=layer.padding)
                + F.conv1d(spect, wn.cond_layers[i].weight, wn.cond_layers[i].bias))
        acts = torch.tanh(acts[:, :n]) * torch.sigmoid(acts[:, n:])
        res_skip = F.conv1d(acts, wn.res_skip_layers[i].weight, wn.res_skip_layers[i].bias)
        if i < wn.n_layers - 1:
            audio = res_skip[:, :n] + audio
            output = output + res_skip[:, n:]
        else:
            output = output + res_skip
    return F.conv1d(output, wn.end.weight, wn.end.bias)


@torch.no_grad()
def _flows(module: WaveGlowVocoder, mel: torch.Tensor, z: torch.Tensor | None, sigma: float,
           generator: torch.Generator | None) -> torch.Tensor:
    """NVIDIA's `WaveGlow.infer` loop. With z None it draws sigma * randn where NVIDIA does, in its order;
    otherwise it takes z's channels in that same order."""
    wg, c = module.waveglow, module.config
    spect = F.conv_transpose1d(mel, wg.upsample.weight, wg.upsample.bias, stride=HOP_LENGTH)
    spect = spect[:, :, : -(UPSAMPLE_KERNEL - HOP_LENGTH)]
    spect = spect.unfold(2, c.n_group, c.n_group).permute(0, 2, 1, 3)
    spect = spect.contiguous().view(spect.size(0), spect.size(1), -1).permute(0, 2, 1)
    steps = spect.size(2)
    taken = 0

    def draw(channels: int) -> torch.Tensor:
        nonlocal taken
        if z is None:
            return sigma * torch.randn(mel.size(0), channels, steps, generator=generator)
        taken += channels
        return z[:, taken - channels : taken]

    audio = draw(c.n_remaining_channels)
    for k in reversed(range(c.n_flows)):
        n_half = audio.size(1) // 2
        audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
        output = _wn(wg.WN[k], audio_0, spect)
        s, b = output[:, n_half:], output[:, :n_half]
        audio_1 = (audio_1 - b) / torch.exp(s)
        w = wg.convinv[k].conv.weight.squeeze(-1)
        audio = F.conv1d(torch.cat([audio_0, audio_1], 1), w.float().inverse().unsqueeze(-1))
        if k % c.n_early_every == 0 and k > 0:
            audio = torch.cat([draw(c.n_early_size), audio], 1)
    return audio.permute(0, 2, 1).contiguous().view(audio.size(0), -1)


def _stft(audio: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(N_FFT, periodic=True, dtype=audio.dtype)
    return torch.stft(audio, N_FFT, STFT_HOP, N_FFT, window, center=True, pad_mode="reflect", return_complex=True)


@torch.no_grad()
def reference_bias_spectrum(module: WaveGlowVocoder) -> torch.Tensor:
    """NVIDIA's Denoiser bias: |STFT| of frame 0 of the audio for an all-zero mel at sigma 0 [bins]."""
    c = module.config
    audio = _flows(module, torch.zeros(1, c.n_mel_channels, BIAS_FRAMES), None, 0.0, None)
    return _stft(audio)[0, :, 0].abs()


@torch.no_grad()
def nvidia_denoise(audio: torch.Tensor, bias: torch.Tensor, strength: float) -> torch.Tensor:
    """NVIDIA's Denoiser.forward on audio [B, N] with bias [bins]: magnitude - strength x bias, clamped
    at 0, resynthesised with the original phase."""
    spec = _stft(audio)
    magnitude = torch.clamp(spec.abs() - bias[:, None] * strength, min=0.0)
    phase = torch.atan2(spec.imag, spec.real)
    denoised = torch.polar(magnitude, phase)
    window = torch.hann_window(N_FFT, periodic=True, dtype=audio.dtype)
    return torch.istft(denoised, N_FFT, STFT_HOP, N_FFT, window, center=True, length=audio.size(1))


def waveglow_infer(module: WaveGlowVocoder, mel: torch.Tensor, z: torch.Tensor | None = None,
                   strength: float = 0.0, *, sigma: float = 1.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Audio [B, 1, F * hop] for mel [B, n_mel, F]: NVIDIA's inference (flows, then the denoiser when
    strength > 0). z as the exported graph takes it (sigma applied); without z, noise is drawn inside
    the loop as NVIDIA does, sigma * randn from `generator`."""
    audio = _flows(module, mel, z, sigma, generator)
    if strength > 0:
        audio = nvidia_denoise(audio, reference_bias_spectrum(module), strength)
    return audio.unsqueeze(1)
