"""`Voice.load(memory_mb=...)`: the fastest load plan whose measured memory fits a budget.

What a plan holds depends on the runtime, the machine and the voice (OpenVINO's CPU plugin keeps each
graph's weights twice, its per-shape kernels and the buffers of the longest bucket; onnxruntime's arena
keeps the longest sentence's buffers), so it is measured, not predicted: each rung of the ladder is
loaded, and the process's resident memory it added -- after its warm-up, before any release, since those
buffers come back with the first long sentence -- is compared with the budget. The ladder, fastest first:

1. the plan asked for (`shapes`, default per runtime);
2. ``shapes="small"`` (few buckets, no copies per bucket), where the asked plan pads some stage;
3. the last of those with ``lean=True`` (buffers handed back after every graph call).

A rung that is not lean and runs some stage on dynamic shapes is never judged by its load: that stage's
buffers grow with the longest sentence it will meet (onnxruntime: 139 MB after load, 514 MB after thirty
corpus sentences on the default voice), which no load measures. Such rungs are skipped.

Each rung is measured in a fresh Python process (`load_within_budget` says why) and the figure is kept
beside the bundle's compiled graphs, so a later start measures nothing (`measure_remembered`). The first
rung that fits is kept; when none does, the last is kept with one warning naming what it holds. On a system
without ``/proc/self/status`` nothing can be measured: the last rung is loaded, with a warning.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxport.pipeline.compile_cache import bundle_cache_dir, compile_cache_root
from voxport.pipeline.memory import release_freed_memory
from voxport.pipeline.shaped import unpadded_stages

if TYPE_CHECKING:
    from voxport.bundle import Bundle
    from voxport.voice import Voice

__all__ = ["MemoryFit", "Rung", "MemoryBudgetWarning", "rss_mb", "ladder", "load_within", "load_within_budget"]


MEMORY_FILE = "memory-budget.json"
# The load settings a measurement depends on (compile_cache and sentence_silence do not change it).
REMEMBERED_KWARGS = ("runtime", "precision", "threads", "static")


class MemoryBudgetWarning(RuntimeWarning):
    """No load plan fits `memory_mb` (or memory cannot be measured here): the smallest was loaded."""


@dataclass(frozen=True)
class Rung:
    """One load plan of the ladder."""

    shapes: Any  # a ShapeChoice
    lean: bool

    @property
    def label(self) -> str:
        shapes = self.shapes if isinstance(self.shapes, str) or self.shapes is None else "a ShapePlan"
        return f"shapes={shapes}" + (", lean" if self.lean else "")


@dataclass(frozen=True)
class MemoryFit:
    """What `Voice.load(memory_mb=...)` chose: the budget, the plan kept and what it holds, and each plan
    tried before it with what it held (MB of resident memory added to the process)."""

    budget_mb: float
    rung: Rung
    held_mb: float | None  # None: not measurable on this system
    tried: tuple[tuple[Rung, float], ...] = ()
    remembered: bool = False  # the kept rung's figure is an earlier start's measurement

    @property
    def fits(self) -> bool:
        return self.held_mb is not None and self.held_mb <= self.budget_mb

    def describe(self) -> str:
        held = "unmeasured" if self.held_mb is None else f"{self.held_mb:.0f} MB"
        over = "".join(f"; {r.label}: {mb:.0f} MB, over" for r, mb in self.tried)
        earlier = " (measured at an earlier start)" if self.remembered else ""
        return f"memory budget {self.budget_mb:g} MB: {self.rung.label} holds {held}{earlier}{over}"


def rss_mb() -> float | None:
    """The process's resident memory in MB (Linux ``/proc/self/status``), None where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def ladder(shapes: Any, lean: bool, pads_some_stage: bool) -> list[Rung]:
    """The plans to try, fastest first (module docstring); `pads_some_stage`: the asked plan runs some
    stage on buckets, so "small" (fewer of them) holds less."""
    rungs = [Rung(shapes, lean)]
    if pads_some_stage and shapes != "small":
        rungs.append(Rung("small", lean))
    if not lean:
        rungs.append(Rung(rungs[-1].shapes, True))
    return rungs


