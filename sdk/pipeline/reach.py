"""Measure how far a frame-level graph looks in time, so streaming can cut windows exactly.

A flow's WaveNet layers and HiFi-GAN's dilated convolutions make each output depend on input frames on
both sides. Rather than trusting a published number, perturb one input frame and see which outputs
move: any change, however small, counts, so the margin found is the graph's true reach. Each family's
pipeline (voxport.families) says which graphs to probe and how (`Pipeline.measure_reach`); the graphs
run through the engine, as in synthesis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voxport.bundle.manifest import Reach

if TYPE_CHECKING:
    from voxport.pipeline.engine import Engine

__all__ = ["Reach", "measure_bundle_reach", "measure_frames_reached"]


def _frames_reached(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, probe: int, per_frame: int) -> int:
    base = run(x)
    bumped = x.copy()
    bumped[:, :, probe] += 1.0
    moved = np.flatnonzero(np.any(run(bumped) != base, axis=tuple(range(1, base.ndim))))
    if moved.size == 0:
        return 0
    return int(max(probe - moved[0] // per_frame, moved[-1] // per_frame - probe))


def measure_frames_reached(run: Callable[[np.ndarray], np.ndarray], channels: int, per_frame: int,
                           n_frames: int) -> int:
    """Frames of input on either side that one output of `run` depends on. `run` maps [1, channels, n]
    to outputs with time on the first axis (`per_frame` outputs per input frame: hop_length for audio).
    The probe signal doubles while the reach touches its edge."""
    while True:
        x = np.random.default_rng(0).standard_normal((1, channels, n_frames)).astype(np.float32)
        probe = n_frames // 2
        reach = _frames_reached(run, x, probe, per_frame)
        if reach < probe - 1:
            return reach
        n_frames *= 2  # the reach hit the edge of the test signal: measure on a longer one
        if n_frames > 1 << 14:
            raise RuntimeError("receptive field exceeds 8192 frames; streaming needs a bound")


def measure_reach(engine: Engine) -> Reach:
    """The reach of an engine's graphs, measured by its family's pipeline."""
    return engine.family.pipeline(engine).measure_reach()


def measure_bundle_reach(bundle_dir: str | Path) -> Reach:
    """Receptive fields of a bundle's graphs as the SDK runs them by default (onnxruntime, fp32)."""
    from voxport.bundle import Bundle
    from voxport.pipeline.engine import Engine
    from voxport.pipeline.sessions import StageSessions

    bundle = Bundle.load(bundle_dir, verify=False)
    with StageSessions.open(bundle) as sessions:
        return measure_reach(Engine(bundle.manifest, sessions))
