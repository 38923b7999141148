"""Load an NVIDIA DeepLearningExamples Tacotron2 checkpoint into the inference model.

Two layouts are accepted: what DLE's `train.py` saves (a dict with `state_dict` — keys prefixed
`module.` when trained with DistributedDataParallel — beside `config`, `epoch`, optimizer and RNG
states) and a bare state dict. The file is read with `weights_only=True`, so no pickled code runs.
BatchNorm's `num_batches_tracked` counter, which older torch versions did not save and inference never
reads, is filled in when absent; any other tensor that maps to no parameter, or parameter left without
one, is an error naming it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelImportError
from ..weights import load_state_strict, read_checkpoint
from .config import Tacotron2Config
from .model import Tacotron2

DDP_PREFIX = "module."
BATCH_COUNTER = ".num_batches_tracked"


def read_checkpoint_dict(checkpoint: str | Path | Mapping[str, object]) -> Mapping[str, object]:
    """A DLE checkpoint read with weights only (no pickled code runs), refused unless it is a dict."""
    try:
        raw = read_checkpoint(checkpoint)
    except pickle.UnpicklingError as exc:
        raise ModelImportError(f"{checkpoint} is not a torch checkpoint of tensors ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise ModelImportError(f"{checkpoint} holds a {type(raw).__name__}, not a checkpoint dict")
    return raw


def read_nvidia_checkpoint(checkpoint: str | Path | Mapping[str, object]
                           ) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """(state dict without the `module.` prefix, the `config` dict or None) from either layout."""
    raw = read_checkpoint_dict(checkpoint)
    config = None
    if isinstance(raw.get("state_dict"), Mapping):
        config = raw.get("config")
        if config is not None and not isinstance(config, Mapping):
            raise ModelImportError(f"the checkpoint's config is a {type(config).__name__}, not a dict")
        raw = raw["state_dict"]
    not_tensors = sorted(str(k) for k, v in raw.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise ModelImportError(f"not a Tacotron2 checkpoint: no `state_dict`, and entries that are no tensors "
                               f"{not_tensors[:5]}")
    state = {k[len(DDP_PREFIX):] if k.startswith(DDP_PREFIX) else k: v for k, v in raw.items()}
    return state, None if config is None else dict(config)


def load_tacotron2_checkpoint(checkpoint: str | Path | Mapping[str, object]
                              ) -> tuple[Tacotron2, dict[str, Any] | None]:
    """(model in eval mode, the checkpoint's config dict or None) from a DLE checkpoint (path or dict)."""
    state, nvidia_config = read_nvidia_checkpoint(checkpoint)
    config = Tacotron2Config.from_nvidia(nvidia_config, state)
    model = Tacotron2(config)
    for key, value in model.state_dict().items():
        if key.endswith(BATCH_COUNTER) and key not in state:
            state[key] = value
    return load_state_strict(model, state, "the checkpoint", "Tacotron2"), nvidia_config

