"""The graph sessions of one bundle, opened on a runtime and precision chosen per stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from voxport.bundle import Bundle, MissingVariantError
from voxport.runtimes import RuntimeOptions, Session, open_session, variant_for

StageChoice = str | Mapping[str, str]


def per_stage(choice: StageChoice, stages: tuple[str, ...], what: str) -> dict[str, str]:
    """Expand one name, or a mapping stage -> name with an optional "default" key, to every stage."""
    if isinstance(choice, str):
        return dict.fromkeys(stages, choice)
    unknown = sorted(set(choice) - set(stages) - {"default"})
    if unknown:
        raise ValueError(f"{what} given for unknown stages {unknown}; this bundle has {list(stages)}")
    fallback = choice.get("default", "cpu" if what == "runtime" else "fp32")
    return {stage: choice.get(stage, fallback) for stage in stages}


@dataclass
class StageSessions:
    """Open sessions keyed by stage name, in pipeline order."""

    sessions: dict[str, Session]

    @classmethod
    def open(
        cls, bundle: Bundle, runtime: StageChoice, precision: StageChoice, options: RuntimeOptions
    ) -> StageSessions:
        stages = bundle.stages
        runtimes = per_stage(runtime, stages, "runtime")
        precisions = per_stage(precision, stages, "precision")
        sessions: dict[str, Session] = {}
        for stage in stages:
            entry = bundle.graph(stage)
            # OpenVINO / TensorRT compile bf16/fp16 from the fp32 file when there is no file of that precision.
            variant = variant_for(runtimes[stage], precisions[stage], entry.variants)
            if variant == "int8" and "int8" not in entry.variants:
                raise MissingVariantError(
                    "int8", sorted(entry.variants), stage,
                    advice="this bundle has no int8 graphs yet: run `voxport calibrate --bundle DIR --runtime "
                    f"{runtimes[stage]}` to create and quality-check them",
                )
            sessions[stage] = open_session(
                runtimes[stage],
                bundle.graph_path(stage, variant),
                entry.inputs,
                entry.outputs,
                precision=precisions[stage],
                options=options,
                name=stage,
            )
        return cls(sessions)

    def __getitem__(self, stage: str) -> Session:
        return self.sessions[stage]

    def input_names(self, stage: str) -> set[str]:
        return {t.name for t in self.sessions[stage].inputs}

    def run(self, stage: str, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a stage with the subset of `feeds` its graph declares (optional inputs like `noise`)."""
        wanted = self.input_names(stage)
        return self.sessions[stage].run({k: v for k, v in feeds.items() if k in wanted})

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
