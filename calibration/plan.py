"""What calibration needs to know about a model family, declared by the family in one place.

A family's registration names its plan (`Family.calibration`, "module:attribute", like its importers),
so the calibration code never asks which family it runs: the plan says which stages are quantized, which
input of a frame-level stage is cut into equal crops, which convolutions stay float, and how one
utterance is rendered for capture and replayed from the reference's draws and frames for the gate.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from voxport.pipeline.sessions import StageSessions
from voxport.voice import Voice


@dataclass(frozen=True)
class Reference:
    """One held-out utterance as fp32 renders it; `state` is what the family's replay needs again
    (its draws, its prepared inputs)."""

    text: str
    ids: list[int]
    frames: np.ndarray  # int64 frames per id, as the reference's durations gave them
    audio: np.ndarray
    state: Any = None


@dataclass
class Rendered:
    """A candidate's audio per reference, at the reference's frames (`forced`: comparable sample by
    sample) and at its own (`own`: the same arrays where its durations did not move, or when strict)."""

    forced: list[np.ndarray] = field(default_factory=list)
    own: list[np.ndarray] = field(default_factory=list)
    own_frames: list[int] = field(default_factory=list)  # total frames per utterance, the candidate's durations
    moved: int = 0  # ids whose predicted frame count differs from the reference's
    phonemes: int = 0
    # Measures of the family's own, one value per utterance (Kokoro: the F0 error in cents); the gate
    # reports their means and refuses a candidate over the replay's `limits`.
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def add(self, forced: np.ndarray, reference_frames: np.ndarray, predicted: np.ndarray,
            own: np.ndarray | None = None) -> None:
        """One utterance: its audio at the reference's frames, and at its own `predicted` frames where those
        were rendered (None: the same audio)."""
        self.moved += int(np.sum(predicted != reference_frames))
        self.phonemes += predicted.size
        self.own_frames.append(int(predicted.sum()))
        self.forced.append(forced)
        self.own.append(forced if own is None else own)


class Replay(Protocol):
    """How the gate renders one family's utterances: the fp32 reference once, then each candidate's
    sessions from the same draws. `limits`: the most each of its `Rendered.metrics` may reach (mean)."""

    limits: Mapping[str, float]

    def reference(self, index: int, text: str, ids: list[int]) -> Reference: ...

    def render(self, sessions: StageSessions, references: Sequence[Reference], own: bool) -> Rendered:
        """Each reference again on `sessions`, forced to its frames; with `own`, also at the candidate's
        own frame counts where they moved."""
        ...


@dataclass(frozen=True)
class CalibrationPlan:
    stages: tuple[str, ...]  # the stages calibration may quantize, in pipeline order
    # stage -> the input whose last axis is cut into equal crops (histogram calibrators need one shape);
    # stages not listed are captured whole, one utterance per sample.
    frame_inputs: Mapping[str, str]
    keep_float: Mapping[str, tuple[str, ...]]  # stage -> substrings of conv names kept in float
    max_samples: Mapping[str, int]  # stage -> most samples quantization holds in memory
    # One utterance through the voice's fp32 pipeline, its draws from `rng` (capture records the feeds).
    run: Callable[[Voice, list[int], np.random.Generator], np.ndarray]
    replay: Callable[[Voice, int, bool], Replay]  # (voice, seed, allow_duration_shift) -> its replay
    # Raises NotImplementedError with the reason when this bundle cannot be calibrated (e.g. no vocoder graph).
    check: Callable[[Voice], None] = field(default=lambda voice: None)
    # More int8 candidates of a stage, each with its own float convolutions: stage -> {name: keep_float},
    # timed and gated as "int8+name" beside "int8" (a bolder one first when it is faster, the safe one after).
    int8_variants: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)


def plan_of(voice: Voice) -> CalibrationPlan:
    """The calibration plan the voice's family registered, or NotImplementedError saying why it has none."""
    family = voice.family
    if family.calibration_refusal or not family.calibration:
        reason = family.calibration_refusal or f"calibration of {family.name} bundles is not supported yet"
        # Capture, the candidates and the gate replay the family's draws and frame counts.
        raise NotImplementedError(f"{reason}; run it at fp32, or at bf16 on OpenVINO (precision='bf16')")
    module, _, attribute = family.calibration.partition(":")
    plan = getattr(importlib.import_module(module), attribute)
    plan.check(voice)
    return plan


def english(voice: Voice) -> bool:
    """Whether the voice speaks English: the WER proxy's recognizer (PocketSphinx, US English) judges
    nothing else."""
    return voice.manifest.language().lower().startswith("en")
