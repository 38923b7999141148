"""The Tacotron2 graphs of the autoregressive stage set: encoder, decoder_step and postnet (and the
vocoder's, given as a spec by whoever imported it); tensor names and axes are voxport.bundle.contract's.

NVIDIA's TensorRT export splits the model the same way (encoder, decoder_iter, postnet) and loops on the
host. Unlike theirs, no graph here draws anything: the prenet's dropout multipliers are an input, so the
same masks give the same frames on every runtime.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from voxport.bundle import contract as c

from ..spec import GraphSpec
from ..stage_specs import ATOL, Example
from .model import Tacotron2

PRENET_KEEP_P = 0.5  # NVIDIA's prenet dropout probability (fixed in its code, on at inference)

# Every wrapper is put in eval mode: torch.onnx.export restores the mode the exported module had, and a
# wrapper left in training mode would switch the BatchNorms inside it to batch statistics afterwards.


class EncoderStage(nn.Module):
    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode(ids, lengths)


class DecoderStepStage(nn.Module):
    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.decoder = model.decoder

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.decoder.step(*inputs)


class PostnetStage(nn.Module):
    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.model.postnet_mel(mel)


def _padded_length(n: int) -> int:
    """The real length of an example of n positions: longer examples end in padding, so validation also
    covers the masking."""
    return n - 3 if n > 8 else n


def encoder_spec(model: Tacotron2) -> GraphSpec:
    cfg = model.config

    def example(n: int, rng: np.random.Generator) -> Example:
        return {c.PHONEME_IDS: rng.integers(0, cfg.n_symbols, (1, n)).astype(np.int64),
                c.PHONEME_LENGTHS: np.array([_padded_length(n)], np.int64)}

    inputs, outputs = c.tacotron2_encoder_tensors(cfg.encoder_embedding_dim, cfg.attention_dim)
    return GraphSpec(name=c.ENCODER, module=EncoderStage(model).eval(), inputs=inputs, outputs=outputs, example=example,
                     atol=ATOL)


def prenet_masks(rng: np.random.Generator, shape: tuple[int, ...], p: float = PRENET_KEEP_P) -> np.ndarray:
    """Dropout multipliers as the SDK draws them: 0, or 1 / (1 - p) with probability 1 - p."""
    return ((rng.random(shape) >= p) / (1.0 - p)).astype(np.float32)


def decoder_step_spec(model: Tacotron2) -> GraphSpec:
    cfg = model.config
    channels = cfg.encoder_embedding_dim

    def example(n: int, rng: np.random.Generator) -> Example:
        def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
            return (scale * rng.standard_normal((1, *shape))).astype(np.float32)

        mask = (np.arange(n) < _padded_length(n)).astype(np.float32)[None]
        weights = rng.random((1, n)).astype(np.float32) * mask
        weights /= weights.sum()
        return {
            c.PREVIOUS_FRAME: normal(cfg.n_mel_channels),
            c.PRENET_DROPOUT: prenet_masks(rng, (1, cfg.prenet_n_layers, cfg.prenet_dim)),
            "attention_hidden": normal(cfg.attention_rnn_dim, scale=0.5),
            "attention_cell": normal(cfg.attention_rnn_dim),
            "decoder_hidden": normal(cfg.decoder_rnn_dim, scale=0.5),
            "decoder_cell": normal(cfg.decoder_rnn_dim),
            "attention_weights": weights,
            "attention_weights_cum": weights * 3.0,
            "attention_context": normal(channels, scale=0.5),
            c.MEMORY: normal(n, channels, scale=0.5) * mask[..., None],
            c.PROCESSED_MEMORY: normal(n, cfg.attention_dim) * mask[..., None],
            c.MEMORY_MASK: mask,
        }

    inputs, outputs = c.decoder_step_tensors(cfg.n_mel_channels, cfg.prenet_n_layers, cfg.prenet_dim,
                                             cfg.attention_rnn_dim, cfg.decoder_rnn_dim, channels, cfg.attention_dim)
    return GraphSpec(name=c.DECODER_STEP, module=DecoderStepStage(model).eval(), inputs=inputs, outputs=outputs,
                     example=example, atol=ATOL)


def postnet_spec(model: Tacotron2) -> GraphSpec:
    n_mel = model.config.n_mel_channels

    def example(n: int, rng: np.random.Generator) -> Example:
        # Natural-log mel magnitudes: NVIDIA's lie roughly in [-11.5, 2].
        return {c.MEL: (2.0 * rng.standard_normal((1, n_mel, n)) - 5.0).astype(np.float32)}

    inputs, outputs = c.postnet_tensors(n_mel)
    return GraphSpec(name=c.POSTNET, module=PostnetStage(model).eval(), inputs=inputs, outputs=outputs, example=example,
                     atol=ATOL)


def tacotron2_graph_specs(model: Tacotron2, vocoder: GraphSpec | None = None) -> dict[str, GraphSpec]:
    """Specs in pipeline order; without a vocoder the SDK speaks the postnet's mel through Griffin-Lim."""
    model.eval()
    specs = [encoder_spec(model), decoder_step_spec(model), postnet_spec(model)]
    if vocoder is not None:
        specs.append(vocoder)
    return {spec.name: spec for spec in specs}
