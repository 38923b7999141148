"""Load a Coqui TTS GlowTTS checkpoint (`config.json` + `model.pth`) into the inference model.

Coqui saves the state dict under `model`, with weight norm on the coupling blocks' `start` conv and
their WaveNet layers (`parametrizations.weight.original0/1`, or `weight_g/weight_v` from older
versions); it is folded here. `weight_inv` of the 1x1 convolutions (present when a checkpoint was
saved after Coqui's `store_inverse()`) is derived data and recomputed from `weight`. Any other tensor
that maps to no parameter, and any parameter left without one, is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..coqui_config import read_json
from ..errors import MissingTensorError, UnsupportedConfigError
from ..weights import fold_weight_norm, generator_state, load_state_strict, read_checkpoint
from .config import GlowTTSConfig
from .model import GlowTTS

DERIVED_SUFFIXES = (".weight_inv",)
EMBEDDING = "encoder.emb.weight"
SPEAKER_EMBEDDING = "emb_g.weight"


def glowtts_state(checkpoint: str | Path | Mapping[str, object]) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors with weight norm folded and derived tensors dropped."""
    state = fold_weight_norm(generator_state(read_checkpoint(checkpoint)))
    return {k: v for k, v in state.items() if not k.endswith(DERIVED_SUFFIXES)}


def load_glowtts_checkpoint(
    config: str | Path | Mapping[str, Any], checkpoint: str | Path | Mapping[str, object]
) -> tuple[GlowTTS, dict[str, Any]]:
    """(model in eval mode, the parsed Coqui config) from a config (path or dict) and a checkpoint."""
    coqui = read_json(config)
    state = glowtts_state(checkpoint)
    if EMBEDDING not in state:
        raise MissingTensorError(f"GlowTTS parameter {EMBEDDING} not found in the checkpoint")
    speakers = state[SPEAKER_EMBEDDING].shape[0] if SPEAKER_EMBEDDING in state else 1
    if SPEAKER_EMBEDDING in state and speakers < 2:
        raise UnsupportedConfigError("a speaker embedding table with a single speaker is not supported")
    if coqui.get("use_speaker_embedding") and SPEAKER_EMBEDDING not in state:
        raise MissingTensorError(f"the config uses speaker embeddings, but {SPEAKER_EMBEDDING} is missing")
    model_config = GlowTTSConfig.from_coqui(coqui, n_vocab=state[EMBEDDING].shape[0], n_speakers=speakers)
    model = load_state_strict(GlowTTS(model_config), state, "the checkpoint", "GlowTTS")
    model.decoder.store_inverse()
    return model, coqui
