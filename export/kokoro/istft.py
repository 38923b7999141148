"""Kokoro's decoder: StyleTTS2's iSTFTNet generator with a harmonic-plus-noise source, parameter names as in
`kokoro.istftnet`. The source's random draws and its running phase are not here: the graph takes the sine
harmonics (`harmonics` [B, 9, samples], voiced sines plus noise) that the SDK computes from the F0 curve and
the seed (voxport.families.kokoro.source), and only merges them (`m_source.l_linear`, tanh) and analyses them.
The STFT is real-valued (convolutions with DFT kernels), as kokoro's `disable_complex=True`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .layers import AdaIN1d, AdainResBlk1d

HARMONICS = 9  # kokoro's SourceModuleHnNSF(harmonic_num=8): the fundamental and 8 overtones


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class AdaINResBlock1(nn.Module):
    """HiFi-GAN's ResBlock1 with AdaIN and Snake activations."""

    def __init__(self, channels: int, kernel: int, dilation: Sequence[int], style_dim: int) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, 1, dilation=d, padding=_padding(kernel, d))
                                    for d in dilation)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, 1, padding=_padding(kernel))
                                    for _ in dilation)
        self.adain1 = nn.ModuleList(AdaIN1d(style_dim, channels) for _ in dilation)
        self.adain2 = nn.ModuleList(AdaIN1d(style_dim, channels) for _ in dilation)
        self.alpha1 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in dilation)
        self.alpha2 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in dilation)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        for c1, c2, n1, n2, a1, a2 in zip(self.convs1, self.convs2, self.adain1, self.adain2, self.alpha1,
                                          self.alpha2, strict=True):
            y = n1(x, s)
            y = c1(y + (1 / a1) * torch.sin(a1 * y) ** 2)  # Snake
            y = n2(y, s)
            x = c2(y + (1 / a2) * torch.sin(a2 * y) ** 2) + x
        return x


# How the iSTFT is computed: "custom" is kokoro's CustomSTFT (disable_complex=True: edge-replicating padding, no
# doubling of the one-sided bins, no window normalisation); "torch" is torch.stft / torch.istft (KModel's default:
# reflection padding, normalised by the window's squared overlap-add); "monolith" is what kokoro-onnx's
# kokoro-v1.0 .onnx files compute (torch.stft forward, an inverse that overlap-adds without normalising: 1.5x
# torch.istft for Kokoro's hop; the file's first 10 samples, divided by the squared window, are not reproduced).
STFT_VARIANTS = ("custom", "torch", "monolith")


