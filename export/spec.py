"""Declarative description of one exported graph: its tensors, tolerance and example inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from voxport.runtimes.base import TensorSpec

# Given a length along the graph's main dynamic axis and an RNG, produce one set of feeds.
ExampleFn = Callable[[int, np.random.Generator], dict[str, np.ndarray]]


@dataclass(frozen=True)
class GraphSpec:
    """What an exported graph must look like and how closely it must match torch.

    `atol` bounds |onnx - torch| elementwise; it is per graph because errors grow through deep stacks
    (the vocoder's upsampling amplifies fp32 rounding more than the encoder does).
    """

    name: str
    module: torch.nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    example: ExampleFn
    atol: float
    example_lengths: tuple[int, ...] = (17, 5)
    # Recorded in the manifest (GraphEntry.hints) for runtimes: {"keep_fp32_ops": True} for graphs whose
    # exp/log/softplus overflow in fp16 (flows, stochastic duration predictors).
    hints: dict[str, Any] = field(default_factory=dict)

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes: dict[str, dict[int, str]] = {}
        for tensor in (*self.inputs, *self.outputs):
            named = {i: d for i, d in enumerate(tensor.shape) if isinstance(d, str)}
            if named:
                axes[tensor.name] = named
        return axes
