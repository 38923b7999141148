"""One TensorRT optimization profile per bucket size: the profiles, and which one a call runs on.

The fixed-shape runner (voxport.pipeline.shaped) pads every call of a stage to one of a few bucket sizes and
announces them with ``Session.prepare_buckets``.  A single dynamic profile makes TensorRT tune its
kernels for the profile's ``opt`` shape only; with one profile per bucket (min = opt = max = the bucket
on the bucket axis, every other axis keeping its range from :func:`derive_profile`) each bucket runs
kernels chosen for exactly its shape.  TensorRTSession keeps one execution context per profile, so a
context never changes shape after its first call (see tensorrt_backend.py for why).

Everything here except :func:`profile_contexts` is plain Python, tested without TensorRT;
:func:`profile_contexts` is written against the TensorRT 10 Python API
(``ExecutionContextAllocationStrategy``, ``set_optimization_profile_async``) and has only been run
against fakes, not on a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .base import TensorSpec
from .errors import VoxportRuntimeError
from .tensorrt_build import DEFAULT_AXIS_RANGES, AxisRange, Profile, derive_profile

__all__ = ["bucket_profiles", "bucket_sizes", "call_size", "has_axis", "profile_contexts"]


def bucket_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """The buckets sorted and without repeats; ValueError unless a non-empty list of ints >= 1."""
    try:
        values = tuple(sizes)
    except TypeError:
        values = ()
    if not values or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in values):
        raise ValueError(f"bucket sizes must be a non-empty list of ints >= 1, got {sizes!r}")
    return tuple(sorted({int(s) for s in values}))


def has_axis(inputs: Sequence[TensorSpec], axis: str) -> bool:
    """Whether any input has the named dynamic axis ``axis``."""
    return any(axis in spec.shape for spec in inputs)


def bucket_profiles(
    inputs: Sequence[TensorSpec],
    axis: str,
    sizes: Sequence[int],
    overrides: Mapping[str, Sequence[int]] | None = None,
    defaults: Mapping[str, AxisRange] = DEFAULT_AXIS_RANGES,
) -> list[Profile]:
    """One profile per bucket, in ascending bucket order (profile index i = i-th smallest bucket).

    ``axis`` is fixed at the bucket (min = opt = max) in every input that has it; the other dynamic
    axes take ``overrides`` or ``defaults`` exactly as in :func:`derive_profile`, which also refuses a
    misspelt override.  An override of ``axis`` itself is replaced by the bucket here (it still shapes
    the single-profile engine that serves calls at other sizes).
    """
    sizes = bucket_sizes(sizes)
    if not has_axis(inputs, axis):
        names = sorted({d for spec in inputs for d in spec.shape if isinstance(d, str)})
        raise ValueError(f"no input has the axis {axis!r} to fix at bucket sizes; axes of this graph: {names}")
    overrides = dict(overrides or {})
    derive_profile(inputs, overrides, defaults)  # refuses a bad override once, before the per-bucket copies
    return [derive_profile(inputs, {**overrides, axis: (size, size, size)}, defaults) for size in sizes]


def call_size(inputs: Sequence[TensorSpec], feeds: Mapping[str, np.ndarray], axis: str) -> int | None:
    """The size of ``axis`` in this call (the first input that has it; the base Session has already
    checked that every input sharing an axis agrees), or None when no input has it."""
    for spec in inputs:
        if axis in spec.shape:
            return int(feeds[spec.name].shape[spec.shape.index(axis)])
    return None


def profile_contexts(trt: Any, engine: Any, count: int, stream: Any, graph: str) -> list[Any]:
    """One execution context per profile 0..count-1 of ``engine``, each switched to its profile on
    ``stream`` (the caller synchronises the stream before the first call).

    ``ON_PROFILE_CHANGE`` sizes each context's activation memory for its own profile; the default
    (``STATIC``) would give every context the largest profile's memory.  TensorRT releases before
    10.0 have no allocation strategies, and get the default.
    """
    strategies = getattr(trt, "ExecutionContextAllocationStrategy", None)
    strategy = getattr(strategies, "ON_PROFILE_CHANGE", None)
    contexts = []
    for index in range(count):
        context = engine.create_execution_context(*(() if strategy is None else (strategy,)))
        if context is None:
            raise VoxportRuntimeError(f"graph {graph!r}: TensorRT could not create an execution context for "
                                      f"optimization profile {index} (out of GPU memory?)")
        if not context.set_optimization_profile_async(index, int(stream)):
            raise VoxportRuntimeError(f"graph {graph!r}: TensorRT refused to select optimization profile {index} "
                                      f"of {count}")
        contexts.append(context)
    return contexts