class RealSTFT(nn.Module):
    """STFT / iSTFT as strided convolutions with Hann-windowed DFT kernels: exports with no complex numbers."""

    def __init__(self, n_fft: int, hop: int, variant: str = "custom") -> None:
        super().__init__()
        if variant not in STFT_VARIANTS:
            raise ValueError(f"STFT variant {variant!r} is not one of {STFT_VARIANTS}")
        self.n_fft, self.hop, self.variant = n_fft, hop, variant
        bins = n_fft // 2 + 1
        # float32 window times float64 DFT, as kokoro builds its kernels, so the two agree to the last bit.
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float32).numpy()
        angle = 2 * np.pi * np.outer(np.arange(bins), np.arange(n_fft)) / n_fft  # [bins, n_fft]
        weight = np.ones((bins, 1))
        if variant != "custom":  # a real inverse DFT counts the bins between DC and Nyquist twice
            weight[1:bins - 1 if n_fft % 2 == 0 else bins] = 2.0
        buffers = {"fwd_real": np.cos(angle) * window, "fwd_imag": -np.sin(angle) * window,
                   "inv_real": weight * np.cos(angle) * window / n_fft,
                   "inv_imag": weight * np.sin(angle) * window / n_fft}
        for name, value in buffers.items():
            self.register_buffer(name, torch.from_numpy(value).float().unsqueeze(1), persistent=False)
        self.register_buffer("window_sq", torch.from_numpy(window.astype(np.float64) ** 2).float().view(1, 1, -1),
                             persistent=False)

    def transform(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, samples] -> magnitude, phase [B, bins, samples // hop + 1]."""
        pad = self.n_fft // 2
        x = F.pad(wave.unsqueeze(1), (pad, pad), mode="replicate" if self.variant == "custom" else "reflect")
        real = F.conv1d(x, self.fwd_real, stride=self.hop)
        imag = F.conv1d(x, self.fwd_imag, stride=self.hop)
        phase = torch.atan2(imag, real)
        # ONNX's atan2 gives -pi where torch gives pi (imag == 0, real < 0): kept as torch has it.
        phase = torch.where((imag == 0) & (real < 0), torch.full_like(phase, math.pi), phase)
        eps = 1e-14 if self.variant == "custom" else 0.0
        return torch.sqrt(real ** 2 + imag ** 2 + eps), phase

    def inverse(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """magnitude, phase [B, bins, frames] -> [B, 1, (frames - 1) * hop]."""
        real = F.conv_transpose1d(magnitude * torch.cos(phase), self.inv_real, stride=self.hop)
        imag = F.conv_transpose1d(magnitude * torch.sin(phase), self.inv_imag, stride=self.hop)
        wave = real - imag
        if self.variant == "torch":  # divided by the window's squared overlap-add, where it is not ~0
            envelope = F.conv_transpose1d(torch.ones_like(magnitude[:, :1, :]), self.window_sq, stride=self.hop)
            wave = torch.where(envelope > 1e-11, wave / envelope.clamp(min=1e-11), wave)
        pad = self.n_fft // 2
        return wave[..., pad:-pad]


class Generator(nn.Module):
    def __init__(self, style_dim: int, resblock_kernel_sizes: Sequence[int], upsample_rates: Sequence[int],
                 upsample_initial_channel: int, resblock_dilation_sizes: Sequence[Sequence[int]],
                 upsample_kernel_sizes: Sequence[int], gen_istft_n_fft: int, gen_istft_hop_size: int,
                 stft: str = "custom") -> None:
        super().__init__()
        self.num_kernels, self.num_upsamples = len(resblock_kernel_sizes), len(upsample_rates)
        self.m_source = nn.Module()
        self.m_source.l_linear = nn.Linear(HARMONICS, 1)
        self.noise_convs, self.noise_res = nn.ModuleList(), nn.ModuleList()
        self.ups, self.resblocks = nn.ModuleList(), nn.ModuleList()
        ch = upsample_initial_channel
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            self.ups.append(nn.ConvTranspose1d(upsample_initial_channel // 2 ** i,
                                               upsample_initial_channel // 2 ** (i + 1), k, u, padding=(k - u) // 2))
            ch = upsample_initial_channel // 2 ** (i + 1)
            for k_res, d in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(AdaINResBlock1(ch, k_res, d, style_dim))
            if i + 1 < len(upsample_rates):
                stride = math.prod(upsample_rates[i + 1:])
                self.noise_convs.append(nn.Conv1d(gen_istft_n_fft + 2, ch, stride * 2, stride, (stride + 1) // 2))
                self.noise_res.append(AdaINResBlock1(ch, 7, [1, 3, 5], style_dim))
            else:
                self.noise_convs.append(nn.Conv1d(gen_istft_n_fft + 2, ch, 1))
                self.noise_res.append(AdaINResBlock1(ch, 11, [1, 3, 5], style_dim))
        self.post_n_fft = gen_istft_n_fft
        self.conv_post = nn.Conv1d(ch, gen_istft_n_fft + 2, 7, 1, padding=3)
        self.stft = RealSTFT(gen_istft_n_fft, gen_istft_hop_size, stft)

    def forward(self, x: torch.Tensor, s: torch.Tensor, harmonics: torch.Tensor) -> torch.Tensor:
        source = torch.tanh(self.m_source.l_linear(harmonics.transpose(1, 2))).squeeze(-1)  # [B, samples]
        har = torch.cat(self.stft.transform(source), dim=1)
        for i in range(self.num_upsamples):
            x = F.leaky_relu(x, 0.1)
            x_source = self.noise_res[i](self.noise_convs[i](har), s)
            x = self.ups[i](x)
            if i == self.num_upsamples - 1:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + x_source
            xs = self.resblocks[i * self.num_kernels](x, s)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[i * self.num_kernels + j](x, s)
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))
        bins = self.post_n_fft // 2 + 1
        return self.stft.inverse(torch.exp(x[:, :bins, :]), torch.sin(x[:, bins:, :]))


class Decoder(nn.Module):
    """asr [B, C, F], F0 and energy [B, 2F], style [B, S], harmonics [B, 9, samples] -> audio [B, 1, samples].

    kokoro fixes the inner widths (1024, and 64 for the ASR residual); `hidden` and `asr_res` make them
    smaller for the tiny test model only."""

    def __init__(self, dim_in: int, style_dim: int, istftnet: Mapping[str, Any], hidden: int = 1024,
                 asr_res: int = 64, stft: str = "custom") -> None:
        super().__init__()
        out = istftnet["upsample_initial_channel"]
        self.encode = AdainResBlk1d(dim_in + 2, hidden, style_dim)
        self.decode = nn.ModuleList([AdainResBlk1d(hidden + 2 + asr_res, hidden, style_dim) for _ in range(3)])
        self.decode.append(AdainResBlk1d(hidden + 2 + asr_res, out, style_dim, upsample=True))
        self.F0_conv = nn.Conv1d(1, 1, kernel_size=3, stride=2, padding=1)
        self.N_conv = nn.Conv1d(1, 1, kernel_size=3, stride=2, padding=1)
        self.asr_res = nn.Sequential(nn.Conv1d(dim_in, asr_res, kernel_size=1))
        self.generator = Generator(style_dim, **{k: istftnet[k] for k in GENERATOR_KEYS}, stft=stft)

    def forward(self, asr: torch.Tensor, f0_curve: torch.Tensor, n: torch.Tensor, s: torch.Tensor,
                harmonics: torch.Tensor) -> torch.Tensor:
        f0 = self.F0_conv(f0_curve.unsqueeze(1))
        n = self.N_conv(n.unsqueeze(1))
        x = self.encode(torch.cat([asr, f0, n], dim=1), s)
        asr_res = self.asr_res(asr)
        for block in self.decode:  # kokoro stops appending after the upsampling block, which is the last
            x = block(torch.cat([x, asr_res, f0, n], dim=1), s)
        return self.generator(x, s, harmonics)


GENERATOR_KEYS = ("resblock_kernel_sizes", "upsample_rates", "upsample_initial_channel", "resblock_dilation_sizes",
                  "upsample_kernel_sizes", "gen_istft_n_fft", "gen_istft_hop_size")
