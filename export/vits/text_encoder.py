"""Prior text encoder: phoneme embedding + relative-position Transformer (VITS `enc_p`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .layers import LayerNorm, sequence_mask


class MultiHeadAttention(nn.Module):
    """Self-attention with learned relative-position keys/values inside a +-window (shared by heads).

    Also Coqui's RelativePositionMultiHeadAttention (GlowTTS): same parameters, and its scaling of the
    relative logits by 1/sqrt(d) after the matmul equals scaling the query before it. Coqui configs may
    leave out the window (`window_size=None`: plain attention, no relative embeddings) or limit
    attention to a band of +-`block_length` positions (its `input_length`).
    """

    def __init__(
        self, channels: int, n_heads: int, window_size: int | None, block_length: int | None = None
    ) -> None:
        super().__init__()
        assert channels % n_heads == 0
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.block_length = block_length
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        if window_size is not None:
            std = self.k_channels**-0.5
            self.emb_rel_k = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * std)
            self.emb_rel_v = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * std)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.conv_q(x), self.conv_k(x), self.conv_v(x)
        b, d, t = k.shape
        q = q.view(b, self.n_heads, self.k_channels, t).transpose(2, 3)
        k = k.view(b, self.n_heads, self.k_channels, t).transpose(2, 3)
        v = v.view(b, self.n_heads, self.k_channels, t).transpose(2, 3)
        q = q / math.sqrt(self.k_channels)
        scores = torch.matmul(q, k.transpose(-2, -1))
        if self.window_size is not None:
            rel_k = self._relative_embeddings(self.emb_rel_k, t)
            rel_logits = torch.matmul(q, rel_k.unsqueeze(0).transpose(-2, -1))
            scores = scores + self._relative_to_absolute(rel_logits)
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        if self.block_length is not None:
            scores = scores.masked_fill(self._outside_band(t, scores.device), -1e4)
        p_attn = F.softmax(scores, dim=-1)
        out = torch.matmul(p_attn, v)
        if self.window_size is not None:
            rel_v = self._relative_embeddings(self.emb_rel_v, t)
            out = out + torch.matmul(self._absolute_to_relative(p_attn), rel_v.unsqueeze(0))
        out = out.transpose(2, 3).contiguous().view(b, d, t)
        return self.conv_o(out)

    def _outside_band(self, length: int, device: torch.device) -> torch.Tensor:
        positions = torch.arange(length, device=device)
        return (positions.unsqueeze(0) - positions.unsqueeze(1)).abs() > self.block_length

    def _relative_embeddings(self, emb: torch.Tensor, length: int) -> torch.Tensor:
        # VITS pads by max(length - window - 1, 0); padding by `length` always covers that and needs no
        # Python branch on a traced size, so the exported graph stays valid for every length.  A concat,
        # not F.pad: OpenVINO's CPU plugin (2024.6-2026.4) fails at inference on the Pad torch exports for
        # a length-dependent pad of a constant.
        zeros = emb.new_zeros(emb.shape[0], length, emb.shape[2])
        padded = torch.cat([zeros, emb, zeros], dim=1)
        start = self.window_size + 1
        return padded[:, start : start + 2 * length - 1]

    @staticmethod
    def _relative_to_absolute(x: torch.Tensor) -> torch.Tensor:
        b, h, length, _ = x.shape
        x = F.pad(x, [0, 1])
        x_flat = x.view(b, h, length * 2 * length)
        x_flat = F.pad(x_flat, [0, length - 1])
        return x_flat.view(b, h, length + 1, 2 * length - 1)[:, :, :length, length - 1 :]

    @staticmethod
    def _absolute_to_relative(x: torch.Tensor) -> torch.Tensor:
        b, h, length, _ = x.shape
        x = F.pad(x, [0, length - 1])
        x_flat = x.view(b, h, length * length + length * (length - 1))
        x_flat = F.pad(x_flat, [length, 0])
        return x_flat.view(b, h, length, 2 * length)[:, :, :, 1:]


class FFN(nn.Module):
    def __init__(self, channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.pad = [(kernel_size - 1) // 2, kernel_size // 2]
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_1(F.pad(x * x_mask, self.pad)))
        return self.conv_2(F.pad(x * x_mask, self.pad)) * x_mask


class Encoder(nn.Module):
    """Relative-position Transformer; also Coqui's RelativePositionTransformer (GlowTTS), whose layer
    norms are given by `norm` (Coqui masks each layer's input as well, which changes only padding)."""

    def __init__(
        self,
        hidden: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        window: int | None,
        *,
        norm: Callable[[int], nn.Module] = LayerNorm,
        block_length: int | None = None,
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.attn_layers = nn.ModuleList(
            MultiHeadAttention(hidden, n_heads, window, block_length) for _ in range(n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(norm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(FFN(hidden, filter_channels, kernel_size) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(norm(hidden) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for attn, norm_1, ffn, norm_2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = norm_1(x + attn(x, attn_mask))
            x = norm_2(x + ffn(x, x_mask))
        return x * x_mask


class TextEncoder(nn.Module):
    def __init__(
        self,
        n_vocab: int,
        out_channels: int,
        hidden: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        window: int,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.hidden = hidden
        self.emb = nn.Embedding(n_vocab, hidden)
        nn.init.normal_(self.emb.weight, 0.0, hidden**-0.5)
        self.encoder = Encoder(hidden, filter_channels, n_heads, n_layers, kernel_size, window)
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.emb(ids) * math.sqrt(self.hidden)
        x = x.transpose(1, -1)
        x_mask = sequence_mask(lengths, x.size(2)).unsqueeze(1).to(x.dtype)
        x = self.encoder(x * x_mask, x_mask)
        stats = self.proj(x) * x_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return x, m, logs, x_mask
