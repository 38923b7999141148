"""Loading recovered tensors into a Vits: one strict check shared by every importer."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..errors import MissingTensorError, TensorShapeError, UnknownTensorError
from .config import VitsConfig
from .model import Vits


def load_strict(config: VitsConfig, state: Mapping[str, np.ndarray | torch.Tensor], source: str) -> Vits:
    """Build the model and load `state` into it; every tensor must map to exactly one parameter.

    Unknown, missing and mis-shaped tensors raise typed errors naming them and `source` (e.g. "the
    Piper graph"): a silently skipped tensor would leave random weights in a voice that still "runs".
    """
    model = Vits(config).eval()
    expected = model.state_dict()
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise UnknownTensorError(f"{source} has tensors that map to no VITS parameter: {unknown}")
    missing = sorted(set(expected) - set(state))
    if missing:
        raise MissingTensorError(f"VITS parameters not found in {source}: {missing}")
    tensors = {}
    for key, value in state.items():
        # Copy numpy arrays: onnx hands out read-only buffers, which torch must not alias.
        tensor = torch.as_tensor(np.array(value, np.float32)) if isinstance(value, np.ndarray) else value
        want = list(expected[key].shape)
        if list(tensor.shape) != want:
            raise TensorShapeError(f"{key}: {source} has {list(tensor.shape)}, model expects {want}")
        tensors[key] = tensor.float()
    model.load_state_dict(tensors, strict=True)
    return model
