"""GlowTTS decoder (Coqui `decoder`): ActNorm, invertible 1x1 convolution and affine coupling, x N,
between a squeeze and an unsqueeze of the time axis.

Inference-only: `forward` runs the flows in reverse (latent -> mel), as Coqui's `reverse=True`. The
WaveNet inside each coupling block is VITS's (same parameter names, weight norm folded on import).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..vits.flow import WN
from .config import GlowTTSConfig


def squeeze(x: torch.Tensor, x_mask: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, C, T] -> [B, C*n, T/n]: frames t*n..t*n+n-1 become one step. T must be a multiple of n
    (the SDK makes it so; Coqui drops the frames past the last multiple, which the SDK mirrors)."""
    b, c, _ = x.shape
    x = x.reshape(b, c, -1, n).permute(0, 3, 1, 2).reshape(b, c * n, -1)
    x_mask = x_mask[:, :, n - 1 :: n]
    return x * x_mask, x_mask


def unsqueeze(x: torch.Tensor, x_mask: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of `squeeze`: [B, C*n, T/n] -> [B, C, T]."""
    b, c, _ = x.shape
    x = x.reshape(b, n, c // n, -1).permute(0, 2, 3, 1).reshape(b, c // n, -1)
    x_mask = x_mask.unsqueeze(-1).repeat(1, 1, 1, n).reshape(b, 1, -1)
    return x * x_mask, x_mask


class ActNorm(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.logs = nn.Parameter(torch.zeros(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        return (x - self.bias) * torch.exp(-self.logs) * x_mask


class InvConvNear(nn.Module):
    """Invertible 1x1 convolution over groups of `num_splits` channels, run backwards.

    The inverse is not something a graph should compute (ONNX has no matrix inverse, and computing it
    on a device in reduced precision would change it): it is taken in float64 from the weight, stored
    as fp32 and exported as a constant. `store_inverse()` refreshes it; in torch it is recomputed on
    every call, so a model whose weights changed after export disagrees with its graph visibly.
    """

    def __init__(self, channels: int, num_splits: int = 4) -> None:
        super().__init__()
        if num_splits % 2 or channels % num_splits:
            raise ValueError(f"num_splits {num_splits} must be even and divide the {channels} channels")
        self.channels = channels
        self.num_splits = num_splits
        self.weight = nn.Parameter(torch.linalg.qr(torch.randn(num_splits, num_splits))[0])
        self.register_buffer("weight_inv", torch.eye(num_splits), persistent=False)

    def inverse(self) -> torch.Tensor:
        return torch.linalg.inv(self.weight.detach().double()).float()

    def store_inverse(self) -> None:
        self.weight_inv = self.inverse()

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        b, c, _ = x.shape
        n = self.num_splits
        weight = self.weight_inv if torch.onnx.is_in_onnx_export() else self.inverse()
        # Coqui's channel grouping: two halves, each cut into n/2 groups; group k of both halves mix.
        x = x.reshape(b, 2, c // n, n // 2, -1).permute(0, 1, 3, 2, 4).reshape(b, n, c // n, -1)
        z = F.conv2d(x, weight.view(n, n, 1, 1))
        z = z.reshape(b, 2, n // 2, c // n, -1).permute(0, 1, 3, 2, 4).reshape(b, c, -1)
        return z * x_mask


class CouplingBlock(nn.Module):
    """Affine coupling: the first half of the channels predicts shift and log-scale of the second."""

    def __init__(self, channels: int, c: GlowTTSConfig) -> None:
        super().__init__()
        hidden = c.hidden_channels_dec
        self.half = channels // 2
        self.sigmoid_scale = c.sigmoid_scale
        self.start = nn.Conv1d(self.half, hidden, 1)
        self.end = nn.Conv1d(hidden, channels, 1)
        self.wn = WN(hidden, c.kernel_size_dec, c.dilation_rate, c.num_block_layers, c.speaker_channels)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        x_0, x_1 = x[:, : self.half], x[:, self.half :]
        out = self.end(self.wn(self.start(x_0) * x_mask, x_mask, g))
        t, s = out[:, : self.half], out[:, self.half :]
        if self.sigmoid_scale:
            s = torch.log(1e-6 + torch.sigmoid(s + 2))
        return torch.cat([x_0, (x_1 - t) * torch.exp(-s) * x_mask], 1)


class Decoder(nn.Module):
    def __init__(self, c: GlowTTSConfig) -> None:
        super().__init__()
        self.num_squeeze = c.num_squeeze
        channels = c.out_channels * c.num_squeeze
        self.flows = nn.ModuleList()
        for _ in range(c.num_flow_blocks_dec):
            self.flows.append(ActNorm(channels))
            self.flows.append(InvConvNear(channels, c.num_splits))
            self.flows.append(CouplingBlock(channels, c))

    def store_inverse(self) -> None:
        for flow in self.flows:
            if isinstance(flow, InvConvNear):
                flow.store_inverse()

    def forward(self, z: torch.Tensor, z_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """Prior latent [B, C, T] -> mel [B, C, T] (T a multiple of num_squeeze)."""
        n = self.num_squeeze
        if n > 1:
            z, z_mask = squeeze(z, z_mask, n)
        for flow in reversed(self.flows):
            z = flow(z, z_mask, g=g)
        if n > 1:
            z, z_mask = unsqueeze(z, z_mask, n)
        return z
