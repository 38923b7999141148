"""GlowTTS text encoder (Coqui `encoder`): embedding, conv prenet, relative-position Transformer,
prior projections and the duration predictor.

The Transformer, its attention and feed-forward layers and the duration predictor are VITS's
modules (same parameter names); only the layer norm differs, which Coqui stores as [1, C, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..vits.duration import DurationPredictor
from ..vits.layers import LayerNorm, sequence_mask
from ..vits.text_encoder import Encoder
from .config import GlowTTSConfig


class CoquiLayerNorm(LayerNorm):
    """Coqui's default LayerNorm ("type 1"): gamma/beta stored as [1, C, 1], eps 1e-4.

    Computed with layer_norm over the channel axis, like VITS's: the same math as Coqui's explicit
    mean/variance, and one ONNX LayerNormalization node instead of a chain of reductions.
    """

    def __init__(self, channels: int, eps: float = 1e-4) -> None:
        super().__init__(channels, eps)
        self.gamma = nn.Parameter(torch.ones(1, channels, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma.reshape(-1), self.beta.reshape(-1), self.eps)
        return x.transpose(1, -1)


def layer_norm_factory(layer_norm_type: str) -> type[LayerNorm]:
    """Coqui's layer_norm_type: "1" is its own LayerNorm, "2" torch's layer_norm with [C] parameters."""
    if layer_norm_type == "1":
        return CoquiLayerNorm
    if layer_norm_type == "2":
        return LayerNorm
    raise ValueError(f"unknown layer_norm_type {layer_norm_type!r}")


class ResidualConv1dLayerNormBlock(nn.Module):
    """Coqui's encoder prenet: (conv -> layer norm -> relu) x n, then a 1x1 projection added back."""

    def __init__(self, channels: int, kernel_size: int = 5, num_layers: int = 3) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2) for _ in range(num_layers)
        )
        self.norm_layers = nn.ModuleList(CoquiLayerNorm(channels) for _ in range(num_layers))
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        residual = x
        for conv, norm in zip(self.conv_layers, self.norm_layers, strict=True):
            x = torch.relu(norm(conv(x * x_mask) * x_mask))
        return (residual + self.proj(x)) * x_mask


class TextEncoder(nn.Module):
    """Phoneme ids -> hidden states, prior mean / log-std (zeros when mean_only) and log-durations."""

    def __init__(self, c: GlowTTSConfig) -> None:
        super().__init__()
        hidden = c.hidden_channels_enc
        norm = layer_norm_factory(c.layer_norm_type)
        self.hidden_channels = hidden
        self.mean_only = c.mean_only
        self.emb = nn.Embedding(c.n_vocab, hidden)
        nn.init.normal_(self.emb.weight, 0.0, hidden**-0.5)
        if c.use_encoder_prenet:
            self.prenet = ResidualConv1dLayerNormBlock(hidden)
        self.encoder = Encoder(
            hidden,
            c.encoder_hidden_channels_ffn,
            c.encoder_num_heads,
            c.encoder_num_layers,
            c.encoder_kernel_size,
            c.rel_attn_window_size,
            norm=norm,
            block_length=c.input_length,
        )
        self.proj_m = nn.Conv1d(hidden, c.out_channels, 1)
        if not c.mean_only:
            self.proj_s = nn.Conv1d(hidden, c.out_channels, 1)
        # Coqui concatenates the speaker embedding to the predictor's input instead of adding it.
        self.duration_predictor = DurationPredictor(
            hidden + c.speaker_channels, c.hidden_channels_dp, 3, norm=CoquiLayerNorm
        )

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """hidden [B, H, T], prior mean and log-std [B, C, T], phoneme mask [B, 1, T]."""
        x = self.emb(ids) * math.sqrt(self.hidden_channels)
        x = x.transpose(1, -1)
        x_mask = sequence_mask(lengths, x.size(2)).unsqueeze(1).to(x.dtype)
        if hasattr(self, "prenet"):
            x = self.prenet(x, x_mask)
        x = self.encoder(x, x_mask)
        mean = self.proj_m(x) * x_mask
        log_std = torch.zeros_like(mean) if self.mean_only else self.proj_s(x) * x_mask
        return x, mean, log_std, x_mask

    def log_durations(
        self, hidden: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log(1 + frames) per phoneme, [B, 1, T]; `g` is the speaker embedding [B, H, 1]."""
        if g is not None:
            hidden = torch.cat([hidden, g.expand(-1, -1, hidden.size(-1))], 1)
        return self.duration_predictor(hidden, x_mask)
