"""Coqui TTS / jik876 HiFi-GAN as a mel vocoder: config, checkpoint import and the exported module.

The generator is VITS's (export/vits/generator.py): Coqui's `HifiganGenerator` has the same parameter
names (`conv_pre`, `ups`, `resblocks.*.convs1/convs2/convs`, `conv_post`) and keeps `conv_post`'s
bias. Coqui's vocoder checkpoints are GAN checkpoints: the generator under `model_g.`, the
discriminator (`model_d.`, dropped) beside it, weight norm on every convolution (folded here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .coqui_config import MelRenormalize, read_json
from .errors import UnsupportedConfigError
from .vits.generator import Generator
from .weights import fold_weight_norm, generator_state, load_state_strict, read_checkpoint

# Generator parameters that change the computation in ways voxport does not implement.
_UNSUPPORTED = {"cond_channels": 0, "cond_in_each_up_layer": False, "pre_linear": None}
_KNOWN = {
    "in_channels", "out_channels", "resblock_type", "resblock_dilation_sizes", "resblock_kernel_sizes",
    "upsample_kernel_sizes", "upsample_initial_channel", "upsample_factors", "inference_padding",
    "conv_pre_weight_norm", "conv_post_weight_norm", "conv_post_bias", *_UNSUPPORTED,
}


@dataclass
class HifiGanConfig:
    """Defaults are Coqui's HifiganConfig generator_model_params."""

    in_channels: int = 80
    upsample_factors: list[int] = field(default_factory=lambda: [8, 8, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])
    resblock_type: str = "1"
    # Coqui's inference() repeats the edge frames this many times on each side before the generator.
    inference_padding: int = 5
    conv_post_bias: bool = True

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_factors)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_coqui(cls, config: Mapping[str, Any]) -> HifiGanConfig:
        name = str(config.get("generator_model", "hifigan_generator")).lower()
        if name != "hifigan_generator":
            raise UnsupportedConfigError(f"vocoder generator {name!r}: only 'hifigan_generator' is supported")
        params = dict(config.get("generator_model_params") or {})
        unknown = sorted(set(params) - _KNOWN)
        if unknown:
            raise UnsupportedConfigError(f"unknown HiFi-GAN generator parameters {unknown}")
        for key, neutral in _UNSUPPORTED.items():
            if params.get(key, neutral) != neutral:
                raise UnsupportedConfigError(f"HiFi-GAN generator parameter {key}={params[key]!r} is not supported")
        if params.get("out_channels", 1) != 1:
            raise UnsupportedConfigError("multi-band vocoders (out_channels > 1) are not supported")
        c = cls()
        return cls(
            in_channels=int(params.get("in_channels", (config.get("audio") or {}).get("num_mels", c.in_channels))),
            upsample_factors=list(params.get("upsample_factors", c.upsample_factors)),
            upsample_kernel_sizes=list(params.get("upsample_kernel_sizes", c.upsample_kernel_sizes)),
            upsample_initial_channel=int(params.get("upsample_initial_channel", c.upsample_initial_channel)),
            resblock_kernel_sizes=list(params.get("resblock_kernel_sizes", c.resblock_kernel_sizes)),
            resblock_dilation_sizes=[list(d) for d in params.get("resblock_dilation_sizes", c.resblock_dilation_sizes)],
            resblock_type=str(params.get("resblock_type", c.resblock_type)),
            inference_padding=int(params.get("inference_padding", c.inference_padding)),
            conv_post_bias=bool(params.get("conv_post_bias", c.conv_post_bias)),
        )


def build_generator(c: HifiGanConfig) -> Generator:
    return Generator(
        c.in_channels, c.resblock_type, c.resblock_kernel_sizes, c.resblock_dilation_sizes, c.upsample_factors,
        c.upsample_initial_channel, c.upsample_kernel_sizes, conv_post_bias=c.conv_post_bias,
    )


class MelVocoder(nn.Module):
    """The exported vocoder: model mel -> vocoder mel -> Coqui's edge padding -> generator -> audio.

    Coqui's `inference()` returns the audio of the padding frames too ((T + 2p) * hop samples). Here
    they are cut off, so that frame t is samples [t * hop, (t + 1) * hop) as everywhere in the SDK;
    the samples kept are exactly Coqui's middle part.
    """

    def __init__(self, generator: Generator, config: HifiGanConfig, renormalize: MelRenormalize) -> None:
        super().__init__()
        self.generator = generator
        self.renormalize = renormalize
        self.padding = config.inference_padding
        self.hop_length = config.hop_length

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.renormalize(mel)
        if not self.padding:
            return self.generator(x)
        audio = self.generator(F.pad(x, (self.padding, self.padding), mode="replicate"))
        cut = self.padding * self.hop_length
        return audio[:, :, cut:-cut]


def load_hifigan_checkpoint(
    config: str | Path | Mapping[str, Any], checkpoint: str | Path | Mapping[str, object]
) -> tuple[Generator, HifiGanConfig, dict[str, Any]]:
    """(generator in eval mode, its config, the parsed Coqui vocoder config)."""
    coqui = read_json(config)
    hifigan = HifiGanConfig.from_coqui(coqui)
    state = fold_weight_norm(generator_state(read_checkpoint(checkpoint)))
    generator = load_state_strict(build_generator(hifigan), state, "the vocoder checkpoint", "HiFi-GAN")
    return generator, hifigan, coqui

