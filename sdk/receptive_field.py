"""Measure how far the decoder and the vocoder look in time, so streaming can cut windows exactly.

The flow's WaveNet layers and HiFi-GAN's dilated convolutions make each output depend on latent
frames on both sides. Rather than trusting a published number, perturb one input frame and see which
outputs move: any change, however small, counts, so the margin found is the graph's true reach.
The graphs run through the engine, as in synthesis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from voxport import contract as c
from voxport.engine import Engine, Prepared
from voxport.manifest import Reach

__all__ = ["Reach", "measure_reach", "measure_bundle_reach"]


def _frames_reached(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, probe: int, per_frame: int) -> int:
    base = run(x)
    bumped = x.copy()
    bumped[:, :, probe] += 1.0
    moved = np.flatnonzero(np.any(run(bumped) != base, axis=tuple(range(1, base.ndim))))
    if moved.size == 0:
        return 0
    return int(max(probe - moved[0] // per_frame, moved[-1] // per_frame - probe))


def _measure(run: Callable[[np.ndarray], np.ndarray], channels: int, per_frame: int, n_frames: int) -> int:
    while True:
        x = np.random.default_rng(0).standard_normal((1, channels, n_frames)).astype(np.float32)
        probe = n_frames // 2
        reach = _frames_reached(run, x, probe, per_frame)
        if reach < probe - 1:
            return reach
        n_frames *= 2  # the reach hit the edge of the test signal: measure on a longer one
        if n_frames > 1 << 14:
            raise RuntimeError("receptive field exceeds 8192 frames; streaming needs a bound")


def _as_prepared(latent: np.ndarray, conditioning: dict[str, np.ndarray]) -> Prepared:
    none = np.zeros(0, np.int64)
    return Prepared(none, none, latent, conditioning, np.zeros(0, np.float32), np.zeros(0, np.float32))


def measure_reach(engine: Engine, n_frames: int = 256) -> Reach:
    """Measure decoder and vocoder reach on the graphs as loaded (any runtime, any precision).

    Outputs are compared with time on the first axis: frames for the decoder, samples for the vocoder.
    The test signal's length stays a multiple of the decoder's frame multiple.
    """
    multiple = engine.frame_multiple
    n_frames = -(-n_frames // multiple) * multiple
    decoder_inputs = {t.name: t for t in engine.sessions[c.DECODER].inputs}
    channels = int(decoder_inputs[c.PRIOR_LATENT].shape[1])
    cond = {}
    if c.SPEAKER_EMBEDDING in decoder_inputs:  # any fixed speaker shows the same temporal reach
        width = int(decoder_inputs[c.SPEAKER_EMBEDDING].shape[1])
        cond[c.SPEAKER_EMBEDDING] = np.zeros((1, width, 1), np.float32)

    def decode(z: np.ndarray) -> np.ndarray:
        return engine.decode(_as_prepared(z, cond))[0].T

    def vocode(z: np.ndarray) -> np.ndarray:
        return engine.vocode(_as_prepared(z, cond), z)

    return Reach(
        decoder=_measure(decode, channels, 1, n_frames),
        vocoder=_measure(vocode, channels, engine.hop_length, n_frames) if engine.vocoder_is_local else None,
    )


def measure_bundle_reach(bundle_dir: str | Path) -> Reach:
    """Receptive fields of a bundle's graphs as the SDK runs them by default (onnxruntime, fp32)."""
    from voxport.bundle import Bundle
    from voxport.stages import StageSessions

    bundle = Bundle.load(bundle_dir, verify=False)
    with StageSessions.open(bundle) as sessions:
        return measure_reach(Engine(bundle.manifest, sessions))
