"""The four pipeline graphs as GraphSpecs, shared by every model family.

Tensor names, dtypes and axes are the stage contract's (voxport.bundle.contract); this module adds what only
export needs: the torch wrappers that give each stage a fixed positional signature for tracing, and
the example inputs validation runs. A family supplies the modules and the sizes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from voxport.bundle.contract import (
    DECODER,
    DURATION,
    ENCODER,
    FRAME_MASK,
    HIDDEN,
    LATENT,
    NOISE,
    PHONEME_IDS,
    PHONEME_LENGTHS,
    PHONEME_MASK,
    PRIOR_LATENT,
    SID,
    SPEAKER_EMBEDDING,
    VOCODER,
    decoder_tensors,
    duration_tensors,
    encoder_tensors,
    speaker_tensors,
    vocoder_tensors,
)
from voxport.synthesis import DEFAULT_SCALES

from .spec import GraphSpec

Example = dict[str, np.ndarray]
ATOL = 1e-3  # |onnx - torch| every stage of both families stays within in fp32
# The flow and the duration predictors compute exp/log/softplus that overflow in fp16 (NaNs are a known
# failure of fp16 flows): runtimes that lower precision keep those ops in fp32 (TensorRT).
FP16_SENSITIVE = {"keep_fp32_ops": True}


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
        self.sid, self.embedding = speaker_tensors(n_speakers, channels)

    def example(self, rng: np.random.Generator) -> Example:
        if not self.embedding:
            return {}
        return {SPEAKER_EMBEDDING: rng.standard_normal((1, self.channels, 1)).astype(np.float32)}


def encoder_spec(model: nn.Module, *, n_vocab: int, hidden: int, channels: int, speakers: Speakers) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> Example:
        feeds = {
            PHONEME_IDS: rng.integers(0, n_vocab, (1, n)).astype(np.int64),
            PHONEME_LENGTHS: np.array([n], np.int64),
        }
        if speakers.sid:
            feeds[SID] = np.array([rng.integers(0, speakers.n_speakers)], np.int64)
        return feeds

    inputs, outputs = encoder_tensors(hidden, channels, speakers.sid, speakers.embedding)
    return GraphSpec(name=ENCODER, module=EncoderStage(model), inputs=inputs, outputs=outputs, example=example,
                     atol=ATOL)


def duration_spec(module: nn.Module, *, hidden: int, speakers: Speakers, noise_channels: int = 0) -> GraphSpec:
    """`module(hidden, phoneme_mask[, noise][, speaker_embedding])`; noise only for stochastic predictors,
    drawn at the default noise_w as the SDK feeds it."""

    def example(n: int, rng: np.random.Generator) -> Example:
        feeds = {HIDDEN: rng.standard_normal((1, hidden, n)).astype(np.float32), PHONEME_MASK: ones_mask(n)}
        if noise_channels:
            noise = rng.standard_normal((1, noise_channels, n)).astype(np.float32)
            feeds[NOISE] = noise * DEFAULT_SCALES.noise_w
        return {**feeds, **speakers.example(rng)}

    inputs, outputs = duration_tensors(hidden, noise_channels, speakers.embedding)
    return GraphSpec(name=DURATION, module=module, inputs=inputs, outputs=outputs, example=example, atol=ATOL,
                     hints=dict(FP16_SENSITIVE))


def decoder_spec(
    model: nn.Module, *, channels: int, speakers: Speakers, example_lengths: tuple[int, ...] = (17, 5)
) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> Example:
        feeds = {PRIOR_LATENT: rng.standard_normal((1, channels, n)).astype(np.float32), FRAME_MASK: ones_mask(n)}
        return {**feeds, **speakers.example(rng)}

    inputs, outputs = decoder_tensors(channels, embedding=speakers.embedding)
    return GraphSpec(name=DECODER, module=DecoderStage(model), inputs=inputs, outputs=outputs, example=example,
                     atol=ATOL, example_lengths=example_lengths, hints=dict(FP16_SENSITIVE))


def vocoder_spec(module: nn.Module, *, channels: int, speakers: Speakers, masked: bool = False) -> GraphSpec:
    """`module(latent[, frame_mask][, speaker_embedding])` -> audio."""

    def example(n: int, rng: np.random.Generator) -> Example:
        feeds = {LATENT: rng.standard_normal((1, channels, n)).astype(np.float32)}
        if masked:  # the last frames masked, as in a padded window, so validation covers the masking
            feeds[FRAME_MASK] = (np.arange(n) < n - 3).astype(np.float32).reshape(1, 1, n)
        return {**feeds, **speakers.example(rng)}

    inputs, outputs = vocoder_tensors(channels, speakers.embedding, masked)
    return GraphSpec(name=VOCODER, module=module, inputs=inputs, outputs=outputs, example=example, atol=ATOL,
                     example_lengths=(23, 7))
