"""The graph sessions of one bundle, opened on a runtime and precision chosen per stage."""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from voxport.bundle import Bundle
from voxport.bundle.manifest import static_variant
from voxport.pipeline.compile_cache import runtime_cache_dir
from voxport.pipeline.precision import (  # noqa: F401 -- StageChoice, per_stage and CALIBRATED: their old home
    CALIBRATED,
    DEFAULT_PRECISION,
    DEFAULT_RUNTIME,
    StageChoice,
    StagePlan,
    calibrated_precisions,
    per_stage,
    resolve,
)
from voxport.runtimes import RuntimeOptions, Session, get_backend, open_session
from voxport.runtimes.static import StaticSessions


class _Holders:
    """How many StageSessions hold one set of sessions (StageSessions.share): the last to close closes them."""

    def __init__(self) -> None:
        self.count = 1
        self.lock = threading.Lock()


def parse_stage_choice(value: str, option: str = "a stage option") -> StageChoice:
    """A StageChoice as a person writes it: `onnxruntime`, or STAGE=NAME pairs separated by commas
    (`decoder=openvino,default=onnxruntime`; `;` also separates them, for `voxport profile`, whose commas
    separate configurations). Anything else is a ValueError saying what was expected."""
    value = value.strip()
    if "=" not in value:
        return value
    pairs = [part.split("=", 1) for part in value.replace(";", ",").split(",")]
    if any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
        raise ValueError(f"{option} {value!r}: expected one name, or STAGE=NAME pairs separated by commas "
                         "(e.g. decoder=openvino,default=onnxruntime)")
    return {stage.strip(): name.strip() for stage, name in pairs}


def _with_hints(options: RuntimeOptions | None, plan: StagePlan) -> RuntimeOptions:
    """The voice's options with this graph's hints (RuntimeOptions.hints): the runtime reads them per graph."""
    return replace(options or RuntimeOptions(), hints=dict(plan.hints))


def _with_cache(options: RuntimeOptions, plan: StagePlan, bundle: Bundle, root: Path | None) -> RuntimeOptions:
    """`options` with the stage's compiled-graph directory under `root` (voxport.pipeline.compile_cache),
    where its runtime keeps compiled graphs and the caller set no cache_dir of its own."""
    if root is None or options.cache_dir is not None:
        return options
    backend = get_backend(plan.runtime)
    if not backend.caches_compiled:
        return options
    where = runtime_cache_dir(root, bundle, backend.name, backend.module, options.device)
    return replace(options, cache_dir=str(where))


def _open_static(bundle: Bundle, plan: StagePlan, options: RuntimeOptions) -> StaticSessions:
    """A stage's static copies, one session per bucket size."""
    entry = bundle.graph(plan.stage)
    opened: dict[int, Session] = {}
    try:
        for size in plan.static_sizes:
            path = bundle.graph_path(plan.stage, static_variant(DEFAULT_PRECISION, size))
            opened[size] = open_session(plan.runtime, path, entry.inputs, entry.outputs, precision=plan.precision,
                                        options=options, name=f"{plan.stage}@{size}")
    except BaseException:
        for session in opened.values():
            session.close()
        raise
    return StaticSessions(plan.stage, opened)


@dataclass
class StageSessions:
    """Open sessions keyed by stage name, in pipeline order. Closes them all on `close` or `with` exit,
    once every holder of them (`share`) has closed its own."""

    sessions: dict[str, Session]
    _holders: _Holders = field(default_factory=_Holders, repr=False)
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def open(
        cls, bundle: Bundle, runtime: StageChoice = DEFAULT_RUNTIME, precision: StageChoice = DEFAULT_PRECISION,
        options: RuntimeOptions | None = None, *, files: Mapping[str, str | os.PathLike[str]] | None = None,
        static: bool = False, unpadded: Collection[str] = (), compile_cache: Path | None = None,
    ) -> StageSessions:
        """Open every stage of `bundle`. `files` replaces a stage's graph file (a calibration candidate),
        run at that stage's `precision`; `static` opens each stage's static-shape copies instead (see
        voxport.export.static_shapes). `unpadded` names the stages the caller will never pad: each opens
        its unmasked fp32 copy where the bundle has one (a session without frame_mask, which therefore
        cannot be padded). `compile_cache`: the root under which runtimes that cache compiled graphs
        (OpenVINO) keep this bundle's (voxport.pipeline.compile_cache), unless `options` names a cache_dir;
        None: no cache. A failure closes the sessions already opened, then raises."""
        plans = resolve(bundle, runtime, precision, files=files, static=static, unpadded=unpadded)
        opened: dict[str, Session] = {}
        try:
            for stage, plan in plans.items():
                stage_options = _with_cache(_with_hints(options, plan), plan, bundle, compile_cache)
                if plan.static_sizes:
                    opened[stage] = _open_static(bundle, plan, stage_options)
                    continue
                opened[stage] = open_session(plan.runtime, plan.path(bundle), plan.inputs, bundle.graph(stage).outputs,
                                             precision=plan.precision, options=stage_options, name=stage)
        except BaseException:
            for session in opened.values():
                session.close()
            raise
        return cls(opened)

    def __getitem__(self, stage: str) -> Session:
        return self.sessions[stage]

    def input_names(self, stage: str) -> set[str]:
        return {t.name for t in self.sessions[stage].inputs}

    @property
    def concurrent(self) -> bool:
        """Whether every session may run from several threads at once (Session.concurrent)."""
        return all(getattr(session, "concurrent", False) for session in self.sessions.values())

    @property
    def lean(self) -> bool:
        """Whether the sessions hand their buffers back after every call (RuntimeOptions.lean)."""
        return any(getattr(getattr(session, "options", None), "lean", False) for session in self.sessions.values())

    def release_memory(self) -> None:
        """Session.release_memory on every session: the buffers of the shapes met so far (the load's warm-up
        calls) are freed, and a call allocates its own again."""
        for session in self.sessions.values():
            release = getattr(session, "release_memory", None)
            if release is not None:
                release()

    def share(self) -> StageSessions:
        """The same sessions for another holder (a second loaded copy of the voice on another thread); they
        are closed when the last holder closes. ValueError unless every session runs concurrently."""
        if not self.concurrent:
            raise ValueError("these sessions cannot run from several threads at once: open another copy")
        with self._holders.lock:
            if self._closed:
                raise ValueError("these sessions are closed")
            self._holders.count += 1
        return StageSessions(self.sessions, self._holders)

    def close(self) -> None:
        with self._holders.lock:
            if self._closed:
                return
            self._closed = True
            self._holders.count -= 1
            last = self._holders.count == 0
        if last:
            for session in self.sessions.values():
                session.close()

    def __enter__(self) -> StageSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
