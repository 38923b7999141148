"""NVIDIA DeepLearningExamples' HiFi-GAN as Tacotron2's vocoder: its generator checkpoint imported into
voxport's HiFi-GAN generator (export/vits/generator.py, built through export/hifigan.py).

DLE's HiFi-GAN training saves the generator checkpoint as `{"generator": state dict, "gen_ema": ...,
"config": generator hyper-parameters, "train_setup": audio settings, "train_state": ...}`; the
generator has weight norm on every convolution (`weight_g`/`weight_v`, folded here), keeps
`conv_post`'s bias, and groups its residual blocks per upsampling stage (`resblocks.{stage}.{kernel}`),
where voxport's generator numbers them flat (`resblocks.{stage * n_kernels + kernel}`, also DLE's own
older layout). It is trained on the same natural-log mels as Tacotron2, so the graph is the generator
alone: latent (the postnet's mel) -> audio, hop_length samples per frame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelImportError, UnsupportedConfigError
from ..hifigan import HifiGanConfig, build_generator
from ..spec import GraphSpec
from ..stage_specs import Speakers, vocoder_spec
from ..vits.generator import Generator
from ..weights import fold_weight_norm, load_state_strict
from .checkpoint_import import read_checkpoint_dict

# DLE's generator arguments (hifigan/arg_parser.py defaults) and their HifiGanConfig fields.
DLE_DEFAULTS: dict[str, Any] = {
    "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4], "upsample_initial_channel": 512,
    "resblock": "1", "resblock_kernel_sizes": [11, 7, 3], "resblock_dilation_sizes": [[1, 3, 5]] * 3,
}
# The audio a DLE HiFi-GAN was trained on (`train_setup`) that must match the mel it is given.
MEL_KEYS = ("sampling_rate", "hop_length", "num_mels", "filter_length", "win_length", "mel_fmin", "mel_fmax")
_GROUPED = re.compile(r"resblocks\.(\d+)\.(\d+)\.(.+)")


def hifigan_config(config: Mapping[str, Any] | None, n_mel: int) -> HifiGanConfig:
    """voxport's HiFi-GAN config from DLE's saved generator config (its defaults where a key is absent)."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(DLE_DEFAULTS))
    if unknown:
        raise UnsupportedConfigError(f"unknown DLE HiFi-GAN generator config keys {unknown}")
    c = {**DLE_DEFAULTS, **config}
    try:
        return HifiGanConfig(
            in_channels=n_mel, upsample_factors=[int(r) for r in c["upsample_rates"]],
            upsample_kernel_sizes=[int(k) for k in c["upsample_kernel_sizes"]],
            upsample_initial_channel=int(c["upsample_initial_channel"]),
            resblock_kernel_sizes=[int(k) for k in c["resblock_kernel_sizes"]],
            resblock_dilation_sizes=[[int(d) for d in ds] for ds in c["resblock_dilation_sizes"]],
            resblock_type=str(c["resblock"]), inference_padding=0, conv_post_bias=True,
        )
    except (TypeError, ValueError) as exc:
        raise UnsupportedConfigError(f"DLE HiFi-GAN config: {exc}") from exc


def _flat_resblocks(state: Mapping[str, torch.Tensor], n_kernels: int) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        m = _GROUPED.fullmatch(key)
        out[f"resblocks.{int(m[1]) * n_kernels + int(m[2])}.{m[3]}" if m else key] = value
    return out


def _weight_g_full_rank(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """DLE loads weight_g saved with a trailing dimension fewer or more (its conv1d/conv2d fix); give each the
    rank of its weight_v so the norm folds per output channel."""
    for key in [k for k in state if k.endswith(".weight_g")]:
        v = state.get(key[: -len("_g")] + "_v")
        if v is not None and state[key].dim() != v.dim() and state[key].numel() == v.shape[0]:
            state[key] = state[key].reshape(v.shape[0], *[1] * (v.dim() - 1))
    return state


def load_dle_hifigan(checkpoint: str | Path | Mapping[str, object], *, n_mel: int = 80,
                     mel: Mapping[str, Any] | None = None) -> tuple[Generator, HifiGanConfig, dict[str, Any]]:
    """(generator in eval mode, its config, the checkpoint's train_setup) from a DLE HiFi-GAN generator
    checkpoint (or a bare generator state dict, read with DLE's default hyper-parameters).

    `mel`, when given, holds the MEL_KEYS the feeding model's mel has; a train_setup that disagrees is
    refused, as the vocoder would then be fed a mel it was not trained on.
    """
    raw = read_checkpoint_dict(checkpoint)
    config, setup = None, {}
    if isinstance(raw.get("generator"), Mapping):
        config, setup = raw.get("config"), dict(raw.get("train_setup") or {})
        raw = raw["generator"]
    elif any(isinstance(raw.get(k), Mapping) for k in ("mpd", "msd")):
        raise ModelImportError("this is DLE HiFi-GAN's discriminator checkpoint; give the generator's "
                               "(hifigan_gen_checkpoint_*.pt)")
    not_tensors = sorted(str(k) for k, v in raw.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise ModelImportError(f"not a HiFi-GAN generator state dict: entries that are no tensors {not_tensors[:5]}")
    if mel is not None:
        wrong = {k: (setup[k], mel[k]) for k in MEL_KEYS if k in setup and k in mel and setup[k] != mel[k]}
        if wrong:
            raise UnsupportedConfigError(f"the HiFi-GAN was trained on another mel (theirs, the model's): {wrong}")
    hifigan = hifigan_config(config, n_mel)
    state = {re.sub(r"^module\.", "", k): v for k, v in raw.items()}
    state = fold_weight_norm(_weight_g_full_rank(_flat_resblocks(state, len(hifigan.resblock_kernel_sizes))))
    generator = load_state_strict(build_generator(hifigan), state, "the HiFi-GAN checkpoint", "HiFi-GAN")
    return generator, hifigan, setup


def dle_hifigan_vocoder_spec(generator: Generator, n_mel: int) -> GraphSpec:
    """The `vocoder` graph: latent [B, n_mel, F] -> audio [B, 1, F * hop_length]."""
    return vocoder_spec(generator.eval(), channels=n_mel, speakers=Speakers(1, 0))
