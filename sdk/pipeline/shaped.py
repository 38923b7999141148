"""Running graphs on a few fixed shapes: padding to buckets, windowing long sequences, warming up.

Every padded position is masked (phoneme_lengths / phoneme_mask / frame_mask), and the graphs compute
masked positions as if they were absent, so a padded call gives the real positions exactly what the
unpadded call gives. Frame-level graphs run in windows with their measured reach as context
(voxport.pipeline.windows) when longer than the largest bucket, or when two windows cost fewer frames than one
padded call; a stream's first chunk has buckets of its own (Engine), so it is never padded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from voxport.bundle import contract as c
from voxport.pipeline.windows import cheapest_windows, plan_windows
from voxport.runtimes import FIXED_SHAPE_RUNTIMES, ShapePlan, canonical_runtime
from voxport.runtimes.base import Session
from voxport.runtimes.errors import RuntimeUnavailableError
from voxport.runtimes.shapes import SHAPE_CHOICES, small_plan
from voxport.runtimes.static import StaticSessions

if TYPE_CHECKING:
    from voxport.bundle import Bundle
    from voxport.bundle.manifest import Manifest
    from voxport.families.base import Family
    from voxport.pipeline.precision import StageChoice

log = logging.getLogger(__name__)


def _time_axis(shape: tuple[int | str, ...]) -> str | None:
    return shape[-1] if shape and shape[-1] in (c.PHONEMES, c.FRAMES, c.SAMPLES) else None


def _pad_last(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[-1] == size:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, size - x.shape[-1])])


# The inputs through which a graph learns which positions are padding, per time axis.
_MASKS = {c.PHONEMES: (c.PHONEME_LENGTHS, c.PHONEME_MASK), c.FRAMES: (c.FRAME_MASK,)}


def time_axis_of(session: Session) -> str:
    """The axis a stage's calls vary along: phonemes if any input has one, else frames."""
    return c.PHONEMES if any(c.PHONEMES in t.shape for t in session.inputs) else c.FRAMES


def can_pad(session: Session) -> bool:
    """Whether the graph masks padded positions: it takes a mask (or lengths) for its time axis, so padded
    positions are computed as if absent (a vocoder's unmasked copy cannot be padded)."""
    names = {t.name for t in session.inputs}
    return any(mask in names for mask in _MASKS[time_axis_of(session)])


# "fixed", "dynamic", "latency" (fixed, with the family's `latency_specialize` stages compiled per bucket
# too), "small" (fixed, on few buckets and no copies: voxport.runtimes.shapes.small_plan), a plan (fixed),
# None: each runtime's default.
ShapeChoice = ShapePlan | str | None


def pads(choice: ShapeChoice, runtime: str | None) -> bool:
    """Whether a stage on `runtime` runs on buckets under `choice`, if its graph can pad: never with
    "dynamic", always with "fixed", "latency", "small" or a plan, and with None on a runtime that compiles per shape."""
    return choice != "dynamic" and (choice is not None or runtime in FIXED_SHAPE_RUNTIMES)


def will_pad(family: Family, stage: str, choice: ShapeChoice, runtime: str | None) -> bool:
    """The one rule for which stages run on buckets: those the family lets pad, on a runtime `choice`
    pads (`pads`); a graph that cannot mask padding (`can_pad`) stays dynamic all the same."""
    return family.may_pad(stage) and pads(choice, runtime)


def unpadded_stages(bundle: Bundle, runtime: StageChoice, shapes: ShapeChoice) -> tuple[str, ...]:
    """The stages `Voice` will never pad, known before their sessions are opened (so that they can open a
    graph without frame_mask): `will_pad`, read from the runtime names."""
    from voxport.families import family_of  # the families import the engine, which imports this module
    from voxport.pipeline.precision import per_stage

    family = family_of(bundle.manifest)
    runtimes = per_stage(runtime, bundle.stages, "runtime")
    return tuple(s for s in bundle.stages if not will_pad(family, s, shapes, _runtime_name(runtimes[s])))


def _runtime_name(name: str) -> str | None:
    try:
        return canonical_runtime(name)
    except RuntimeUnavailableError:  # an unknown name: opening its session reports it
        return None


def fixed_stages(choice: ShapeChoice, sessions: Mapping[str, Session], default: ShapePlan | None,
                 family: Family, manifest: Manifest | None = None) -> tuple[ShapePlan | None, tuple[str, ...]]:
    """The plan (`choice` if a plan, else `default`, else ShapePlan()) and the stages that run on it
    (`will_pad` and `can_pad`). The plan's copies per bucket are the family's `specialize` stages unless
    the plan names its own ("latency": the family's `latency_specialize`). "small" is
    voxport.runtimes.shapes.small_plan of that plan, its frame bucket sized by the context the family's
    pipeline declares for `manifest`'s windowed stages."""
    if choice is not None and choice not in SHAPE_CHOICES and not isinstance(choice, ShapePlan):
        raise ValueError(f"shapes must be one of {list(SHAPE_CHOICES)}, a ShapePlan or None, not {choice!r}")
    if choice == "dynamic":
        return None, ()
    plan = choice if isinstance(choice, ShapePlan) else default or ShapePlan()
    wanted = [s for s, session in sessions.items() if will_pad(family, s, choice, session.runtime) and can_pad(session)]
    if choice == "latency":
        plan = replace(plan, specialize=family.latency_specialize)
    elif choice == "small":
        plan = small_plan(plan, _window_context(family, manifest, [s for s in wanted
                                                                   if time_axis_of(sessions[s]) == c.FRAMES]))
    elif plan.specialize is None:
        plan = replace(plan, specialize=family.specialize)
    return (plan, tuple(wanted)) if wanted else (None, ())


