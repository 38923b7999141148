"""Kokoro's encoder / prosody / decoder graphs as GraphSpecs, each validated against torch at export."""

from __future__ import annotations

import numpy as np
import torch

from voxport.families.kokoro import contract as k
from voxport.families.kokoro.regulate import expand
from voxport.families.kokoro.source import SourceDraws, harmonics

from ..spec import GraphSpec
from ..stage_specs import ATOL, Example
from .model import DecoderStage, EncoderStage, KokoroModel, ProsodyStage, StyleStage

# The decoder ends in exp() of a predicted magnitude and an overlap-add of 2 x upsampling x hop samples per
# frame: fp32 rounding differences between torch and onnxruntime grow there more than in the other stages.
# Each bundle records its own figure (manifest extra.max_abs_diff_vs_torch).
DECODER_ATOL = 5e-3


def _style(model: KokoroModel, rng: np.random.Generator, packs: np.ndarray | None = None) -> np.ndarray:
    """A style to validate with: a random row of a random voice pack when there are packs (a trained decoder
    driven by a style off that distribution grows to 1e7 and beyond), else a random vector."""
    if packs is not None:
        return packs[rng.integers(packs.shape[0]), rng.integers(packs.shape[1])][None].astype(np.float32)
    return (0.3 * rng.standard_normal((1, 2 * model.style_dim))).astype(np.float32)


def style_spec(model: KokoroModel, packs: np.ndarray) -> GraphSpec:
    """packs [V, rows, 256] float32."""
    inputs, outputs = k.tensors(model.config["hidden_dim"], model.style_dim, packs.shape[0])[k.STYLE_STAGE]

    def example(n: int, rng: np.random.Generator) -> Example:
        w = rng.random((1, packs.shape[0])).astype(np.float32)
        return {k.VOICE_WEIGHTS: w / w.sum(), k.STYLE_ROW: np.array([n % packs.shape[1]], np.int64)}

    return GraphSpec(name=k.STYLE_STAGE, module=StyleStage(torch.from_numpy(packs)).eval(), inputs=inputs,
                     outputs=outputs, example=example, atol=1e-5)


def encoder_spec(model: KokoroModel, packs: np.ndarray | None = None) -> GraphSpec:
    inputs, outputs = k.tensors(model.config["hidden_dim"], model.style_dim)[k.ENCODER]

    def example(n: int, rng: np.random.Generator) -> Example:
        ids = rng.integers(1, model.config["n_token"], (1, n)).astype(np.int64)
        ids[0, 0] = ids[0, -1] = 0  # Kokoro frames every utterance with the pad symbol
        return {k.PHONEME_IDS: ids, k.STYLE: _style(model, rng, packs)}

    return GraphSpec(name=k.ENCODER, module=EncoderStage(model).eval(), inputs=inputs, outputs=outputs,
                     example=example, atol=ATOL)


def prosody_spec(model: KokoroModel, packs: np.ndarray | None = None) -> GraphSpec:
    inputs, outputs = k.tensors(model.config["hidden_dim"], model.style_dim)[k.PROSODY]
    width = model.config["hidden_dim"] + model.style_dim

    def example(n: int, rng: np.random.Generator) -> Example:
        return {k.ALIGNED_PROSODY: rng.standard_normal((1, width, n)).astype(np.float32),
                k.STYLE: _style(model, rng, packs)}

    return GraphSpec(name=k.PROSODY, module=ProsodyStage(model).eval(), inputs=inputs, outputs=outputs,
                     example=example, atol=ATOL)


def decoder_example(model: KokoroModel, sample_rate: int, n: int, rng: np.random.Generator,
                    packs: np.ndarray | None = None) -> Example:
    """Decoder inputs as the pipeline makes them, from random phonemes and style through the model's own
    encoder and prosody predictor (random features drive a trained decoder far louder than speech, where
    fp32 rounding differences grow with the signal)."""
    ids = torch.from_numpy(rng.integers(1, model.config["n_token"], (1, max(2, n // 3))).astype(np.int64))
    style = torch.from_numpy(_style(model, rng, packs))
    frames = np.full(ids.shape[1], n // ids.shape[1], np.int64)
    frames[: n - int(frames.sum())] += 1
    with torch.no_grad():
        _, prosody_features, text_features = model.encode(ids, style)
        f0, energy = model.prosody(torch.from_numpy(expand(prosody_features.numpy(), frames)), style)
    half_hop = model.hop_length // 2
    draws = SourceDraws.draw(rng, 2 * n * half_hop)
    return {k.ALIGNED_TEXT: expand(text_features.numpy(), frames), k.F0: f0.numpy(), k.ENERGY: energy.numpy(),
            k.STYLE: style.numpy(), k.HARMONICS: harmonics(f0.numpy()[0], half_hop, sample_rate, draws)}


def decoder_spec(model: KokoroModel, sample_rate: int, packs: np.ndarray | None = None) -> GraphSpec:
    inputs, outputs = k.tensors(model.config["hidden_dim"], model.style_dim)[k.DECODER]
    return GraphSpec(name=k.DECODER, module=DecoderStage(model).eval(), inputs=inputs, outputs=outputs,
                     example=lambda n, rng: decoder_example(model, sample_rate, n, rng, packs), atol=DECODER_ATOL,
                     example_lengths=(23, 9))


def specs(model: KokoroModel, sample_rate: int, packs: np.ndarray | None = None) -> dict[str, GraphSpec]:
    """The bundle's graphs in pipeline order (the style stage only with voice packs)."""
    first = {} if packs is None else {k.STYLE_STAGE: style_spec(model, packs)}
    return {**first, k.ENCODER: encoder_spec(model, packs), k.PROSODY: prosody_spec(model, packs),
            k.DECODER: decoder_spec(model, sample_rate, packs)}
