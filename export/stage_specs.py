"""Specs of the four pipeline graphs, shared by every model family.

The SDK runs every family through one code path, so the graphs agree on tensor names and meanings:
encoder (phoneme_ids, phoneme_lengths[, sid] -> hidden, prior_mean, prior_log_std, phoneme_mask[,
speaker_embedding]), duration (hidden, phoneme_mask[, noise][, speaker_embedding] -> log_durations),
decoder (prior_latent, frame_mask[, speaker_embedding] -> latent: VITS's latent, GlowTTS's mel) and
vocoder (latent[, speaker_embedding] -> audio). A family supplies the modules and the sizes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from voxport.runtimes.base import TensorSpec

from .spec import GraphSpec

F32, I64 = "float32", "int64"
SPEAKER = "speaker_embedding"
Example = dict[str, np.ndarray]


class EncoderStage(nn.Module):
    """`model.encode(ids, lengths, sid)` with a fixed positional signature for tracing."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, *sid: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.encode(ids, lengths, sid[0] if sid else None)


class DecoderStage(nn.Module):
    """`model.decode(z, mask, g)`: the flow run in reverse."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, mask: torch.Tensor, *g: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z, mask, g[0] if g else None)


def ones_mask(n: int) -> np.ndarray:
    return np.ones((1, 1, n), np.float32)


class Speakers:
    """The optional speaker tensors: `sid` into the encoder, its embedding into later graphs."""

    def __init__(self, n_speakers: int, channels: int) -> None:
        self.n_speakers, self.channels = n_speakers, channels
        multi = n_speakers > 1
        self.sid = (TensorSpec("sid", I64, ("batch",)),) if multi else ()
        self.embedding = (TensorSpec(SPEAKER, F32, ("batch", channels, 1)),) if multi else ()

    def example(self, rng: np.random.Generator) -> Example:
        return {SPEAKER: rng.standard_normal((1, self.channels, 1)).astype(np.float32)} if self.embedding else {}


def encoder_spec(model: nn.Module, *, n_vocab: int, hidden: int, channels: int, speakers: Speakers) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> Example:
        feeds = {
            "phoneme_ids": rng.integers(0, n_vocab, (1, n)).astype(np.int64),
            "phoneme_lengths": np.array([n], np.int64),
        }
        if speakers.sid:
            feeds["sid"] = np.array([rng.integers(0, speakers.n_speakers)], np.int64)
        return feeds

    per_phoneme = ("batch", channels, "phonemes")
    return GraphSpec(
        name="encoder",
        module=EncoderStage(model),
        inputs=(
            TensorSpec("phoneme_ids", I64, ("batch", "phonemes")),
            TensorSpec("phoneme_lengths", I64, ("batch",)),
            *speakers.sid,
        ),
        outputs=(
            TensorSpec("hidden", F32, ("batch", hidden, "phonemes")),
            TensorSpec("prior_mean", F32, per_phoneme),
            TensorSpec("prior_log_std", F32, per_phoneme),
            TensorSpec("phoneme_mask", F32, ("batch", 1, "phonemes")),
            *speakers.embedding,
        ),
        example=example,
        atol=1e-3,
    )


def duration_spec(
    module: nn.Module, *, hidden: int, speakers: Speakers, noise_channels: int = 0, noise_scale: float = 0.8
) -> GraphSpec:
    """`module(hidden, phoneme_mask[, noise][, speaker_embedding])`; noise only for stochastic predictors."""

    def example(n: int, rng: np.random.Generator) -> Example:
        feeds = {"hidden": rng.standard_normal((1, hidden, n)).astype(np.float32), "phoneme_mask": ones_mask(n)}
        if noise_channels:
            feeds["noise"] = rng.standard_normal((1, noise_channels, n)).astype(np.float32) * noise_scale
        return {**feeds, **speakers.example(rng)}

    noise = (TensorSpec("noise", F32, ("batch", noise_channels, "phonemes")),) if noise_channels else ()
    return GraphSpec(
        name="duration",
        module=module,
        inputs=(
            TensorSpec("hidden", F32, ("batch", hidden, "phonemes")),
            TensorSpec("phoneme_mask", F32, ("batch", 1, "phonemes")),
            *noise,
            *speakers.embedding,
        ),
        outputs=(TensorSpec("log_durations", F32, ("batch", 1, "phonemes")),),
        example=example,
        atol=1e-3,
    )


def decoder_spec(
    model: nn.Module, *, channels: int, speakers: Speakers, example_lengths: tuple[int, ...] = (17, 5)
) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> Example:
        feeds = {"prior_latent": rng.standard_normal((1, channels, n)).astype(np.float32), "frame_mask": ones_mask(n)}
        return {**feeds, **speakers.example(rng)}

    return GraphSpec(
        name="decoder",
        module=DecoderStage(model),
        inputs=(
            TensorSpec("prior_latent", F32, ("batch", channels, "frames")),
            TensorSpec("frame_mask", F32, ("batch", 1, "frames")),
            *speakers.embedding,
        ),
        outputs=(TensorSpec("latent", F32, ("batch", channels, "frames")),),
        example=example,
        atol=1e-3,
        example_lengths=example_lengths,
    )


def vocoder_spec(
    module: nn.Module,
    *,
    channels: int,
    speakers: Speakers,
    latent: Callable[[tuple[int, ...], np.random.Generator], np.ndarray] | None = None,
) -> GraphSpec:
    """`module(latent[, speaker_embedding])` -> audio; `latent(shape, rng)` makes realistic example input."""

    def example(n: int, rng: np.random.Generator) -> Example:
        shape = (1, channels, n)
        values = latent(shape, rng) if latent else rng.standard_normal(shape).astype(np.float32)
        return {"latent": values, **speakers.example(rng)}

    return GraphSpec(
        name="vocoder",
        module=module,
        inputs=(TensorSpec("latent", F32, ("batch", channels, "frames")), *speakers.embedding),
        outputs=(TensorSpec("audio", F32, ("batch", 1, "samples")),),
        example=example,
        atol=1e-3,
        example_lengths=(23, 7),
    )
