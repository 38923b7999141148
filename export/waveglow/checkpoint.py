"""Importing a WaveGlow checkpoint in any of the layouts NVIDIA's code has saved.

  * DLE (DeepLearningExamples) training checkpoints: `{'state_dict': ..., 'config': ..., 'epoch': ...,
    'optimizer': ..., ...}`, keys prefixed `module.` when trained with DistributedDataParallel;
  * a bare state dict (the config is then read off the tensor shapes);
  * NVIDIA's original repository: `{'model': <glow.WaveGlow object>, 'iteration': ..., ...}` — read
    without NVIDIA's classes and without running code from the file (pickled.py).
Weight norm is folded (both torch layouts); the newer NVIDIA/waveglow code's single `WN.{k}.cond_layer`
(all layers' condition convolutions stacked) is split into DLE's per-layer `cond_layers.{i}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelImportError, TensorShapeError
from ..weights import fold_weight_norm, load_state_strict
from .config import WaveGlowConfig
from .model import WaveGlow
from .pickled import class_path, is_module, load_with_stubs, module_tensors
from .vocoder import WaveGlowVocoder

CONVERT_HINT = (
    "convert it with NVIDIA's code: load the model, then torch.save({'state_dict': model.state_dict(), "
    "'config': {'n_mel_channels': ..., 'n_flows': ..., 'n_group': ..., 'n_early_every': ..., "
    "'n_early_size': ..., 'WN_config': {'n_layers': ..., 'kernel_size': ..., 'n_channels': ...}}}, path)"
)


class CheckpointFormatError(ModelImportError):
    """The file is not a WaveGlow checkpoint in any layout voxport reads."""


Checkpoint = str | Path | Mapping[str, Any]


def _read(checkpoint: Checkpoint) -> Any:
    if not isinstance(checkpoint, (str, Path)):
        return checkpoint
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointFormatError(f"no WaveGlow checkpoint at {path}")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        pass  # a pickled model, or no torch file at all: the second reader tells which
    try:  # a checkpoint that pickles objects (a whole model): read with inert stand-ins for its classes
        return load_with_stubs(path)
    except Exception as exc:
        raise CheckpointFormatError(
            f"{path} could not be read as a torch checkpoint, weights-only or with stand-ins for the classes it "
            f"names ({type(exc).__name__}: {exc}); if it is a WaveGlow checkpoint, {CONVERT_HINT}") from exc


def _is_tensor_map(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def split_checkpoint(raw: Any) -> tuple[dict[str, torch.Tensor], Mapping[str, Any] | None]:
    """(the model's tensors as saved, DLE's config if the checkpoint carries one)."""
    if is_module(raw):
        return module_tensors(raw), None
    if not isinstance(raw, Mapping):
        raise CheckpointFormatError(f"a WaveGlow checkpoint is a dict or a pickled model, got {class_path(raw)}")
    config = raw.get("config")
    config = config if isinstance(config, Mapping) else None
    for key in ("state_dict", "model"):
        value = raw.get(key)
        if _is_tensor_map(value):
            return dict(value), config
        if is_module(value):
            return module_tensors(value), config
    if _is_tensor_map(raw):
        return dict(raw), None
    raise CheckpointFormatError(
        f"no WaveGlow weights in the checkpoint: expected 'state_dict' (DLE), a pickled 'model' or a bare "
        f"state dict; its top-level keys are {sorted(map(str, raw))[:12]}")


def normalize_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """DLE's parameter names with plain weights: `module.` prefix stripped, weight norm folded (in
    float64), a stacked `cond_layer` split per layer."""
    prefix = "module."
    if state and all(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items()}
    folded = fold_weight_norm({k: v.detach().double() for k, v in state.items()})
    out: dict[str, torch.Tensor] = {}
    for key, value in folded.items():
        m = re.fullmatch(r"(WN\.\d+)\.cond_layer\.(weight|bias)", key)
        if not m:
            out[key] = value
            continue
        flow = m.group(1)
        width = state_width(folded, flow)
        if value.shape[0] % width:
            raise TensorShapeError(f"{key}: {value.shape[0]} output channels are not a multiple of "
                                   f"2 x n_channels = {width} (one block per WN layer)")
        for i, block in enumerate(value.split(width, 0)):
            out[f"{flow}.cond_layers.{i}.{m.group(2)}"] = block.clone()
    return out


def state_width(state: Mapping[str, torch.Tensor], flow: str) -> int:
    """2 x n_channels of a WN: the output width of its in_layers."""
    key = f"{flow}.in_layers.0.weight"
    if key not in state:
        raise ModelImportError(f"{flow}.cond_layer needs {key} to be split per layer")
    return int(state[key].shape[0])


def load_waveglow(checkpoint: Checkpoint) -> WaveGlowVocoder:
    """The exportable vocoder (eval mode, inverses and bias spectrum computed) from a checkpoint file or
    an already-loaded checkpoint dict. Unknown, missing or mis-shaped tensors raise typed errors."""
    tensors, dle_config = split_checkpoint(_read(checkpoint))
    state = normalize_state(tensors)
    config = WaveGlowConfig.from_dle(dle_config) if dle_config is not None else WaveGlowConfig.from_state(state)
    model = load_state_strict(WaveGlow(config), state, "the WaveGlow checkpoint", "WaveGlow")
    return WaveGlowVocoder(model).eval()
