"""Tacotron2's random draws: a prenet dropout mask per decoder step and WaveGlow's z per mel frame.

They come from two independent streams of one utterance's seed, so the masks of step k are the same
whether the vocoder has rendered nothing or the whole utterance, and a window's z is a slice of the
utterance's.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class DecoderNoise(Protocol):
    def prenet_mask(self, step: int, shape: tuple[int, int], p: float) -> np.ndarray:
        """Step `step`'s (0-based) prenet dropout multipliers, float32 `shape` [layers, dim]: 0 or 1/(1-p)."""
        ...

    def z(self, start: int, stop: int, channels: int, steps_per_frame: int) -> np.ndarray:
        """Unscaled N(0, 1) z of mel frames [start, stop): float32 [channels, (stop - start) * steps_per_frame]."""
        ...


class RandomDecoderNoise:
    """One utterance's draws, made on demand and kept: asking again (a replay, an overlapping window)
    gives back the same values."""

    def __init__(self, seed: np.random.SeedSequence | int | None = None) -> None:
        sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        masks, z = sequence.spawn(2)
        self._mask_rng, self._z_rng = np.random.default_rng(masks), np.random.default_rng(z)
        self._masks: list[np.ndarray] = []
        self._mask_layout: tuple[tuple[int, int], float] | None = None
        self._z_blocks = np.zeros((0, 0, 0), np.float32)  # [frames drawn, channels, steps_per_frame]

    def prenet_mask(self, step: int, shape: tuple[int, int], p: float) -> np.ndarray:
        layout = (tuple(shape), float(p))
        if self._mask_layout is None:
            self._mask_layout = layout  # type: ignore[assignment]
        elif layout != self._mask_layout:
            raise ValueError(f"prenet masks were drawn as {self._mask_layout}, not {layout}")
        while len(self._masks) <= step:
            keep = self._mask_rng.random(shape, dtype=np.float32) >= np.float32(p)  # kept with probability 1 - p
            self._masks.append(keep.astype(np.float32) * np.float32(1.0 / (1.0 - p)))
        return self._masks[step]

    def z(self, start: int, stop: int, channels: int, steps_per_frame: int) -> np.ndarray:
        blocks = self._z_blocks
        if blocks.shape[0] and blocks.shape[1:] != (channels, steps_per_frame):
            raise ValueError(f"z was drawn with {blocks.shape[1:]} (channels, steps per frame), not "
                             f"{(channels, steps_per_frame)}")
        if stop > blocks.shape[0]:
            # Frame by frame, in order: drawing k frames at once gives what k single draws give.
            more = self._z_rng.standard_normal((stop - blocks.shape[0], channels, steps_per_frame), dtype=np.float32)
            self._z_blocks = blocks = np.concatenate([blocks.reshape(-1, channels, steps_per_frame), more])
        return _z_layout(blocks[start:stop])

    def recorded(self, steps: int, frames: int, channels: int = 0, steps_per_frame: int = 0) -> RecordedDecoderNoise:
        """The first `steps` masks and the z of the first `frames` frames (drawn now if need be)."""
        masks = np.stack(self._masks[:steps]) if steps else np.zeros((0, 0, 0), np.float32)
        if len(masks) < steps:
            raise ValueError(f"only {len(masks)} prenet masks were drawn, not {steps}")
        z = self.z(0, frames, channels, steps_per_frame) if channels else np.zeros((0, 0), np.float32)
        return RecordedDecoderNoise(masks, z)


class RecordedDecoderNoise:
    """Draws of an earlier run given back (`MelUtterance.replay()`): masks [steps, layers, dim] and
    unscaled z [channels, frames * steps_per_frame]."""

    def __init__(self, masks: np.ndarray, z: np.ndarray) -> None:
        self.masks, self.z_values = np.asarray(masks, np.float32), np.asarray(z, np.float32)

    def prenet_mask(self, step: int, shape: tuple[int, int], p: float) -> np.ndarray:
        if step >= len(self.masks):
            raise ValueError(f"the recorded draws hold {len(self.masks)} prenet masks; step {step + 1} needs more: "
                             "replay with the recorded number of steps")
        if self.masks.shape[1:] != tuple(shape):
            raise ValueError(f"recorded prenet masks have shape {self.masks.shape[1:]}, not {tuple(shape)}")
        return self.masks[step]

    def z(self, start: int, stop: int, channels: int, steps_per_frame: int) -> np.ndarray:
        have = self.z_values.shape[1] // steps_per_frame if self.z_values.size else 0
        if stop > have or self.z_values.shape[0] != channels:
            raise ValueError(f"the recorded z covers {have} frames of {self.z_values.shape[0]} channels; frames "
                             f"[{start}, {stop}) of {channels} channels were asked for")
        return self.z_values[:, start * steps_per_frame : stop * steps_per_frame]


class SeededDecoderNoise:
    """Where one synthesis call's utterances get their draws: each sentence its own child of the seed,
    so a sentence's draws do not depend on how long the sentences before it ran."""

    def __init__(self, seed: int | None) -> None:
        self._sequence = np.random.SeedSequence(seed)

    def next_utterance(self) -> RandomDecoderNoise:
        return RandomDecoderNoise(self._sequence.spawn(1)[0])


def _z_layout(blocks: np.ndarray) -> np.ndarray:
    """[frames, channels, steps] -> [channels, frames * steps]: frame k owns columns [k * steps, (k + 1) * steps)."""
    frames, channels, steps = blocks.shape
    return np.ascontiguousarray(blocks.transpose(1, 0, 2)).reshape(channels, frames * steps)
