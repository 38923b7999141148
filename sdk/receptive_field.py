"""Measure how far the decoder and the vocoder look in time, so streaming can cut windows exactly.

The flow's WaveNet layers and HiFi-GAN's dilated convolutions make each output depend on latent
frames on both sides. Rather than trusting a published number, perturb one input frame and see which
outputs move: any change, however small, counts, so the margin found is the graph's true reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voxport.stages import StageSessions


@dataclass(frozen=True)
class Reach:
    """Frames of context each streamed window needs on each side, per graph; vocoder None: not local
    in time (Griffin-Lim), so windows cannot be cut."""

    decoder: int
    vocoder: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {"decoder_context_frames": self.decoder, "vocoder_context_frames": self.vocoder}


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


def measure_reach(sessions: StageSessions, hop_length: int, n_frames: int = 256, frame_multiple: int = 1) -> Reach:
    """Measure decoder and vocoder reach on the graphs as loaded (any runtime, any precision).

    Outputs are compared with time on the first axis: frames for the decoder, samples for the vocoder.
    The test signal's length stays a multiple of `frame_multiple` (decoders that group frames need it).
    """
    n_frames = -(-n_frames // frame_multiple) * frame_multiple
    decoder_inputs = {t.name: t for t in sessions["decoder"].inputs}
    channels = int(decoder_inputs["prior_latent"].shape[1])
    cond = {}
    if "speaker_embedding" in decoder_inputs:  # any fixed speaker shows the same temporal reach
        cond["speaker_embedding"] = np.zeros((1, int(decoder_inputs["speaker_embedding"].shape[1]), 1), np.float32)

    def decode(z: np.ndarray) -> np.ndarray:
        mask = np.ones((1, 1, z.shape[2]), np.float32)
        return sessions.run("decoder", {"prior_latent": z, "frame_mask": mask, **cond})["latent"][0].T

    def vocode(z: np.ndarray) -> np.ndarray:
        return sessions.run("vocoder", {"latent": z, **cond})["audio"].reshape(-1)

    has_vocoder = "vocoder" in sessions.sessions
    return Reach(
        decoder=_measure(decode, channels, 1, n_frames),
        vocoder=_measure(vocode, channels, hop_length, n_frames) if has_vocoder else None,
    )
