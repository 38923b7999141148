"""What each stage runs: one function from what the user asked (a runtime and a precision, each one name
or a mapping per stage) and the bundle's manifest to the graph file, the declared inputs and the runtime
precision of every stage. Defaults are written here once; names are lower-cased once, here.

"calibrated" (or "int8", its older name) asks for the policy `voxport calibrate` installed for the stage's
runtime and a machine like this one (voxport.pipeline.calibrated); OpenVINO and TensorRT compile bf16/fp16
from the fp32 file when the bundle has no file of that precision (the runtime says which:
`compiles_precision`); "int8-bf16" runs the int8 file with a bf16 float remainder; a stage that will never
be padded opens the unmasked copy of its fp32 file.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from voxport.bundle import Bundle, MissingVariantError
from voxport.bundle import contract as c
from voxport.bundle.manifest import GraphEntry, unmasked_variant
from voxport.pipeline import calibrated
from voxport.runtimes import TensorSpec, canonical_runtime
from voxport.runtimes.device_class import this_device
from voxport.runtimes.errors import RuntimeUnavailableError
from voxport.runtimes.registry import compiles_precision

__all__ = ["CALIBRATED", "DEFAULT_PRECISION", "DEFAULT_RUNTIME", "StageChoice", "StagePlan", "calibrated_precisions",
           "per_stage", "resolve", "variant_for"]

StageChoice = str | Mapping[str, str]
DEFAULT_RUNTIME = "onnxruntime"
DEFAULT_PRECISION = "fp32"
# Precision names that mean "the policy `voxport calibrate` installed for this runtime": "calibrated",
# and "int8", its name from when every policy had an int8 stage (kept: same meaning).
CALIBRATED = ("calibrated", "int8")
# Precisions that run another precision's graph file with a different float remainder.
GRAPH_OF_PRECISION = {"int8-bf16": "int8"}


@dataclass(frozen=True)
class StagePlan:
    """How one stage is opened: on `runtime` at `precision`, from the bundle's `variant` or a given `file`."""

    stage: str
    runtime: str
    precision: str
    variant: str | None  # the bundle's file variant; None when `file` replaces it
    file: Path | None
    inputs: tuple[TensorSpec, ...]
    static_sizes: tuple[int, ...] = ()  # sizes of the static-shape copies to open instead (static=True)
    hints: Mapping[str, Any] = field(default_factory=dict)  # the exporter's, for the runtime (GraphEntry.hints)

    def path(self, bundle: Bundle) -> Path:
        return self.file if self.file is not None else bundle.graph_path(self.stage, self.variant)


def per_stage(choice: StageChoice, stages: tuple[str, ...], what: str) -> dict[str, str]:
    """Expand one name, or a mapping stage -> name with an optional "default" key, to every stage."""
    if isinstance(choice, str):
        return dict.fromkeys(stages, choice)
    unknown = sorted(set(choice) - set(stages) - {"default"})
    if unknown:
        raise ValueError(f"{what} given for unknown stages {unknown}; this bundle has {list(stages)}")
    fallback = choice.get("default", DEFAULT_RUNTIME if what == "runtime" else DEFAULT_PRECISION)
    return {stage: choice.get(stage, fallback) for stage in stages}


def variant_for(runtime: str, precision: str, variants: Collection[str]) -> str:
    """Which of a graph's file variants to open so that `runtime` runs it at `precision`: the precision's
    own file, else the fp32 file where the runtime compiles that precision. Returns `precision` when there
    is no better answer, so a missing variant is reported naming what the caller asked for."""
    precision = GRAPH_OF_PRECISION.get(precision, precision)
    if precision in variants:
        return precision
    return "fp32" if "fp32" in variants and compiles_precision(runtime, precision) else precision


def calibrated_precisions(bundle: Bundle, runtime: str, requested: str = "calibrated") -> dict[str, str]:
    """Every stage's precision under the policy `voxport calibrate` chose for `runtime` on a machine like
    this one (voxport.pipeline.calibrated: this device class, else one that fits, else a fallback with a
    warning). Calibrated graphs are made per runtime, so a bundle calibrated only for another runtime is
    refused with the command that calibrates this one."""
    try:
        name = canonical_runtime(runtime)
    except RuntimeUnavailableError:  # reported, with its advice, when the session is opened
        return dict.fromkeys(bundle.stages, requested)
    policies = bundle.manifest.policies_for(name)
    if not policies:
        entry = bundle.graph(bundle.stages[-1])
        others = sorted({p.runtime for p in bundle.manifest.calibration})
        done = f" (it was calibrated for {', '.join(others)})" if others else ""
        raise MissingVariantError(
            requested, sorted(v for v in entry.variants if v != "int8"), bundle.stages[-1],
            advice=f"this bundle has no calibrated policy for {name}{done}: run `voxport calibrate --bundle DIR "
            f"--runtime {name}` to create and quality-check one",
        )
    try:
        device = this_device(name)
    except RuntimeUnavailableError:  # the runtime is not installed: opening the session says so
        return dict.fromkeys(bundle.stages, requested)
    choice = calibrated.choose(policies, device, bundle.stages, name)
    calibrated.warn(choice)
    return choice.precisions