def _window_context(family: Family, manifest: Manifest | None, stages: list[str]) -> int | None:
    """The most context frames any of the frame-level `stages` needs per window, or None when one of
    them cannot be windowed (the family declares no context, or there is no manifest to read it from)."""
    contexts = [family.pipeline.context(manifest, s) for s in stages] if manifest is not None else [None]
    if any(n is None for n in contexts):
        return None
    return max((n for n in contexts if n is not None), default=0)


class ShapedRunner:
    """Runs one stage's session on the plan's buckets; `run` takes and returns unpadded tensors."""

    def __init__(self, stage: str, session: Session, plan: ShapePlan, *, hop_length: int, frame_multiple: int = 1,
                 context: int | None = None, exact: tuple[int, ...] = ()) -> None:
        """`frame_multiple`: window edges lie on it; `context`: frames of context a window needs on each
        side (None: long calls run whole at their own shape); `exact`: frame counts this stage is often
        called with (a stream's first chunk), prepared as buckets of their own so those calls are not
        padded (sizes above the plan's largest are ignored)."""
        self.stage, self.session, self.plan = stage, session, plan
        self.hop_length = hop_length
        self.axis = time_axis_of(session)
        self.multiple = frame_multiple if self.axis == c.FRAMES else 1
        self.reach = context
        self._axes = {t.name: _time_axis(t.shape) for t in (*session.inputs, *session.outputs)}
        largest = plan.frame_buckets[-1]
        if isinstance(session, StaticSessions):
            exact = ()  # a static copy exists for the plan's buckets only (voxport build --static)
        self.buckets = plan.phoneme_buckets if self.axis == c.PHONEMES else tuple(
            sorted(set(plan.frame_buckets) | {n for n in exact if 0 < n <= largest and n % self.multiple == 0}))
        self._warned = False

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = next(v.shape[-1] for k, v in feeds.items() if self._axes.get(k) == self.axis)
        if self.axis == c.PHONEMES:
            size = self.plan.bucket(n, c.PHONEMES)
            if size is not None:
                return self._call(feeds, 0, n, size, 0, n)
            return self._dynamic(feeds, f"{n} phoneme ids exceed the largest phoneme bucket")
        if self.reach is None and n > self.buckets[-1]:
            return self._dynamic(feeds, "the bundle records no reach to window long sequences with")
        # Splitting a sequence that fits one bucket is exact only with the graph's measured reach as context.
        planner = cheapest_windows if self.reach is not None else plan_windows
        parts = [self._call(feeds, w.lo, w.hi, w.size, w.keep_lo, w.keep_hi)
                 for w in planner(n, self.buckets, self.reach or 0, self.multiple)]
        return {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}

    def _call(self, feeds: Mapping[str, np.ndarray], lo: int, hi: int, size: int, keep_lo: int,
              keep_hi: int) -> dict[str, np.ndarray]:
        given = {k: _pad_last(v[..., lo:hi], size) if self._axes.get(k) == self.axis else v
                 for k, v in feeds.items()}
        out = self.session.run(given)
        cut = {}
        for name, value in out.items():
            per = self.hop_length if self._axes.get(name) == c.SAMPLES else 1
            cut[name] = value[..., (keep_lo - lo) * per:(keep_hi - lo) * per] if self._axes.get(name) else value
        return cut

    def _dynamic(self, feeds: Mapping[str, np.ndarray], why: str) -> dict[str, np.ndarray]:
        if not self._warned:
            log.warning("%s runs at its own shape (a new compilation on this runtime): %s", self.stage, why)
            self._warned = True
        return self.session.run(feeds)

    def warm_up(self) -> dict[int, float]:
        """One call per bucket with zero (fully masked where possible) inputs: seconds per bucket."""
        sizes = [s for s in self.buckets if s % self.multiple == 0]
        # A runtime that builds per shape (TensorRT: an optimization profile per bucket) prepares them now.
        # Static copies (voxport.runtimes.static) are one graph per bucket already and have no such hook.
        prepare = getattr(self.session, "prepare_buckets", None)
        if prepare is not None:
            prepare(self.axis, sizes, specialize=self.stage in (self.plan.specialize or ()))
        spent = {}
        for size in sizes:
            feeds = {t.name: self._zeros(t.name, t.dtype, t.shape, size) for t in self.session.inputs}
            start = time.perf_counter()
            self.session.run(feeds)
            spent[size] = time.perf_counter() - start
        return spent

    def _zeros(self, name: str, dtype: str, shape: tuple[int | str, ...], size: int) -> np.ndarray:
        if name == c.PHONEME_LENGTHS:
            return np.array([size], np.int64)
        dims = [size if d == self.axis else (1 if isinstance(d, str) else d) for d in shape]
        return np.zeros(dims, dtype)
