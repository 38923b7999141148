"""EnCodec 24 kHz's encoder and residual quantizer at 6 kbps (8 codebooks): prompt audio -> codes. Parameter
names are the `encodec` package's (`encodec_24khz-d7cc33bc.th`: weight-normed convs as weight_g/weight_v,
the LSTM, `quantizer.vq.layers.N._codebook.embed`); nothing here imports `encodec` or downloads.

The graph takes audio whose length is a multiple of the hop (320 samples): then every strided causal
convolution needs no length-dependent extra padding and the codes equal EnCodec's on that audio. The
SDK trims the last partial frame (under 13.3 ms) before encoding.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

RATIOS = (2, 4, 5, 8)  # the encoder's strides, in order (EnCodec lists them reversed)
HOP = 320
CODEBOOKS_6KBPS = 8


class WeightNormConv(nn.Module):
    """EnCodec's SConv1d: causal (reflect padding on the left), weight-normed, as `conv.conv.*`."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Module()
        self.conv.conv = nn.Module()
        inner = self.conv.conv
        inner.weight_g = nn.Parameter(torch.ones(cout, 1, 1))
        inner.weight_v = nn.Parameter(torch.randn(cout, cin, kernel) * 0.1)
        inner.bias = nn.Parameter(torch.zeros(cout))
        self.stride, self.dilation = stride, dilation
        self.padding = (kernel - 1) * dilation - (stride - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = self.conv.conv
        v = inner.weight_v
        weight = inner.weight_g * v / v.norm(dim=(1, 2), keepdim=True)
        if self.padding:
            x = F.pad(x, (self.padding, 0), mode="reflect")
        return F.conv1d(x, weight, inner.bias, stride=self.stride, dilation=self.dilation)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.ModuleList([nn.ELU(), WeightNormConv(dim, dim // 2, 3), nn.ELU(),
                                    WeightNormConv(dim // 2, dim, 1)])
        self.shortcut = WeightNormConv(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for layer in self.block:
            y = layer(y)
        return self.shortcut(x) + y


class SLSTM(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(2, 0, 1)
        return (self.lstm(t)[0] + t).permute(1, 2, 0)


class Encoder(nn.Module):
    """SEANet encoder of the 24 kHz model: 32 filters, one residual block per stride, 2 LSTM layers."""

    def __init__(self, filters: int = 32, dimension: int = 128) -> None:
        super().__init__()
        layers: list[nn.Module] = [WeightNormConv(1, filters, 7)]
        mult = 1
        for ratio in RATIOS:
            layers += [ResnetBlock(mult * filters), nn.ELU(),
                       WeightNormConv(mult * filters, 2 * mult * filters, 2 * ratio, stride=ratio)]
            mult *= 2
        layers += [SLSTM(mult * filters), nn.ELU(), WeightNormConv(mult * filters, dimension, 7)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Codebook(nn.Module):
    def __init__(self, bins: int, dim: int) -> None:
        super().__init__()
        self._codebook = nn.Module()
        self._codebook.register_buffer("embed", torch.randn(bins, dim))


class Quantizer(nn.Module):
    def __init__(self, n_q: int = 32, bins: int = 1024, dim: int = 128) -> None:
        super().__init__()
        self.vq = nn.Module()
        self.vq.layers = nn.ModuleList(Codebook(bins, dim) for _ in range(n_q))


class EncodecEncoder(nn.Module):
    """audio [1, 1, samples] (samples a multiple of 320) -> codes [1, 8, samples / 320]."""

    def __init__(self, n_q: int = 32, filters: int = 32, dimension: int = 128) -> None:
        super().__init__()
        self.encoder = Encoder(filters, dimension)
        self.quantizer = Quantizer(n_q, dim=dimension)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        residual = self.encoder(audio)[0].t()  # [frames, 128]
        codes = []
        for layer in self.quantizer.vq.layers[:CODEBOOKS_6KBPS]:
            embed = layer._codebook.embed
            # The nearest codeword, written as EnCodec writes it (same rounding, same ties).
            dist = -(residual.pow(2).sum(1, keepdim=True) - 2 * residual @ embed.t()
                     + embed.t().pow(2).sum(0, keepdim=True))
            index = dist.argmax(-1)
            codes.append(index)
            residual = residual - F.embedding(index, embed)
        return torch.stack(codes).unsqueeze(0)


class EncodecFileError(ValueError):
    """The EnCodec weights are missing or do not fit (one line)."""


def load_encodec(path: str | Path) -> EncodecEncoder:
    """From `encodec_24khz-d7cc33bc.th` (a state dict; the decoder's keys are ignored)."""
    path = Path(path)
    if not path.is_file():
        raise EncodecFileError(f"{path} is missing: put EnCodec's encodec_24khz-d7cc33bc.th there (copied by hand; "
                               "voxport never downloads it)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise EncodecFileError(f"{path}: expected EnCodec's 24 kHz state dict")
    n_q = sum(1 for k in state if k.startswith("quantizer.vq.layers.") and k.endswith("._codebook.embed"))
    if n_q < CODEBOOKS_6KBPS:
        raise EncodecFileError(f"{path}: expected >= 8 keys quantizer.vq.layers.N._codebook.embed [1024, 128], "
                               f"found {n_q}")
    first, last = "encoder.model.0.conv.conv.weight_v", "quantizer.vq.layers.0._codebook.embed"
    if first not in state or last not in state:
        raise EncodecFileError(f"{path}: lacks {first if first not in state else last!r} (expected EnCodec 24 kHz)")
    model = EncodecEncoder(n_q, filters=int(state[first].shape[0]), dimension=int(state[last].shape[1]))
    wanted = {k: t for k, t in state.items() if k.startswith("encoder.") or k.endswith("._codebook.embed")}
    try:
        model.load_state_dict(wanted, strict=True)
    except RuntimeError as exc:
        line = next((s.strip() for s in str(exc).splitlines()[1:] if s.strip()), str(exc))
        raise EncodecFileError(f"{path}: does not fit EnCodec 24 kHz's encoder: {line}") from None
    return model.eval()
