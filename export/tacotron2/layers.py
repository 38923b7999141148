"""Tacotron2's small modules under NVIDIA DeepLearningExamples' names: LinearNorm (`linear_layer`),
ConvNorm (`conv`), the prenet, and the location-sensitive attention.

Only inference is implemented. What NVIDIA draws at random inside these modules (the prenet's dropout,
always on) is an input here, so every module is a deterministic function the graphs can hold.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Added to the energies of padded phonemes. NVIDIA fills them with -inf; a finite value gives the same
# softmax in fp32 (exp underflows to exactly 0) and, unlike -inf, survives fp16/bf16 arithmetic.
MASKED_ENERGY = -1e4


class LinearNorm(nn.Module):
    """A linear layer under the name `linear_layer` (NVIDIA's wrapper adds only an initialization)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


class ConvNorm(nn.Module):
    """A 1-d convolution with 'same' padding under the name `conv`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Prenet(nn.Module):
    """Linear (no bias) -> ReLU -> dropout, per layer. NVIDIA keeps the dropout on at inference; here its
    multipliers (0 or 1 / (1 - p)) come in as `masks` [B, layers, dim], one row per layer."""

    def __init__(self, in_dim: int, dim: int, n_layers: int) -> None:
        super().__init__()
        sizes = [in_dim] + [dim] * n_layers
        self.layers = nn.ModuleList(LinearNorm(i, o, bias=False) for i, o in zip(sizes[:-1], sizes[1:], strict=True))

    def forward(self, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) * masks[:, i]
        return x


class LocationLayer(nn.Module):
    """The previous and cumulative attention weights [B, 2, T] -> features [B, T, attention_dim]."""

    def __init__(self, n_filters: int, kernel_size: int, attention_dim: int) -> None:
        super().__init__()
        self.location_conv = ConvNorm(2, n_filters, kernel_size, bias=False)
        self.location_dense = LinearNorm(n_filters, attention_dim, bias=False)

    def forward(self, weights_cat: torch.Tensor) -> torch.Tensor:
        return self.location_dense(self.location_conv(weights_cat).transpose(1, 2))


class Attention(nn.Module):
    """Location-sensitive attention: energies v(tanh(query + location + processed memory)), padded
    phonemes pushed to MASKED_ENERGY by the float `mask` (1 real, 0 padding), softmax, context."""

    def __init__(self, rnn_dim: int, embedding_dim: int, attention_dim: int, n_filters: int, kernel_size: int
                 ) -> None:
        super().__init__()
        self.query_layer = LinearNorm(rnn_dim, attention_dim, bias=False)
        self.memory_layer = LinearNorm(embedding_dim, attention_dim, bias=False)
        self.v = LinearNorm(attention_dim, 1, bias=False)
        self.location_layer = LocationLayer(n_filters, kernel_size, attention_dim)

    def forward(self, query: torch.Tensor, memory: torch.Tensor, processed_memory: torch.Tensor,
                weights_cat: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(context [B, C], weights [B, T])."""
        energies = self.v(torch.tanh(
            self.query_layer(query.unsqueeze(1)) + self.location_layer(weights_cat) + processed_memory)).squeeze(2)
        energies = energies + (1.0 - mask) * MASKED_ENERGY
        weights = torch.softmax(energies, dim=1)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        return context, weights
