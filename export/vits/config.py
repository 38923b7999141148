"""Hyper-parameters of a VITS synthesizer (inference part), as in the VITS/Piper training config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class VitsConfig:
    """Everything needed to build the inference modules; defaults are Piper "medium"."""

    n_vocab: int = 256
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    window_size: int = 4
    resblock: str = "2"
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 5, 7])
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 2], [2, 6], [3, 12]])
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 4])
    upsample_initial_channel: int = 256
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 8])
    n_speakers: int = 1
    gin_channels: int = 0
    use_sdp: bool = True
    # Stochastic duration predictor and flow internals (fixed in VITS, but read from weights when importing).
    dp_kernel_size: int = 3
    dp_n_flows: int = 4
    dp_num_bins: int = 10
    dp_tail_bound: float = 5.0
    flow_kernel_size: int = 5
    flow_dilation_rate: int = 1
    flow_n_layers: int = 4
    flow_n_flows: int = 4
    sample_rate: int = 22050

    @property
    def hop_length(self) -> int:
        hop = 1
        for rate in self.upsample_rates:
            hop *= rate
        return hop

    @property
    def multi_speaker(self) -> bool:
        return self.n_speakers > 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VitsConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown VITS hyper-parameters: {unknown}")
        return cls(**data)
