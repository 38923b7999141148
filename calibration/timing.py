"""The timing step: every candidate as a voice runs it, on sentences it has not seen, cold and warm.

Real text never repeats a shape, and the first call with a new shape can cost a runtime that compiles
per shape several times a repeat (OpenVINO's CPU plugin). So each candidate session is opened fresh
and prepared the way `Voice.load` prepares it: on a runtime that runs fixed shapes by default
(voxport.runtimes.shapes) every bucket is run once, and the open plus that warm-up is reported as its
load cost; on the others nothing is prepared. Then it is given `TIMED_SENTENCES` whole utterances of
distinct lengths, once each -- **cold**, the time real text costs: on dynamic shapes every call is a
first call with that shape -- and then `WARM_PASSES` more times -- **warm**, the figure repeated
sentences give. Candidates are ranked (and compared with fp32) by cold time.

Bounded: a few sentences per stage, and a candidate whose cold pass runs past `SLOW_LIMIT` times
fp32's is stopped and reported rather than timed to the end.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from voxport import progress
from voxport.bundle.manifest import Manifest
from voxport.calibration.candidates import CandidateSet
from voxport.calibration.capture import Captured, capture_stage_inputs
from voxport.calibration.search import precision_of
from voxport.families import family_of
from voxport.pipeline.shaped import ShapedRunner, fixed_stages
from voxport.runtimes import Session
from voxport.runtimes.errors import UnsupportedPrecisionError
from voxport.tools.timing import Deadline, timed_pass
from voxport.voice import Voice

TIMED_SENTENCES = 8
WARM_PASSES = 2
SLOW_LIMIT = 20.0
RANKED_BY = "cold"

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Timing:
    """One session's times on one stage's feeds (ms per utterance; load in seconds)."""

    cold_ms: float  # mean over the sentences, each the first time the session saw it
    warm_ms: float  # median over the warm passes of the mean per sentence
    load_s: float  # open (compile) + bucket warm-up
    shapes: str  # "fixed buckets" or "dynamic"
    stopped: str = ""  # why timing stopped early ("" if it did not)

    def to_dict(self) -> dict:
        return asdict(self)


def pick_sentences(sentences: Sequence[str], count: int = TIMED_SENTENCES, longest: float = 0.9) -> list[str]:
    """count + 1 sentences spread from the shortest of `sentences` to the `longest` quantile of their
    lengths (distinct lengths give distinct shapes); the first one only primes the session. The longest
    tenth is left out: the corpus's longest line (627 ids) is longer than any phoneme bucket, and a voice
    on fixed shapes splits such a sentence, so it would be timed at a shape no voice runs."""
    by_length = sorted(set(sentences), key=lambda s: (len(s), s))
    top = max(0, round(longest * (len(by_length) - 1)))
    picks = np.linspace(0, top, min(count + 1, top + 1)).round().astype(int)
    return [by_length[i] for i in dict.fromkeys(picks.tolist())]


def timing_feeds(voice: Voice, sentences: Sequence[str], seed: int) -> Captured:
    """Each stage's whole-utterance feeds (no crops) for `sentences`, one per distinct shape."""
    captured = capture_stage_inputs(voice, list(sentences), seed, frame_crop=None)
    distinct: Captured = {}
    for stage, feeds in captured.items():
        seen: dict[tuple, Feeds] = {}
        for f in feeds:
            seen.setdefault(tuple(sorted((k, v.shape) for k, v in f.items())), f)
        distinct[stage] = list(seen.values())
    return distinct


def _prepare(stage: str, session: Session, manifest: Manifest) -> tuple[Callable[[Feeds], object], str]:
    """How a voice would call this session: through the fixed-shape runner, warmed up, where the
    runtime defaults to fixed shapes; directly otherwise."""
    family = family_of(manifest)
    plan, fixed = fixed_stages(None, {stage: session}, manifest.shapes, family)
    if plan is None or stage not in fixed:
        return session.run, "dynamic"
    runner = ShapedRunner(stage, session, plan, hop_length=manifest.hop_length,
                          frame_multiple=family.pipeline.frame_multiple(manifest, stage),
                          context=family.pipeline.context(manifest, stage))
    runner.warm_up()
    return runner.run, "fixed buckets"


