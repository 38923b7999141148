"""Turning saved tensors into a model's parameters: one strict loader for every importer.

Shared by the VITS (Piper graph, training checkpoint), GlowTTS and HiFi-GAN importers. Strict means
unknown, missing and mis-shaped tensors are typed errors naming the tensor: a silently skipped tensor
would leave random weights in a voice that still "runs".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from .errors import MissingTensorError, TensorShapeError, UnknownTensorError

M = TypeVar("M", bound=nn.Module)

_LEGACY_G, _LEGACY_V = ".weight_g", ".weight_v"
_PARAM_G, _PARAM_V = ".parametrizations.weight.original0", ".parametrizations.weight.original1"


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each weight-norm (g, v) pair by weight = g * v / ||v||, the norm taken over all dims but 0.

    Both layouts torch has saved: `weight_g`/`weight_v` (torch.nn.utils.weight_norm) and
    `parametrizations.weight.original0/1` (torch.nn.utils.parametrizations.weight_norm).
    """
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


def read_checkpoint(checkpoint: str | Path | Mapping[str, object]) -> Mapping[str, object]:
    """A checkpoint file (weights only: no pickled code runs) or an already-loaded dict."""
    if isinstance(checkpoint, (str, Path)):
        return torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    return checkpoint


def generator_state(raw: Mapping[str, object]) -> Mapping[str, torch.Tensor]:
    """The generator's tensors from a plain state dict, `{"model": ...}` (Coqui, VITS) or a Lightning
    checkpoint; GAN checkpoints (Piper's Lightning, Coqui's vocoders) keep them under `model_g.`."""
    for key in ("model", "state_dict"):
        if isinstance(raw.get(key), Mapping):
            raw = raw[key]  # type: ignore[assignment]
            break
    if any(k.startswith("model_g.") for k in raw):
        return {k[len("model_g.") :]: v for k, v in raw.items() if k.startswith("model_g.")}  # type: ignore[misc]
    return raw  # type: ignore[return-value]


def load_state_strict(model: M, state: Mapping[str, np.ndarray | torch.Tensor], source: str, family: str) -> M:
    """Load `state` into `model` (returned in eval mode); every tensor must map to exactly one parameter.

    Errors name the tensors, `source` (e.g. "the Piper graph") and `family` (e.g. "VITS").
    """
    expected = model.state_dict()
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise UnknownTensorError(f"{source} has tensors that map to no {family} parameter: {unknown}")
    missing = sorted(set(expected) - set(state))
    if missing:
        raise MissingTensorError(f"{family} parameters not found in {source}: {missing}")
    tensors = {}
    for key, value in state.items():
        # Copy numpy arrays: onnx hands out read-only buffers, which torch must not alias.
        tensor = torch.as_tensor(np.array(value, np.float32)) if isinstance(value, np.ndarray) else value
        want = list(expected[key].shape)
        if list(tensor.shape) != want:
            raise TensorShapeError(f"{key}: {source} has {list(tensor.shape)}, model expects {want}")
        tensors[key] = tensor.float()
    model.load_state_dict(tensors, strict=True)
    return model.eval()
