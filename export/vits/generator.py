"""HiFi-GAN generator (VITS `dec`): latent frames -> waveform.

The same module is the mel vocoder of Coqui / jik876 HiFi-GAN (`conv_pre`, `ups`, `resblocks`,
`conv_post` alike), built with `conv_post_bias=True` and the mel channels as `initial_channel`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .layers import LRELU_SLOPE, get_padding


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    # Zeroing masked frames after every convolution makes the next convolution see them as its own zero
    # padding: a window padded with masked frames computes its real frames exactly as the unpadded window.
    return x if mask is None else x * mask


def _upsampled(mask: torch.Tensor | None, rate: int) -> torch.Tensor | None:
    if mask is None:
        return None
    return mask.unsqueeze(-1).expand(-1, -1, -1, rate).reshape(mask.shape[0], 1, -1)


class ResBlock1(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: list[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilation
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=get_padding(kernel_size)) for _ in dilation
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = _masked(x + c2(_masked(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE), mask)), mask)
        return x


class ResBlock2(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilation
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for conv in self.convs:
            x = _masked(x + conv(F.leaky_relu(x, LRELU_SLOPE)), mask)
        return x


class Generator(nn.Module):
    def __init__(
        self,
        initial_channel: int,
        resblock: str,
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        upsample_rates: list[int],
        upsample_initial_channel: int,
        upsample_kernel_sizes: list[int],
        gin_channels: int = 0,
        *,
        conv_post_bias: bool = False,
    ) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.upsample_rates = list(upsample_rates)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i, (rate, kernel) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            ch = upsample_initial_channel // (2 ** (i + 1))
            self.ups.append(nn.ConvTranspose1d(ch * 2, ch, kernel, rate, padding=(kernel - rate) // 2))
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(ch, k, d))
        # VITS drops the last convolution's bias; Coqui's mel HiFi-GAN keeps it.
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=conv_post_bias)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor | None = None, mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        """`mask` [B, 1, T] (1 = a real frame) is optional: without it every frame is real."""
        x = self.conv_pre(_masked(x, mask))
        if g is not None:
            x = x + self.cond(g)
        x = _masked(x, mask)
        for i, up in enumerate(self.ups):
            mask = _upsampled(mask, self.upsample_rates[i])
            x = _masked(up(F.leaky_relu(x, LRELU_SLOPE)), mask)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x, mask)
            for block in blocks[1:]:
                xs = xs + block(x, mask)
            x = xs / self.num_kernels
        # HiFi-GAN's last activation uses torch's default slope (0.01), not LRELU_SLOPE.
        return torch.tanh(self.conv_post(F.leaky_relu(x)))
