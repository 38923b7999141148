"""VALL-E X GraphSpecs: each graph is validated against these torch modules at export (onnx_export)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from voxport.families.vallex import contract as v
from voxport.runtimes.base import TensorSpec

from ..spec import GraphSpec
from .encodec import HOP, EncodecEncoder
from .model import Vallex
from .vocos import CodebookEmbedding, VocosDecoder

F32, I64 = "float32", "int64"
TEXT, AUDIO_LEN, POSITIONS, FRAMES, SAMPLES = "text", "audio", "positions", "frames", "samples"
PROMPT_TEXT, PROMPT_FRAMES = 3, 4  # fixed in the examples; lengths vary the rest


class _Call(nn.Module):
    """A bound method of a shared module as a graph (the modules keep Plachtaa's names)."""

    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.model, self.method = model, method

    def forward(self, *args: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return getattr(self.model, self.method)(*args)


def _text(n: int, rng: np.random.Generator, model: Vallex) -> dict[str, np.ndarray]:
    return {v.TEXT_IDS: rng.integers(0, model.config.n_text, (1, n + PROMPT_TEXT)),
            v.PROMPT_TEXT_LENGTH: np.array([PROMPT_TEXT]), v.LANGUAGES: np.array([0, 1])}


def _cache_shape(model: Vallex, positions: int | str) -> tuple[int | str, ...]:
    c = model.config
    return (c.num_layers, 2, 1, c.nhead, positions, c.head_dim)


def _cache(model: Vallex, positions: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(_cache_shape(model, positions)).astype(np.float32)  # type: ignore[arg-type]


def prefill_spec(model: Vallex) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        audio = np.concatenate([[[v.BOS]], rng.integers(0, 1024, (1, n))], axis=1)
        return {**_text(n, rng, model), v.AUDIO_IDS: audio}

    return GraphSpec(
        v.AR_PREFILL, _Call(model, "ar_prefill"),
        (TensorSpec(v.TEXT_IDS, I64, (1, TEXT)), TensorSpec(v.PROMPT_TEXT_LENGTH, I64, (1,)),
         TensorSpec(v.LANGUAGES, I64, (2,)), TensorSpec(v.AUDIO_IDS, I64, (1, AUDIO_LEN))),
        (TensorSpec(v.LOGITS, F32, (1, model.config.n_audio + 1)),
         TensorSpec(v.CACHE, F32, _cache_shape(model, POSITIONS))),
        example, atol=1e-3)


def step_spec(model: Vallex) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {v.TOKEN: rng.integers(0, 1026, (1, 1)), v.POSITION: np.array([n]), v.CACHE: _cache(model, n, rng)}

    return GraphSpec(
        v.AR_STEP, _Call(model, "ar_step"),
        (TensorSpec(v.TOKEN, I64, (1, 1)), TensorSpec(v.POSITION, I64, (1,)),
         TensorSpec(v.CACHE, F32, _cache_shape(model, POSITIONS))),
        (TensorSpec(v.LOGITS, F32, (1, model.config.n_audio + 1)),
         TensorSpec(v.CACHE_NEXT, F32, _cache_shape(model, "positions_next"))),
        example, atol=1e-3)


def fixed_step_spec(model: Vallex, slots: int) -> GraphSpec:
    """The step on a cache of `slots` positions: static shapes (an NPU compiles it once)."""

    def example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {v.TOKEN: rng.integers(0, 1026, (1, 1)), v.POSITION: np.array([n]),
                v.CACHE: _cache(model, slots, rng), v.LENGTH: np.array([min(n, slots - 1)])}

    return GraphSpec(
        v.AR_STEP_FIXED, _Call(model, "ar_step"),
        (TensorSpec(v.TOKEN, I64, (1, 1)), TensorSpec(v.POSITION, I64, (1,)),
         TensorSpec(v.CACHE, F32, _cache_shape(model, slots)), TensorSpec(v.LENGTH, I64, (1,))),
        (TensorSpec(v.LOGITS, F32, (1, model.config.n_audio + 1)),
         TensorSpec(v.CACHE_NEXT, F32, _cache_shape(model, slots))),
        example, atol=1e-3)


def nar_spec(model: Vallex) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        frames = n + PROMPT_FRAMES
        return {**_text(n, rng, model), v.CODES: rng.integers(0, 1024, (1, 8, frames)),
                v.PROMPT_FRAMES: np.array([PROMPT_FRAMES]), v.STAGE: np.array([1 + n % 7])}

    return GraphSpec(
        v.NAR, _Call(model, "nar_stage"),
        (TensorSpec(v.TEXT_IDS, I64, (1, TEXT)), TensorSpec(v.PROMPT_TEXT_LENGTH, I64, (1,)),
         TensorSpec(v.LANGUAGES, I64, (2,)), TensorSpec(v.CODES, I64, (1, 8, FRAMES)),
         TensorSpec(v.PROMPT_FRAMES, I64, (1,)), TensorSpec(v.STAGE, I64, (1,))),
        (TensorSpec(v.NAR_LOGITS, F32, (1, FRAMES, model.config.n_audio)),),
        example, atol=1e-3, example_lengths=(17, 6))


def codes_embedding_spec(embedding: CodebookEmbedding, channels: int) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {v.CODES: rng.integers(0, 1024, (1, 8, n))}

    return GraphSpec(v.CODES_EMBEDDING, embedding, (TensorSpec(v.CODES, I64, (1, 8, FRAMES)),),
                     (TensorSpec(v.LATENT, F32, (1, channels, FRAMES)),), example, atol=1e-4)


def vocoder_spec(decoder: VocosDecoder) -> GraphSpec:
    channels = decoder.config.input_channels

    def example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {v.LATENT: rng.standard_normal((1, channels, n)).astype(np.float32)}

    return GraphSpec(v.VOCODER, decoder, (TensorSpec(v.LATENT, F32, (1, channels, FRAMES)),),
                     (TensorSpec(v.AUDIO, F32, (1, 1, SAMPLES)),), example, atol=1e-3)


def codec_encoder_spec(encoder: EncodecEncoder) -> GraphSpec:
    def example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {v.PROMPT_AUDIO: (0.3 * rng.standard_normal((1, 1, n * HOP))).astype(np.float32)}

    # Codes are argmins of distances: compared exactly (atol below 1).
    return GraphSpec(v.CODEC_ENCODER, encoder, (TensorSpec(v.PROMPT_AUDIO, F32, (1, 1, SAMPLES)),),
                     (TensorSpec(v.CODES, I64, (1, 8, FRAMES)),), example, atol=0.5, example_lengths=(12, 8))


def vallex_graph_specs(model: Vallex, decoder: VocosDecoder, embedding: CodebookEmbedding,
                       fixed_slots: int | None = None, encoder: EncodecEncoder | None = None
                       ) -> dict[str, GraphSpec]:
    model.eval()
    specs = [prefill_spec(model), step_spec(model)]
    if fixed_slots:
        specs.append(fixed_step_spec(model, fixed_slots))
    specs += [nar_spec(model), codes_embedding_spec(embedding, decoder.config.input_channels),
              vocoder_spec(decoder)]
    if encoder is not None:
        specs.append(codec_encoder_spec(encoder))
    return {s.name: s for s in specs}
