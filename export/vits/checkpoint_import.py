"""Load a VITS / Piper *training* checkpoint into the inference model.

Training checkpoints carry weight norm as (g, v) pairs, the posterior encoder, the duration
predictor's posterior flows and, for Piper's Lightning checkpoints, the discriminator. Weight norm is
folded; the training-only parts are dropped by an explicit list. Anything else that does not map onto a
parameter, and any parameter left without a tensor, is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import MissingTensorError
from .config import VitsConfig
from .model import Vits
from .weights import load_strict

# Parts of SynthesizerTrn that inference never runs (VITS drops SDP flow 1 as a "useless vflow").
TRAINING_ONLY_PREFIXES = ("enc_q.", "dp.post_pre.", "dp.post_proj.", "dp.post_convs.", "dp.post_flows.", "dp.flows.1.")
_LEGACY_G, _LEGACY_V = ".weight_g", ".weight_v"
_PARAM_G, _PARAM_V = ".parametrizations.weight.original0", ".parametrizations.weight.original1"


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each (g, v) pair by weight = g * v / ||v||, the norm taken over all dims but 0."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for g_suffix, v_suffix in ((_LEGACY_G, _LEGACY_V), (_PARAM_G, _PARAM_V)):
            if key.endswith(g_suffix):
                base = key[: -len(g_suffix)]
                v = state.get(base + v_suffix)
                if v is None:
                    raise MissingTensorError(f"{key} has no matching {base + v_suffix}")
                dims = tuple(range(1, v.dim()))
                out[base + ".weight"] = value * v / v.norm(dim=dims, keepdim=True)
                break
            if key.endswith(v_suffix):
                break
        else:
            out[key] = value
    return out


def _generator_state(raw: Mapping[str, object]) -> Mapping[str, torch.Tensor]:
    """The synthesizer's tensors from a plain state dict, `{"model": ...}` or a Lightning checkpoint."""
    for key in ("model", "state_dict"):
        if isinstance(raw.get(key), Mapping):
            raw = raw[key]  # type: ignore[assignment]
            break
    if any(k.startswith("model_g.") for k in raw):
        return {k[len("model_g.") :]: v for k, v in raw.items() if k.startswith("model_g.")}  # type: ignore[misc]
    return raw  # type: ignore[return-value]


def load_vits_checkpoint(checkpoint: str | Path | Mapping[str, object], config: VitsConfig) -> Vits:
    """Build the inference model from a training checkpoint (path or already-loaded dict)."""
    raw = torch.load(str(checkpoint), map_location="cpu", weights_only=True) if isinstance(
        checkpoint, (str, Path)
    ) else checkpoint
    state = fold_weight_norm(_generator_state(raw))
    state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}
    return load_strict(config, state, "the checkpoint")
