"""The graph sessions of one bundle, opened on a runtime and precision chosen per stage."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from voxport.bundle import Bundle, MissingVariantError
from voxport.bundle import contract as c
from voxport.bundle.manifest import static_variant, unmasked_variant
from voxport.runtimes import RuntimeOptions, Session, TensorSpec, canonical_runtime, open_session, variant_for
from voxport.runtimes.errors import RuntimeUnavailableError
from voxport.runtimes.static import StaticSessions

StageChoice = str | Mapping[str, str]
DEFAULT_RUNTIME = "onnxruntime"
# Precision names that mean "the policy `voxport calibrate` installed for this runtime": "calibrated",
# and "int8", its name from when every policy had an int8 stage (kept: same meaning).
CALIBRATED = ("calibrated", "int8")


def per_stage(choice: StageChoice, stages: tuple[str, ...], what: str) -> dict[str, str]:
    """Expand one name, or a mapping stage -> name with an optional "default" key, to every stage."""
    if isinstance(choice, str):
        return dict.fromkeys(stages, choice)
    unknown = sorted(set(choice) - set(stages) - {"default"})
    if unknown:
        raise ValueError(f"{what} given for unknown stages {unknown}; this bundle has {list(stages)}")
    fallback = choice.get("default", DEFAULT_RUNTIME if what == "runtime" else "fp32")
    return {stage: choice.get(stage, fallback) for stage in stages}


def calibrated_precision(bundle: Bundle, runtime: str, stage: str, requested: str = "calibrated") -> str:
    """The precision `voxport calibrate` chose for `stage` on `runtime`.

    "calibrated" (or "int8", the same) asks for that choice: each stage runs the precision the quality
    gate accepted for it as recorded in the manifest -- int8, int8-bf16, bf16, fp16 or fp32; a policy
    may have no int8 stage at all. Calibrated graphs are made per runtime (onnxruntime and OpenVINO
    need different ones), so a bundle calibrated for another runtime is refused with the command that
    calibrates this one.
    """
    try:
        name = canonical_runtime(runtime)
    except RuntimeUnavailableError:  # reported, with its advice, when the session is opened
        return requested
    calibration = bundle.manifest.calibration
    if name not in calibration:
        entry = bundle.graph(stage)
        done = f" (it was calibrated for {', '.join(sorted(calibration))})" if calibration else ""
        raise MissingVariantError(
            requested, sorted(v for v in entry.variants if v != "int8"), stage,
            advice=f"this bundle has no calibrated policy for {name}{done}: run `voxport calibrate --bundle DIR "
            f"--runtime {name}` to create and quality-check one",
        )
    return calibration[name].precisions.get(stage, "fp32")


def _graph_variant(bundle: Bundle, stage: str, runtime: str, precision: str, unpadded: bool
                   ) -> tuple[str, tuple[TensorSpec, ...]]:
    """The variant key to open and the inputs to declare for it.

    A stage that will never be padded opens the unmasked copy of its fp32 file when the bundle has one
    (unmasked_variant: the same graph without frame_mask, whose multiplications by ones only cost time).
    Other precisions' files (int8, the polyphase bf16/fp16 vocoder) have no such copy and stay masked.
    """
    entry = bundle.graph(stage)
    # OpenVINO / TensorRT compile bf16/fp16 from the fp32 file when there is no file of that precision.
    variant = variant_for(runtime, precision, entry.variants)
    if variant == "int8" and "int8" not in entry.variants:
        raise MissingVariantError(
            "int8", sorted(entry.variants), stage,
            advice="this bundle has no int8 graphs yet: run `voxport calibrate --bundle DIR --runtime "
            f"{runtime}` to create and quality-check them",
        )
    if unpadded and variant == "fp32" and unmasked_variant("fp32") in entry.variants:
        return unmasked_variant("fp32"), tuple(t for t in entry.inputs if t.name != c.FRAME_MASK)
    return variant, entry.inputs


def _open_static(bundle: Bundle, stage: str, runtime: str, precision: str,
                 options: RuntimeOptions | None) -> StaticSessions:
    """The stage's static copies (fp32 files; a compiling runtime lowers them to `precision`)."""
    entry = bundle.graph(stage)
    if variant_for(runtime, precision, entry.variants) != "fp32" and precision != "fp32":
        raise MissingVariantError(precision, ["fp32"], stage, advice=f"static graphs are fp32 files; {runtime} "
                                  f"cannot compile them to {precision}")
    opened: dict[int, Session] = {}
    try:
        for size in entry.static_sizes():
            path = bundle.graph_path(stage, static_variant("fp32", size))
            opened[size] = open_session(runtime, path, entry.inputs, entry.outputs, precision=precision,
                                        options=options, name=f"{stage}@{size}")
    except BaseException:
        for session in opened.values():
            session.close()
        raise
    return StaticSessions(stage, opened)


@dataclass
class StageSessions:
    """Open sessions keyed by stage name, in pipeline order. Closes them all on `close` or `with` exit."""

    sessions: dict[str, Session]

    @classmethod
    def open(
        cls, bundle: Bundle, runtime: StageChoice = DEFAULT_RUNTIME, precision: StageChoice = "fp32",
        options: RuntimeOptions | None = None, *, files: Mapping[str, str | os.PathLike[str]] | None = None,
        static: bool = False, unpadded: Collection[str] = (),
    ) -> StageSessions:
        """Open every stage of `bundle`. `files` replaces a stage's graph file (a calibration candidate),
        run at that stage's `precision`; `static` opens each stage's static-shape copies instead (see
        voxport.export.static_shapes). `unpadded` names the stages the caller will never pad: each opens
        its unmasked fp32 copy where the bundle has one (a session without frame_mask, which therefore
        cannot be padded). A failure closes the sessions already opened, then raises."""
        stages = bundle.stages
        runtimes = per_stage(runtime, stages, "runtime")
        precisions = per_stage(precision, stages, "precision")
        files = dict(files or {})
        opened: dict[str, Session] = {}
        try:
            for stage in stages:
                asked = str(precisions[stage]).strip().lower()
                if asked in CALIBRATED and stage not in files:
                    precisions[stage] = calibrated_precision(bundle, runtimes[stage], stage, asked)
                entry = bundle.graph(stage)
                if static and entry.static_sizes():
                    opened[stage] = _open_static(bundle, stage, runtimes[stage], precisions[stage], options)
                    continue
                if stage in files:
                    path, inputs = files[stage], entry.inputs
                else:
                    variant, inputs = _graph_variant(bundle, stage, runtimes[stage], precisions[stage],
                                                     stage in unpadded)
                    path = bundle.graph_path(stage, variant)
                opened[stage] = open_session(runtimes[stage], path, inputs, entry.outputs,
                                             precision=precisions[stage], options=options, name=stage)
        except BaseException:
            for session in opened.values():
                session.close()
            raise
        return cls(opened)

    def __getitem__(self, stage: str) -> Session:
        return self.sessions[stage]

    def input_names(self, stage: str) -> set[str]:
        return {t.name for t in self.sessions[stage].inputs}

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()

    def __enter__(self) -> StageSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
