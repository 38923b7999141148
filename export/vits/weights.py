"""Loading recovered tensors into a Vits: the shared strict check (export/weights.py) for VITS."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..weights import load_state_strict
from .config import VitsConfig
from .model import Vits


def load_strict(config: VitsConfig, state: Mapping[str, np.ndarray | torch.Tensor], source: str) -> Vits:
    """Build the model and load `state` into it; every tensor must map to exactly one parameter."""
    return load_state_strict(Vits(config).eval(), state, source, "VITS")
