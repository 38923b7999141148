"""Kokoro's text encoders and prosody predictor (StyleTTS2's), with `kokoro.modules`' parameter names.

Weight-normed convolutions are plain convolutions here: the checkpoint loader folds `weight_g`/`weight_v`
into `weight` (voxport.export.kokoro.weights). Every module runs one unpadded utterance (batch 1), so the
packed sequences and masks of the training code are not needed: an LSTM over the whole sequence is the
same computation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SQRT_HALF = 0.7071067811865476


class LayerNorm(nn.Module):
    """Layer norm over channels of [B, C, T], parameters named gamma/beta as in kokoro."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels, self.eps = channels, eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.transpose(1, 2), (self.channels,), self.gamma, self.beta, self.eps).transpose(1, 2)


class AdaLayerNorm(nn.Module):
    """Layer norm over channels of [B, T, C], scaled and shifted by the style."""

    def __init__(self, style_dim: int, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels, self.eps = channels, eps
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = torch.chunk(self.fc(s).unsqueeze(1), 2, dim=-1)  # [B, 1, C] each
        return (1 + gamma) * F.layer_norm(x, (self.channels,), eps=self.eps) + beta


class AdaIN1d(nn.Module):
    """Instance norm over the whole time axis, then the style's scale and shift. This is why a decoder
    window is not exactly the whole sentence: the statistics are the window's."""

    def __init__(self, style_dim: int, channels: int) -> None:
        super().__init__()
        # kokoro declares affine=True (an old exporter bug); checkpoints trained without it load as 1 / 0.
        self.norm = nn.InstanceNorm1d(channels, affine=True)
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = torch.chunk(self.fc(s).unsqueeze(-1), 2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk1d(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample_type = "half" if upsample else "none"
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv1d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv1d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN1d(style_dim, dim_in)
        self.norm2 = AdaIN1d(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv1d(dim_in, dim_out, 1, 1, 0, bias=False)
        self.pool: nn.Module = (nn.ConvTranspose1d(dim_in, dim_in, 3, 2, groups=dim_in, padding=1, output_padding=1)
                                if upsample else nn.Identity())

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample_type != "none":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv1x1(x) if self.learned_sc else x

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        y = self.pool(F.leaky_relu(self.norm1(x, s), 0.2))
        y = self.conv2(F.leaky_relu(self.norm2(self.conv1(y), s), 0.2))
        return (y + self._shortcut(x)) * SQRT_HALF


class TextEncoder(nn.Module):
    """Embedding -> (conv, layer norm, leaky ReLU) x depth -> BiLSTM: ids [B, T] -> [B, C, T]."""

    def __init__(self, channels: int, kernel_size: int, depth: int, n_symbols: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, channels)
        self.cnn = nn.ModuleList(
            nn.Sequential(nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2),
                          LayerNorm(channels), nn.LeakyReLU(0.2), nn.Identity())
            for _ in range(depth))
        self.lstm = nn.LSTM(channels, channels // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids).transpose(1, 2)
        for block in self.cnn:
            x = block(x)
        return self.lstm(x.transpose(1, 2))[0].transpose(1, 2)


class DurationEncoder(nn.Module):
    """(BiLSTM, AdaLayerNorm) x nlayers over the BERT features with the style appended: [B, C, T] -> [B, T, C+S]."""

    def __init__(self, sty_dim: int, d_model: int, nlayers: int) -> None:
        super().__init__()
        self.lstms = nn.ModuleList()
        for _ in range(nlayers):
            self.lstms.append(nn.LSTM(d_model + sty_dim, d_model // 2, 1, batch_first=True, bidirectional=True))
            self.lstms.append(AdaLayerNorm(sty_dim, d_model))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        s = style.unsqueeze(1).expand(-1, x.shape[2], -1)  # [B, T, S]
        x = torch.cat([x.transpose(1, 2), s], dim=-1)
        for block in self.lstms:
            x = torch.cat([block(x, style), s], dim=-1) if isinstance(block, AdaLayerNorm) else block(x)[0]
        return x


class LinearNorm(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


class ProsodyPredictor(nn.Module):
    def __init__(self, style_dim: int, d_hid: int, nlayers: int, max_dur: int) -> None:
        super().__init__()
        self.text_encoder = DurationEncoder(style_dim, d_hid, nlayers)
        self.lstm = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True, bidirectional=True)
        self.duration_proj = LinearNorm(d_hid, max_dur)
        self.shared = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True, bidirectional=True)
        h = d_hid // 2
        self.F0 = nn.ModuleList([AdainResBlk1d(d_hid, d_hid, style_dim), AdainResBlk1d(d_hid, h, style_dim, True),
                                 AdainResBlk1d(h, h, style_dim)])
        self.N = nn.ModuleList([AdainResBlk1d(d_hid, d_hid, style_dim), AdainResBlk1d(d_hid, h, style_dim, True),
                                AdainResBlk1d(h, h, style_dim)])
        self.F0_proj = nn.Conv1d(h, 1, 1, 1, 0)
        self.N_proj = nn.Conv1d(h, 1, 1, 1, 0)

    def durations(self, d: torch.Tensor) -> torch.Tensor:
        """Frames per phoneme at speed 1, before rounding: sigmoid(logits).sum(-1), [B, T]."""
        return torch.sigmoid(self.duration_proj(self.lstm(d)[0])).sum(dim=-1)

    def F0Ntrain(self, en: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: N802
        """Aligned features [B, C+S, F] -> F0 and energy [B, 2F]."""
        x = self.shared(en.transpose(1, 2))[0].transpose(1, 2)
        f0, n = x, x
        for block in self.F0:
            f0 = block(f0, s)
        for block in self.N:
            n = block(n, s)
        return self.F0_proj(f0).squeeze(1), self.N_proj(n).squeeze(1)
