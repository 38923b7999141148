"""Kokoro's encoder / prosody / decoder graphs as GraphSpecs, each validated against torch at export."""

from __future__ import annotations

import numpy as np
import torch

from voxport.families.kokoro import contract as k
from voxport.families.kokoro.source import SourceDraws, harmonics

from ..spec import GraphSpec
from ..stage_specs import ATOL, Example
from .model import DecoderStage, EncoderStage, KokoroModel, ProsodyStage, StyleStage

# The decoder ends in exp() of a predicted magnitude and an overlap-add of 2 x upsampling x hop samples per
# frame: fp32 rounding differences between torch and onnxruntime grow there more than in the other stages.
DECODER_ATOL = 5e-3


def _style(model: KokoroModel, rng: np.random.Generator) -> np.ndarray:
    return (0.3 * rng.standard_normal((1, 2 * model.style_dim))).astype(np.float32)


def example_f0(rng: np.random.Generator, n: int) -> np.ndarray:
    """A plausible F0 curve [1, n] in Hz with an unvoiced stretch (0 Hz), so both source branches run."""
    f0 = 120.0 + 60.0 * np.sin(np.linspace(0, 3, n)) + 5.0 * rng.standard_normal(n)
    f0[n // 3: n // 2] = 0.0
    return f0[None].astype(np.float32)


def style_spec(model: KokoroModel, packs: np.ndarray) -> GraphSpec:
    """packs [V, rows, 256] float32."""
    inputs, outputs = k.tensors(model.config["hidden_dim"], model.style_dim, packs.shape[0])[k.STYLE_STAGE]

    def example(n: int, rng: np.random.Generator) -> Example:
        w = rng.random((1, packs.shape[0])).astype(np.float32)
        return {k.VOICE_WEIGHTS: w / w.sum(), k.STYLE_ROW: np.array([n % packs.shape[1]], np.int64)}

    return GraphSpec(name=k.STYLE_STAGE, module=StyleStage(torch.from_numpy(packs)).eval(), inputs=inputs,
                     outputs=outputs, example=example, atol=1e-5)


def encoder_spec(model: KokoroModel) -> GraphSpec:
    inputs, outputs = k.tensors(model.config["hidden_dim"], model.style_dim)[k.ENCODER]

    def example(n: int, rng: np.random.Generator) -> Example:
        ids = rng.integers(1, model.config["n_token"], (1, n)).astype(np.int64)
        ids[0, 0] = ids[0, -1] = 0  # Kokoro frames every utterance with the pad symbol
        return {k.PHONEME_IDS: ids, k.STYLE: _style(model, rng)}

    return GraphSpec(name=k.ENCODER, module=EncoderStage(model).eval(), inputs=inputs, outputs=outputs,
                     example=example, atol=ATOL)


def prosody_spec(model: KokoroModel) -> GraphSpec:
    inputs, outputs = k.tensors(model.config["hidden_dim"], model.style_dim)[k.PROSODY]
    width = model.config["hidden_dim"] + model.style_dim

    def example(n: int, rng: np.random.Generator) -> Example:
        return {k.ALIGNED_PROSODY: rng.standard_normal((1, width, n)).astype(np.float32),
                k.STYLE: _style(model, rng)}

    return GraphSpec(name=k.PROSODY, module=ProsodyStage(model).eval(), inputs=inputs, outputs=outputs,
                     example=example, atol=ATOL)


def decoder_spec(model: KokoroModel, sample_rate: int) -> GraphSpec:
    hidden = model.config["hidden_dim"]
    inputs, outputs = k.tensors(hidden, model.style_dim)[k.DECODER]
    half_hop = model.hop_length // 2

    def example(n: int, rng: np.random.Generator) -> Example:
        f0 = example_f0(rng, 2 * n)
        draws = SourceDraws.draw(rng, 2 * n * half_hop)
        return {k.ALIGNED_TEXT: rng.standard_normal((1, hidden, n)).astype(np.float32), k.F0: f0,
                k.ENERGY: rng.standard_normal((1, 2 * n)).astype(np.float32), k.STYLE: _style(model, rng),
                k.HARMONICS: harmonics(f0[0], half_hop, sample_rate, draws)}

    return GraphSpec(name=k.DECODER, module=DecoderStage(model).eval(), inputs=inputs, outputs=outputs,
                     example=example, atol=DECODER_ATOL, example_lengths=(23, 9))


def specs(model: KokoroModel, sample_rate: int, packs: np.ndarray | None = None) -> dict[str, GraphSpec]:
    """The bundle's graphs in pipeline order (the style stage only with voice packs)."""
    first = {} if packs is None else {k.STYLE_STAGE: style_spec(model, packs)}
    return {**first, k.ENCODER: encoder_spec(model), k.PROSODY: prosody_spec(model),
            k.DECODER: decoder_spec(model, sample_rate)}