def time_session(open_session: Callable[[], Session], stage: str, feeds: Sequence[Feeds], manifest: Manifest,
                 limit_s: float | None = None) -> Timing:
    """Open, prepare and time one stage session: feeds[0] primes it, feeds[1:] are timed cold then warm.

    `limit_s` bounds the cold pass (voxport.tools.timing.Deadline, read after each sentence): past it
    the session is reported as stopped, with the mean of the sentences it did time, and no warm figure.
    """
    start = time.perf_counter()
    with open_session() as session:
        run, shapes = _prepare(stage, session, manifest)
        load_s = time.perf_counter() - start
        run(feeds[0])  # the session's first call: allocations and lazy set-up, a load cost
        limit = None if limit_s is None else Deadline(limit_s, clock=time.perf_counter, between="sentences")
        cold, over = timed_pass(feeds[1:], run, deadline=limit)
        if over is not None and len(cold) < len(feeds) - 1:  # past the limit on the last one: complete
            stopped = f"stopped after {len(cold)} sentences: {sum(cold):.1f} s > {SLOW_LIMIT:g}x fp32's cold pass"
            return Timing(1000 * float(np.mean(cold)), float("nan"), load_s, shapes, stopped)
        # The same sentences again: each pass's mean per sentence, the median over passes.
        warm = [float(np.mean(timed_pass(feeds[1:], run)[0])) for _ in range(WARM_PASSES)]
    return Timing(1000 * float(np.mean(cold)), 1000 * statistics.median(warm), load_s, shapes)


def time_candidates(candidates: CandidateSet, feeds: Mapping[str, list[Feeds]], manifest: Manifest,
                    say: Callable[[str], None] = lambda message: None) -> dict[str, dict]:
    """Per stage: fp32 on the runtime being calibrated, and every candidate, cold and warm.

    Every candidate is timed, the gate's refusals too: what it would have saved is part of its cost.
    One this device cannot run (or runs emulated, see voxport.runtimes.openvino_probe) is left out,
    with a note. `fp32_ms` / `candidates_ms` hold the cold times the search ranks by.
    """
    speed: dict[str, dict] = {}
    # One step per session timed (fp32 and each candidate of each stage): alike enough for a time left.
    total = sum(1 + len(files) for files in candidates.files.values())
    progress.stage(say, f"timing fp32 and the candidates of {len(candidates.files)} stages", total)
    done = 0
    unsupported: dict[str, tuple[list[str], str]] = {}  # candidate -> (stages, why): one note per candidate
    for stage, files in candidates.files.items():
        progress.step(say, done, total, f"timing {stage}: fp32 and {len(files)} candidates on "
                      f"{len(feeds[stage]) - 1} unseen sentences")
        fp32 = time_session(lambda s=stage: candidates.open_stage(s), stage, feeds[stage], manifest)
        limit = SLOW_LIMIT * fp32.cold_ms * (len(feeds[stage]) - 1) / 1000
        timed: dict[str, Timing] = {}
        for label in files:
            done += 1
            progress.step(say, done, total, f"timing {stage}: fp32 and {len(files)} candidates on "
                          f"{len(feeds[stage]) - 1} unseen sentences")
            try:
                t = time_session(lambda s=stage, c=label: candidates.open_stage(s, c), stage, feeds[stage],
                                 manifest, limit)
            except UnsupportedPrecisionError as exc:
                unsupported.setdefault(label, ([], str(exc)))[0].append(stage)
                continue
            if t.stopped:
                candidates.notes.append(f"{stage} {label}: not gated, {t.stopped}")
                continue
            timed[label] = t
        speed[stage] = {
            "ranked_by": RANKED_BY, "shapes": fp32.shapes, "sentences": len(feeds[stage]) - 1,
            "fp32_ms": fp32.cold_ms, "candidates_ms": {c: t.cold_ms for c, t in timed.items()},
            "fp32": fp32.to_dict(),
            "candidates": {c: {"precision": precision_of(c), **t.to_dict()} for c, t in timed.items()},
        }
        done += 1
    progress.step(say, total, total)
    for label, (stages, why) in unsupported.items():
        where = "any stage" if len(stages) == len(candidates.files) else ", ".join(stages)
        candidates.notes.append(f"{label} ({where}): not run on this device ({why})")
    return speed
