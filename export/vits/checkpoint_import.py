"""Load a VITS / Piper *training* checkpoint into the inference model.

Training checkpoints carry weight norm as (g, v) pairs, the posterior encoder, the duration
predictor's posterior flows and, for Piper's Lightning checkpoints, the discriminator. Weight norm is
folded; the training-only parts are dropped by an explicit list. Anything else that does not map onto a
parameter, and any parameter left without a tensor, is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..weights import fold_weight_norm, generator_state, read_checkpoint
from .config import VitsConfig
from .model import Vits
from .weights import load_strict

__all__ = ["TRAINING_ONLY_PREFIXES", "fold_weight_norm", "load_vits_checkpoint"]

# Parts of SynthesizerTrn that inference never runs (VITS drops SDP flow 1 as a "useless vflow").
TRAINING_ONLY_PREFIXES = ("enc_q.", "dp.post_pre.", "dp.post_proj.", "dp.post_convs.", "dp.post_flows.", "dp.flows.1.")


def load_vits_checkpoint(checkpoint: str | Path | Mapping[str, object], config: VitsConfig) -> Vits:
    """Build the inference model from a training checkpoint (path or already-loaded dict)."""
    state = fold_weight_norm(generator_state(read_checkpoint(checkpoint)))
    state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}
    return load_strict(config, state, "the checkpoint")
