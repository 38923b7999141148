"""WaveGlow hyper-parameters as NVIDIA DeepLearningExamples saves them in a checkpoint's `config`.

DLE's `models.get_model_config("WaveGlow")` writes `n_mel_channels, n_flows, n_group, n_early_every,
n_early_size, WN_config={n_layers, kernel_size, n_channels}`. A checkpoint without a config (a bare
state dict, a pickled model) has every one of them in its tensor shapes, so they are read from there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..errors import MissingTensorError, UnsupportedConfigError

# WaveGlow's mel upsampling is fixed in NVIDIA's code: ConvTranspose1d(n_mel, n_mel, 1024, stride=256).
HOP_LENGTH = 256
UPSAMPLE_KERNEL = 1024

_TOP_KEYS = {"n_mel_channels", "n_flows", "n_group", "n_early_every", "n_early_size", "WN_config"}
_WN_KEYS = {"n_layers", "kernel_size", "n_channels"}


@dataclass(frozen=True)
class WaveGlowConfig:
    """Defaults are DLE's (waveglow/arg_parser.py); its released checkpoint uses n_channels 512, the
    `--wn-channels 256` variant 256."""

    n_mel_channels: int = 80
    n_flows: int = 12
    n_group: int = 8
    n_early_every: int = 4
    n_early_size: int = 2
    n_layers: int = 8
    n_channels: int = 512
    kernel_size: int = 3

    def __post_init__(self) -> None:
        problems = []
        if self.n_group % 2 or self.n_group < 2:
            problems.append(f"n_group must be even and >= 2, got {self.n_group}")
        elif HOP_LENGTH % self.n_group:
            problems.append(f"n_group must divide the hop length {HOP_LENGTH}, got {self.n_group}")
        if self.kernel_size % 2 == 0 or self.n_channels % 2:
            problems.append(f"WN kernel_size must be odd and n_channels even, got {self.kernel_size}, "
                            f"{self.n_channels}")
        if min(self.n_mel_channels, self.n_flows, self.n_early_every, self.n_layers, self.n_channels) < 1:
            problems.append("n_mel_channels, n_flows, n_early_every, n_layers and n_channels must be >= 1")
        if self.n_early_size % 2 or self.n_early_size < 0:
            problems.append(f"n_early_size must be even and >= 0, got {self.n_early_size}")
        elif self.n_remaining_channels < 2:
            problems.append(f"{len(self.early_flows)} early outputs of {self.n_early_size} channels leave "
                            f"{self.n_remaining_channels} of n_group {self.n_group} channels (need >= 2)")
        if problems:
            raise UnsupportedConfigError("WaveGlow config: " + "; ".join(problems))

    @property
    def early_flows(self) -> tuple[int, ...]:
        """Flows (forward order) before which n_early_size channels leave as an early output."""
        return tuple(k for k in range(1, self.n_flows) if k % self.n_early_every == 0)

    def flow_channels(self, k: int) -> int:
        """Channels flow k transforms: n_group less the early outputs that left before it."""
        return self.n_group - self.n_early_size * sum(1 for e in self.early_flows if e <= k)

    @property
    def n_remaining_channels(self) -> int:
        return self.n_group - self.n_early_size * len(self.early_flows)

    @property
    def z_channels(self) -> int:
        """z's channels: the initial draw plus every early re-insertion = n_group."""
        return self.n_group

    @property
    def steps_per_frame(self) -> int:
        """z's time steps per mel frame: each step is one group of n_group samples."""
        return HOP_LENGTH // self.n_group

    @property
    def hop_length(self) -> int:
        return HOP_LENGTH

    def to_dle(self) -> dict[str, Any]:
        """The `config` dict DLE stores in a checkpoint."""
        d = asdict(self)
        wn = {k: d.pop(k) for k in ("n_layers", "kernel_size", "n_channels")}
        return {**d, "WN_config": wn}

    @classmethod
    def from_dle(cls, config: Mapping[str, Any]) -> WaveGlowConfig:
        unknown = sorted(set(config) - _TOP_KEYS)
        wn = config.get("WN_config")
        if not isinstance(wn, Mapping):
            raise UnsupportedConfigError(f"WaveGlow config has no WN_config dict (keys: {sorted(config)})")
        unknown += sorted(f"WN_config.{k}" for k in set(wn) - _WN_KEYS)
        if unknown:
            raise UnsupportedConfigError(f"unknown WaveGlow config keys {unknown}")
        missing = sorted(_TOP_KEYS - set(config)) + sorted(f"WN_config.{k}" for k in _WN_KEYS - set(wn))
        if missing:
            raise UnsupportedConfigError(f"WaveGlow config lacks {missing}")
        try:
            return cls(**{k: int(config[k]) for k in _TOP_KEYS - {"WN_config"}},
                       **{k: int(wn[k]) for k in _WN_KEYS})
        except (TypeError, ValueError) as exc:
            raise UnsupportedConfigError(f"WaveGlow config values must be integers: {exc}") from exc

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor]) -> WaveGlowConfig:
        """Read the hyper-parameters off the tensor shapes of a DLE-named (weight-norm folded) state."""

        def need(key: str) -> torch.Tensor:
            if key not in state:
                raise MissingTensorError(f"cannot infer the WaveGlow config: the checkpoint has no {key!r}")
            return state[key]

        flows = sorted({int(m.group(1)) for k in state if (m := re.match(r"WN\.(\d+)\.", k))})
        if not flows:
            raise MissingTensorError("cannot infer the WaveGlow config: no 'WN.{k}.*' tensors in the checkpoint")
        layers = {int(m.group(1)) for k in state if (m := re.match(r"WN\.0\.in_layers\.(\d+)\.", k))}
        in_layer = need("WN.0.in_layers.0.weight")
        channels = [int(need(f"convinv.{k}.conv.weight").shape[0]) for k in flows]
        n_group = channels[0]
        drops = [(k, channels[k - 1] - channels[k]) for k in flows[1:] if channels[k] != channels[k - 1]]
        every = drops[0][0] if drops else len(flows)
        size = drops[0][1] if drops else 0
        config = cls(n_mel_channels=int(need("upsample.weight").shape[0]), n_flows=len(flows), n_group=n_group,
                     n_early_every=every, n_early_size=size, n_layers=len(layers),
                     n_channels=int(in_layer.shape[1]), kernel_size=int(in_layer.shape[2]))
        if [config.flow_channels(k) for k in flows] != channels:
            raise UnsupportedConfigError(f"the 1x1 convolutions' sizes {channels} follow no early-output "
                                         "schedule (every n flows, a fixed number of channels)")
        return config
