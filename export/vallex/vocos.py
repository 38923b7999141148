"""Vocos (charactr/vocos-encodec-24khz) as two graphs: EnCodec codebook embeddings (codes -> features)
and backbone + ISTFT head (features -> audio). Parameter names are the `vocos` package's, so its
`pytorch_model.bin` loads by name; nothing here imports `vocos` or downloads anything.

The ISTFT is written with matrix products and a transposed convolution (overlap-add) instead of
torch.fft.irfft, which ONNX export does not support: the inverse real DFT of each frame is a fixed
[n_fft, bins] basis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BANDWIDTH_6KBPS = 2  # index of 6.0 kbps in Vocos' bandwidths [1.5, 3, 6, 12]: VALL-E X's 8 codebooks


@dataclass(frozen=True)
class VocosConfig:
    input_channels: int = 128
    dim: int = 384
    intermediate_dim: int = 1152
    num_layers: int = 8
    adanorm_num_embeddings: int = 4
    n_fft: int = 1280
    hop_length: int = 320
    bins: int = 1024  # per EnCodec codebook

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_yaml(cls, d: dict[str, Any]) -> VocosConfig:
        """From Vocos' config.yaml (its backbone and head init_args); KeyError names what is absent."""
        b, h = d["backbone"]["init_args"], d["head"]["init_args"]
        if h.get("padding", "same") != "same":
            raise ValueError(f"head padding {h.get('padding')!r}: only 'same' is supported")
        return cls(input_channels=b["input_channels"], dim=b["dim"], intermediate_dim=b["intermediate_dim"],
                   num_layers=b["num_layers"], adanorm_num_embeddings=b.get("adanorm_num_embeddings") or 0,
                   n_fft=h["n_fft"], hop_length=h["hop_length"])


class AdaLayerNorm(nn.Module):
    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.scale = nn.Embedding(n, dim)
        self.shift = nn.Embedding(n, dim)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, bandwidth: int) -> torch.Tensor:
        x = F.layer_norm(x, (self.dim,), eps=1e-6)
        return x * self.scale.weight[bandwidth] + self.shift.weight[bandwidth]


class ConvNeXtBlock(nn.Module):
    def __init__(self, c: VocosConfig) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(c.dim, c.dim, 7, padding=3, groups=c.dim)
        self.norm = AdaLayerNorm(c.adanorm_num_embeddings, c.dim)
        self.pwconv1 = nn.Linear(c.dim, c.intermediate_dim)
        self.pwconv2 = nn.Linear(c.intermediate_dim, c.dim)
        self.gamma = nn.Parameter(torch.full((c.dim,), 1.0 / c.num_layers))

    def forward(self, x: torch.Tensor, bandwidth: int) -> torch.Tensor:
        y = self.norm(self.dwconv(x).transpose(1, 2), bandwidth)
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + y.transpose(1, 2)


class Backbone(nn.Module):
    def __init__(self, c: VocosConfig) -> None:
        super().__init__()
        self.embed = nn.Conv1d(c.input_channels, c.dim, 7, padding=3)
        self.norm = AdaLayerNorm(c.adanorm_num_embeddings, c.dim)
        self.convnext = nn.ModuleList(ConvNeXtBlock(c) for _ in range(c.num_layers))
        self.final_layer_norm = nn.LayerNorm(c.dim, eps=1e-6)

    def forward(self, x: torch.Tensor, bandwidth: int) -> torch.Tensor:
        x = self.norm(self.embed(x).transpose(1, 2), bandwidth).transpose(1, 2)
        for block in self.convnext:
            x = block(x, bandwidth)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFTHead(nn.Module):
    """Magnitude/phase per bin -> audio, "same" padding: T frames give T * hop samples."""

    def __init__(self, c: VocosConfig) -> None:
        super().__init__()
        self.n_fft, self.hop = c.n_fft, c.hop_length
        self.out = nn.Linear(c.dim, c.n_fft + 2)
        bins = c.n_fft // 2 + 1
        k = torch.arange(bins, dtype=torch.float64)
        n = torch.arange(c.n_fft, dtype=torch.float64)
        angle = 2 * math.pi * n.unsqueeze(1) * k.unsqueeze(0) / c.n_fft
        # irfft with norm="backward": DC and Nyquist counted once, other bins twice; their imaginary
        # parts do not contribute (sin is 0 there).
        weight = torch.full((bins,), 2.0, dtype=torch.float64)
        weight[0] = weight[-1] = 1.0
        window = torch.hann_window(c.n_fft, dtype=torch.float64)
        self.register_buffer("cos_basis", (torch.cos(angle) * weight / c.n_fft * window.unsqueeze(1)).float(),
                             persistent=False)
        self.register_buffer("sin_basis", (-torch.sin(angle) * weight / c.n_fft * window.unsqueeze(1)).float(),
                             persistent=False)
        self.istft = _Window(c.n_fft)  # Vocos saves its window as head.istft.window
        self.register_buffer("ola", torch.eye(c.n_fft).unsqueeze(1), persistent=False)  # [n_fft, 1, n_fft]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mag, phase = self.out(x).transpose(1, 2).chunk(2, dim=1)  # [B, bins, T]
        mag = torch.clip(torch.exp(mag), max=1e2)
        frames = self.cos_basis @ (mag * torch.cos(phase)) + self.sin_basis @ (mag * torch.sin(phase))
        audio = F.conv_transpose1d(frames, self.ola, stride=self.hop)  # overlap-add: [B, 1, (T-1)hop+n_fft]
        t = x.shape[1]
        squares = (self.istft.window ** 2).reshape(1, -1, 1).expand(1, -1, t)
        envelope = F.conv_transpose1d(squares, self.ola, stride=self.hop)
        pad = (self.n_fft - self.hop) // 2
        return audio[:, :, pad:-pad] / envelope[:, :, pad:-pad]