def resolve(bundle: Bundle, runtime: StageChoice = DEFAULT_RUNTIME, precision: StageChoice = DEFAULT_PRECISION, *,
            files: Mapping[str, str | os.PathLike[str]] | None = None, static: bool = False,
            unpadded: Collection[str] = ()) -> dict[str, StagePlan]:
    """Every stage's plan, in pipeline order. `files` replaces a stage's graph (a calibration candidate),
    run at that stage's precision; `static` opens the static-shape copies where the bundle has them;
    `unpadded` names stages that will never be padded (their unmasked fp32 copy, where there is one)."""
    stages = bundle.stages
    runtimes = per_stage(runtime, stages, "runtime")
    asked = {s: str(p).strip().lower() for s, p in per_stage(precision, stages, "precision").items()}
    hints = _hints(bundle)
    policies: dict[str, dict[str, str]] = {}  # runtime -> the calibrated precisions, chosen once
    plans = {}
    for stage in stages:
        entry, rt, prec = bundle.graph(stage), runtimes[stage], asked[stage]
        if stage in (files or {}):
            plans[stage] = StagePlan(stage, rt, prec, None, Path(files[stage]), entry.inputs, hints=hints[stage])
            continue
        if prec in CALIBRATED:
            if rt not in policies:
                policies[rt] = calibrated_precisions(bundle, rt, prec)
            prec = policies[rt][stage]
        if static and entry.static_sizes():
            plans[stage] = replace(_static_plan(stage, entry, rt, prec), hints=hints[stage])
        else:
            variant, inputs = _variant(stage, entry, rt, prec, stage in unpadded)
            plans[stage] = StagePlan(stage, rt, prec, variant, None, inputs, hints=hints[stage])
    return plans


def _hints(bundle: Bundle) -> dict[str, Mapping[str, Any]]:
    """Each graph's hints; a bundle written before graphs carried any gets its family's (Family.graph_hints)."""
    graphs = bundle.manifest.graphs
    if any(entry.hints for entry in graphs.values()):
        return {stage: entry.hints for stage, entry in graphs.items()}
    from voxport.families import family_of

    legacy = family_of(bundle.manifest).graph_hints
    return {stage: legacy.get(stage, {}) for stage in graphs}


def _variant(stage: str, entry: GraphEntry, runtime: str, precision: str, unpadded: bool
             ) -> tuple[str, tuple[TensorSpec, ...]]:
    """The variant key to open and the inputs to declare for it. The polyphase bf16/fp16 vocoder and the
    int8 files have no unmasked copy and stay masked."""
    variant = variant_for(runtime, precision, entry.variants)
    if variant == "int8" and "int8" not in entry.variants:
        raise MissingVariantError(
            "int8", sorted(entry.variants), stage,
            advice="this bundle has no int8 graphs yet: run `voxport calibrate --bundle DIR --runtime "
            f"{runtime}` to create and quality-check them",
        )
    if unpadded and variant == DEFAULT_PRECISION and unmasked_variant(DEFAULT_PRECISION) in entry.variants:
        return unmasked_variant(DEFAULT_PRECISION), tuple(t for t in entry.inputs if t.name != c.FRAME_MASK)
    return variant, entry.inputs


def _static_plan(stage: str, entry: GraphEntry, runtime: str, precision: str) -> StagePlan:
    """The stage's static copies: fp32 files, which a compiling runtime lowers to `precision`."""
    if precision != DEFAULT_PRECISION and variant_for(runtime, precision, entry.variants) != DEFAULT_PRECISION:
        raise MissingVariantError(precision, [DEFAULT_PRECISION], stage, advice=f"static graphs are fp32 files; "
                                  f"{runtime} cannot compile them to {precision}")
    return StagePlan(stage, runtime, precision, DEFAULT_PRECISION, None, entry.inputs,
                     tuple(entry.static_sizes()))
