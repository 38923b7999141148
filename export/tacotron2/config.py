"""Hyper-parameters of an NVIDIA DeepLearningExamples Tacotron2, under NVIDIA's argument names.

DLE's training script saves them as the checkpoint's `config` dict (the keyword arguments of its
`Tacotron2` class); a bare state dict has none, and then every size is read off the tensor shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from ..errors import MissingTensorError, UnsupportedConfigError

# Keys of DLE's config that change nothing at inference here: padding masks of the training loss, and
# a benchmarking switch that runs the loop to max_decoder_steps (the SDK's loop owns stopping).
_IGNORED = {"mask_padding", "decoder_no_early_stopping"}


@dataclass(frozen=True)
class Tacotron2Config:
    """Defaults are DLE's (tacotron2/arg_parser.py); max_decoder_steps is its training default."""

    n_mel_channels: int = 80
    n_symbols: int = 148
    symbols_embedding_dim: int = 512
    encoder_kernel_size: int = 5
    encoder_n_convolutions: int = 3
    encoder_embedding_dim: int = 512
    attention_rnn_dim: int = 1024
    attention_dim: int = 128
    attention_location_n_filters: int = 32
    attention_location_kernel_size: int = 31
    n_frames_per_step: int = 1
    decoder_rnn_dim: int = 1024
    prenet_dim: int = 256
    max_decoder_steps: int = 2000
    gate_threshold: float = 0.5
    p_attention_dropout: float = 0.1  # training only: NVIDIA's eval mode turns it off
    p_decoder_dropout: float = 0.1  # training only
    postnet_embedding_dim: int = 512
    postnet_kernel_size: int = 5
    postnet_n_convolutions: int = 5
    # Not an argument of NVIDIA's class (always 2 layers of prenet_dim there); kept general for the shapes.
    prenet_n_layers: int = 2

    def __post_init__(self) -> None:
        if self.n_frames_per_step != 1:
            raise UnsupportedConfigError(
                f"n_frames_per_step={self.n_frames_per_step}: only 1 frame per decoder step is supported")
        if self.symbols_embedding_dim != self.encoder_embedding_dim:
            raise UnsupportedConfigError(
                f"symbols_embedding_dim {self.symbols_embedding_dim} != encoder_embedding_dim "
                f"{self.encoder_embedding_dim}: NVIDIA's encoder convolves the embedding directly")
        for name in ("encoder_kernel_size", "attention_location_kernel_size", "postnet_kernel_size"):
            if getattr(self, name) % 2 != 1:
                raise UnsupportedConfigError(f"{name}={getattr(self, name)}: 'same' padding needs an odd kernel")
        if self.encoder_embedding_dim % 2:
            raise UnsupportedConfigError("encoder_embedding_dim must be even (two LSTM directions of half each)")
        if self.postnet_n_convolutions < 2:
            raise UnsupportedConfigError("postnet_n_convolutions must be >= 2")
        if not 0.0 < self.gate_threshold < 1.0:
            raise UnsupportedConfigError(f"gate_threshold must lie in (0, 1), got {self.gate_threshold}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_nvidia(cls, config: Mapping[str, Any] | None, state: Mapping[str, torch.Tensor]) -> Tacotron2Config:
        """From a DLE checkpoint's `config` dict; sizes it lacks (all, for a bare state dict) come from the
        tensors. Keys voxport does not know are refused rather than ignored."""
        config = dict(config or {})
        known = {f.name for f in fields(cls)} - {"prenet_n_layers"}
        unknown = sorted(set(config) - known - _IGNORED)
        if unknown:
            raise UnsupportedConfigError(f"unknown Tacotron2 config keys {unknown}")
        inferred = shapes_from_state(state) if state else {}  # no state: the config alone (tests)
        values = {**inferred, **{k: v for k, v in config.items() if k in known}}
        values["prenet_n_layers"] = _count(state, r"decoder\.prenet\.layers\.(\d+)\.linear_layer\.weight") or 2
        try:
            typed = {k: _typed(cls, k, v) for k, v in values.items()}
        except (TypeError, ValueError) as exc:
            raise UnsupportedConfigError(f"Tacotron2 config: {exc}") from exc
        return cls(**typed)


def _typed(cls: type, name: str, value: Any) -> Any:
    default = next(f.default for f in fields(cls) if f.name == name)
    return float(value) if isinstance(default, float) else int(value)


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    found = {int(m.group(1)) for key in state if (m := re.fullmatch(pattern, key))}
    return max(found) + 1 if found else 0


def _shape(state: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise MissingTensorError(f"Tacotron2 parameter {key} not found in the checkpoint")
    return tuple(state[key].shape)


def shapes_from_state(state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Every size of the architecture, read off NVIDIA-named tensors (for checkpoints without a config)."""
    n_symbols, embedding = _shape(state, "embedding.weight")
    enc_out, _, enc_kernel = _shape(state, "encoder.convolutions.0.0.conv.weight")
    n_filters, _, loc_kernel = _shape(state, "decoder.attention_layer.location_layer.location_conv.conv.weight")
    post_dim, n_mel, post_kernel = _shape(state, "postnet.convolutions.0.0.conv.weight")
    projected = _shape(state, "decoder.linear_projection.linear_layer.weight")[0]
    return {
        "n_mel_channels": n_mel,
        "n_symbols": n_symbols,
        "symbols_embedding_dim": embedding,
        "encoder_kernel_size": enc_kernel,
        "encoder_n_convolutions": _count(state, r"encoder\.convolutions\.(\d+)\.0\.conv\.weight"),
        "encoder_embedding_dim": enc_out,
        "attention_rnn_dim": _shape(state, "decoder.attention_rnn.weight_hh")[1],
        "attention_dim": _shape(state, "decoder.attention_layer.query_layer.linear_layer.weight")[0],
        "attention_location_n_filters": n_filters,
        "attention_location_kernel_size": loc_kernel,
        "n_frames_per_step": projected // n_mel if projected % n_mel == 0 else projected,
        "decoder_rnn_dim": _shape(state, "decoder.decoder_rnn.weight_hh")[1],
        "prenet_dim": _shape(state, "decoder.prenet.layers.0.linear_layer.weight")[0],
        "postnet_embedding_dim": post_dim,
        "postnet_kernel_size": post_kernel,
        "postnet_n_convolutions": _count(state, r"postnet\.convolutions\.(\d+)\.0\.conv\.weight"),
    }
