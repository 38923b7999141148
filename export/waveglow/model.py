"""WaveGlow's inference modules under NVIDIA DeepLearningExamples' parameter names.

Parameters (DLE waveglow/model.py): `upsample` (ConvTranspose1d(n_mel, n_mel, 1024, stride=256)),
`WN.{k}.start`, `WN.{k}.in_layers.{i}`, `WN.{k}.cond_layers.{i}`, `WN.{k}.res_skip_layers.{i}`,
`WN.{k}.end`, `convinv.{k}.conv.weight` (the invertible 1x1 convolution). Weight norm is folded on
import; the 1x1 convolutions' inverses are precomputed by `store_inverse` (float64, stored float32) as
buffers that are not part of the state dict, so the state dict stays DLE's.

Only the inverse (audio from noise) is implemented: it is all inference needs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import HOP_LENGTH, UPSAMPLE_KERNEL, WaveGlowConfig


class WN(nn.Module):
    """The affine coupling's WaveNet: dilations 1, 2, 4, ... with a mel condition added per layer."""

    def __init__(self, n_in_channels: int, n_cond_channels: int, c: WaveGlowConfig) -> None:
        super().__init__()
        self.n_layers, self.n_channels = c.n_layers, c.n_channels
        self.start = nn.Conv1d(n_in_channels, c.n_channels, 1)
        self.end = nn.Conv1d(c.n_channels, 2 * n_in_channels, 1)
        self.in_layers = nn.ModuleList()
        self.cond_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(c.n_layers):
            dilation = 2**i
            self.in_layers.append(nn.Conv1d(c.n_channels, 2 * c.n_channels, c.kernel_size, dilation=dilation,
                                            padding=dilation * (c.kernel_size - 1) // 2))
            self.cond_layers.append(nn.Conv1d(n_cond_channels, 2 * c.n_channels, 1))
            # The last layer only feeds the skip sum.
            out = 2 * c.n_channels if i < c.n_layers - 1 else c.n_channels
            self.res_skip_layers.append(nn.Conv1d(c.n_channels, out, 1))

    def forward(self, audio: torch.Tensor, spect: torch.Tensor) -> torch.Tensor:
        audio = self.start(audio)
        output = None
        n = self.n_channels
        for i, (in_layer, cond_layer, res_skip) in enumerate(
                zip(self.in_layers, self.cond_layers, self.res_skip_layers, strict=True)):
            x = in_layer(audio) + cond_layer(spect)
            res_skip_acts = res_skip(torch.tanh(x[:, :n]) * torch.sigmoid(x[:, n:]))
            if i < self.n_layers - 1:
                audio = audio + res_skip_acts[:, :n]
                skip = res_skip_acts[:, n:]
            else:
                skip = res_skip_acts
            output = skip if output is None else output + skip
        return self.end(output)


class Invertible1x1Conv(nn.Module):
    """`conv.weight` [c, c, 1] as trained; the inverse pass convolves with its precomputed inverse."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 1, bias=False)
        self.register_buffer("weight_inverse", torch.eye(channels).unsqueeze(-1), persistent=False)

    def store_inverse(self) -> None:
        w = self.conv.weight.detach().squeeze(-1).double()
        self.weight_inverse = torch.linalg.inv(w).float().unsqueeze(-1).contiguous()

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return F.conv1d(z, self.weight_inverse)


class WaveGlow(nn.Module):
    """The flows: `infer(mel, z)` is NVIDIA's `WaveGlow.infer` with its noise taken from `z`."""

    def __init__(self, config: WaveGlowConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.upsample = nn.ConvTranspose1d(c.n_mel_channels, c.n_mel_channels, UPSAMPLE_KERNEL, stride=HOP_LENGTH)
        self.WN = nn.ModuleList()  # noqa: N815 - DLE's parameter name
        self.convinv = nn.ModuleList()
        for k in range(c.n_flows):
            channels = c.flow_channels(k)
            self.convinv.append(Invertible1x1Conv(channels))
            self.WN.append(WN(channels // 2, c.n_mel_channels * c.n_group, c))

    def store_inverse(self) -> None:
        """Precompute every 1x1 convolution's inverse; call after loading weights."""
        for conv in self.convinv:
            conv.store_inverse()

    def grouped_condition(self, mel: torch.Tensor) -> torch.Tensor:
        """mel [B, n_mel, F] -> the WN condition [B, n_mel * n_group, F * hop / n_group].

        The transposed convolution yields F * hop + (kernel - stride) samples; NVIDIA keeps the first
        F * hop (the extra tail only ever overlaps frames after the last one). Each group of n_group
        samples then becomes one step with n_mel * n_group channels, channel = mel_bin * n_group + j.
        """
        spect = self.upsample(mel)
        spect = spect[:, :, : spect.shape[2] - (UPSAMPLE_KERNEL - HOP_LENGTH)]
        b, n_mel, g = spect.shape[0], self.config.n_mel_channels, self.config.n_group
        spect = spect.reshape(b, n_mel, -1, g).permute(0, 1, 3, 2)
        return spect.reshape(b, n_mel * g, -1)

    def infer(self, mel: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """mel [B, n_mel, F], z [B, n_group, F * hop / n_group] (sigma applied) -> audio [B, 1, F * hop].

        z[:, :n_remaining] starts the inverse; after flow k's inverse, for each early-output flow k in
        descending order, the next n_early_size channels of z are put in front (NVIDIA's order).
        """
        c = self.config
        spect = self.grouped_condition(mel)
        audio = z[:, : c.n_remaining_channels]
        taken = c.n_remaining_channels
        for k in reversed(range(c.n_flows)):
            n_half = audio.shape[1] // 2
            audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
            output = self.WN[k](audio_0, spect)
            log_s, b = output[:, n_half:], output[:, :n_half]
            audio_1 = (audio_1 - b) / torch.exp(log_s)
            audio = self.convinv[k].inverse(torch.cat([audio_0, audio_1], 1))
            if k in c.early_flows:
                audio = torch.cat([z[:, taken : taken + c.n_early_size], audio], 1)
                taken += c.n_early_size
        # Step t, channel j is sample t * n_group + j.
        return audio.transpose(1, 2).flatten(1).unsqueeze(1)