def held_mb(voice: Voice, base: float) -> float | None:
    """Resident memory `voice` added over `base`: the most of after its warm-up (its buffers, which a
    plan that keeps them holds again after a long sentence) and after its load."""
    now = rss_mb()
    if now is None:
        return None
    return max(now, voice.warm_rss_mb or 0.0) - base


@dataclass(frozen=True)
class Measured:
    """One rung loaded in a fresh process: what it held, and whether some stage ran on dynamic shapes."""

    held_mb: float | None
    dynamic: bool
    error: str = ""  # the measuring process's last line of stderr when it failed
    remembered: bool = False  # read from an earlier start's measurement (measure_remembered)


def load_within(budget_mb: float, rungs: list[Rung], measure: Callable[[Rung], Measured],
                load: Callable[[Rung], Voice]) -> Voice:
    """Load the first of `rungs` that `measure` finds holding at most `budget_mb` (the last when none does)."""
    if isinstance(budget_mb, bool) or not isinstance(budget_mb, int | float) or not budget_mb > 0:
        raise ValueError(f"memory_mb must be a positive number of MB, got {budget_mb!r}")
    if rss_mb() is None:
        warnings.warn(f"memory_mb={budget_mb:g}: resident memory cannot be read on this system; loading the "
                      f"smallest plan ({rungs[-1].label})", MemoryBudgetWarning, stacklevel=3)
        return _keep(load(rungs[-1]), MemoryFit(budget_mb, rungs[-1], None))
    tried: list[tuple[Rung, float]] = []
    for index, rung in enumerate(rungs):
        last = index == len(rungs) - 1
        found = measure(rung)
        if found.error:
            # Loaded here, the rung fails with the real error; if it loads after all, it is kept unmeasured.
            voice = load(rung)
            warnings.warn(f"memory_mb={budget_mb:g}: {rung.label} could not be measured ({found.error}); it is "
                          "loaded without a measure", MemoryBudgetWarning, stacklevel=3)
            return _keep(voice, MemoryFit(budget_mb, rung, None, tuple(tried)))
        if not rung.lean and found.dynamic and not last:
            continue  # its buffers grow past what any load shows (module docstring)
        fit = MemoryFit(budget_mb, rung, found.held_mb, tuple(tried), found.remembered)
        if fit.fits or last:
            if not fit.fits:
                warnings.warn(f"{fit.describe()}: no plan fits memory_mb={budget_mb:g}, the smallest is loaded "
                              "(docs/runtimes-and-shapes.md, small devices)", MemoryBudgetWarning, stacklevel=3)
            return _keep(load(rung), fit)
        tried.append((rung, found.held_mb if found.held_mb is not None else float("nan")))
    raise AssertionError("unreachable: the last rung always returns")


def _keep(voice: Voice, fit: MemoryFit) -> Voice:
    voice.memory_fit = fit
    return voice


def load_within_budget(budget_mb: float, bundle: Bundle, load_kwargs: dict[str, Any],
                       load: Callable[..., Voice]) -> Voice:
    """`Voice.load(memory_mb=...)`: the ladder for `bundle` (no "small" rung for static graphs, whose
    buckets are the bundle's; rungs known to run a stage on dynamic shapes without lean left out), each
    measured by loading it in a fresh process with `load_kwargs` (Voice.load's keywords), the one kept
    loaded here with `load(**load_kwargs)`, the rung's shapes and lean in them.

    A fresh process because a runtime keeps some of what a closed voice held (OpenVINO: ~85 MB after the
    default plan's copies), which would count against every rung measured after it; it also measures what
    a device's process holds. With the compile cache on (the default) the load here reuses what the
    measuring process compiled."""
    runtime, shapes, lean, static = (load_kwargs[k] for k in ("runtime", "shapes", "lean", "static"))
    pads_some_stage = not static and len(unpadded_stages(bundle, runtime, shapes)) < len(bundle.stages)
    rungs = [r for r in ladder(shapes, lean, pads_some_stage)
             if r.lean or static or not unpadded_stages(bundle, runtime, r.shapes)]
    return load_within(budget_mb, rungs, partial(measure_remembered, bundle, load_kwargs),
                       lambda rung: load(**{**load_kwargs, "shapes": rung.shapes, "lean": rung.lean}))