class _Window(nn.Module):
    def __init__(self, n_fft: int) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(n_fft))


class VocosDecoder(nn.Module):
    """features [B, 128, T] -> audio [B, 1, T * hop] at the 6 kbps bandwidth."""

    def __init__(self, c: VocosConfig = VocosConfig()) -> None:
        super().__init__()
        self.config = c
        self.backbone = Backbone(c)
        self.head = ISTFTHead(c)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(features, BANDWIDTH_6KBPS))


class CodebookEmbedding(nn.Module):
    """codes [B, 8, T] -> features [B, 128, T]: the sum of each codebook's EnCodec embedding (Vocos'
    `codes_to_features` with its `feature_extractor.codebook_weights`, 1024 rows per codebook)."""

    def __init__(self, weights: torch.Tensor, codebooks: int = 8, bins: int = 1024) -> None:
        super().__init__()
        self.bins = bins
        self.register_buffer("codebook_weights", weights[: codebooks * bins].clone())
        self.register_buffer("offsets", (torch.arange(codebooks) * bins).reshape(1, -1, 1))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes + self.offsets, self.codebook_weights).sum(1).transpose(1, 2)


class VocosFileError(ValueError):
    """A Vocos file is missing or does not fit: one line naming the file and what was expected."""


def load_vocos(directory: str | Path) -> tuple[VocosDecoder, CodebookEmbedding]:
    """Vocos from a local copy of charactr/vocos-encodec-24khz (config.yaml + pytorch_model.bin)."""
    import yaml

    d = Path(directory)
    where = (f"put charactr/vocos-encodec-24khz's config.yaml and pytorch_model.bin in {d} "
             "(copied by hand from a machine with network access)")
    for name in ("config.yaml", "pytorch_model.bin"):
        if not (d / name).is_file():
            raise VocosFileError(f"{d / name} is missing: {where}")
    try:
        config = VocosConfig.from_yaml(yaml.safe_load((d / "config.yaml").read_text()))
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise VocosFileError(f"{d / 'config.yaml'}: not a Vocos config with backbone/head init_args ({exc})"
                             ) from None
    state = torch.load(d / "pytorch_model.bin", map_location="cpu", weights_only=True)
    key = "feature_extractor.codebook_weights"
    if key not in state or state[key].shape[0] < 8 * config.bins or state[key].shape[1] != config.input_channels:
        got = tuple(state[key].shape) if key in state else "absent"
        raise VocosFileError(f"{d / 'pytorch_model.bin'}: {key} must be [>= {8 * config.bins}, "
                             f"{config.input_channels}], got {got}")
    decoder = VocosDecoder(config)
    wanted = {k: v for k, v in state.items() if k.startswith(("backbone.", "head."))}
    try:
        decoder.load_state_dict(wanted, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise VocosFileError(f"{d / 'pytorch_model.bin'}: does not fit the config's Vocos: {first}") from None
    return decoder.eval(), CodebookEmbedding(state[key], bins=config.bins).eval()