def measure_remembered(bundle: Bundle, load_kwargs: dict[str, Any], rung: Rung) -> Measured:
    """`measure_in_fresh_process`, kept beside the bundle's compiled graphs (`<compile cache>/<bundle>/
    memory-budget.json`, keyed by the load's settings, voxport's and the runtimes' versions and the
    machine): a board's second start loads the plan it chose without measuring again. The compile cache's
    opt-out turns it off; a file that cannot be read or written costs a measurement, never the load."""
    root = compile_cache_root(load_kwargs["compile_cache"])
    store = bundle_cache_dir(root, bundle) / MEMORY_FILE if root is not None else None
    key = json.dumps({"shapes": repr(rung.shapes), "lean": rung.lean,
                      "load": {k: repr(load_kwargs[k]) for k in REMEMBERED_KWARGS}, "versions": _versions(),
                      "machine": [platform.machine(), os.cpu_count(), _cpu_model()]}, sort_keys=True)
    entries = _read_entries(store)
    if key in entries:
        held, dynamic = entries[key]
        return Measured(held, dynamic, remembered=True)
    found = measure_in_fresh_process(bundle.root, load_kwargs, rung)
    if store is not None and not found.error:
        entries[key] = [found.held_mb, found.dynamic]
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            partial_file = store.with_suffix(f".{os.getpid()}.tmp")
            partial_file.write_text(json.dumps(entries, indent=1))
            partial_file.replace(store)  # atomic: two processes starting at once never leave half a file
        except OSError:
            pass
    return found


def _read_entries(store: Path | None) -> dict[str, Any]:
    try:
        entries = json.loads(store.read_text()) if store is not None else {}
    except (OSError, ValueError):  # none yet, or damaged: measured again and rewritten
        return {}
    return entries if isinstance(entries, dict) else {}


def _versions() -> dict[str, str]:
    found = {}
    for package in ("voxport", "onnxruntime", "openvino", "tensorrt"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        return ""


def measure_in_fresh_process(root: Path, load_kwargs: dict[str, Any], rung: Rung) -> Measured:
    """Load `rung` of the voice at `root` in a new Python process (no fork: nothing of this one is
    inherited) and read what it held; a load that fails there is reported by the load here."""
    kwargs = {**load_kwargs, "shapes": rung.shapes, "lean": rung.lean, "verify": False, "progress": False}
    payload = pickle.dumps((str(root), kwargs))
    code = "from voxport.pipeline.memory_budget import _measure_child; _measure_child()"
    done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, check=False)
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = done.stderr.decode(errors="replace").strip().splitlines()
        return Measured(None, False, errors[-1] if errors else f"exit status {done.returncode}")
    found = json.loads(lines[-1])
    return Measured(found["held_mb"], found["dynamic"])


def _measure_child() -> None:
    from voxport.voice import Voice

    root, kwargs = pickle.loads(sys.stdin.buffer.read())
    release_freed_memory()
    base = rss_mb()
    voice = Voice.load(root, **kwargs)
    held = held_mb(voice, base) if base is not None else None
    dynamic = set(voice.sessions.sessions) != set(voice.engine.runners)  # a graph that cannot mask its padding
    print(json.dumps({"held_mb": held, "dynamic": dynamic}))
