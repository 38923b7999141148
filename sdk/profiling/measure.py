"""Measuring one configuration of the split bundle in this process: raw samples, no statistics.

Per text and run, `voice.synthesize` is timed end to end while the engine's StageTimer (wall time per
stage, feed checks included), each session's own CallStats (the backend call alone) and a front-end
timer collect what happened inside it. Because all three are read around the same call, the stages can
be checked to add up to the end-to-end time. `voice.stream` is timed separately for time to first audio.
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

Progress = Callable[[int, int], None]  # (done, total) measured calls

FRONTEND = "frontend"


class TimedFrontend:
    """Stands in for `voice.frontend` and adds the time spent inside each step of `text_to_ids` to the
    engine's current StageTimer. Voice looks `self.frontend` up on every call, so swapping the
    attribute times the front-end *inside* synthesize() and stream(), where the end-to-end time is
    taken, without changing voice.py. Everything else is delegated to the real front-end."""

    def __init__(self, inner: Any, engine: Any) -> None:
        self._inner = inner
        self._engine = engine

    def text_to_ids(self, text: str) -> Iterator[tuple[str, str, list[int]]]:
        steps = self._inner.text_to_ids(text)
        while True:
            start = time.perf_counter()
            item = next(steps, None)
            timer = self._engine.timer
            if timer is not None:
                timer.add(FRONTEND, time.perf_counter() - start)
            if item is None:
                return
            yield item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def skipped(exc: BaseException, status: str = "skipped") -> dict[str, Any]:
    return {"status": status, "error": f"{type(exc).__name__}: {exc}"}


def measure_job(job: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """Measure one job (plan.split_job / plan.baseline_job); errors come back as a status, not raised."""
    if job["kind"] == "baseline":
        from voxport.profiling.baseline import measure_baseline

        return measure_baseline(job, progress)
    return measure_split(job, progress)


def measure_split(job: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    from voxport import Voice
    from voxport.engine import StageTimer

    texts, seed = job["texts"], job["seed"]
    try:
        start = time.perf_counter()
        voice = Voice.load(job["bundle"], runtime=job["runtime"], precision=job["precision"],
                           threads=job["threads"], progress=False)
        load_ms = 1000 * (time.perf_counter() - start)
    except Exception as exc:  # a runtime, precision or file this configuration cannot have
        return skipped(exc)
    with voice:
        voice.frontend = TimedFrontend(voice.frontend, voice.engine)
        sessions = voice.sessions.sessions
        total = (job["warmup"] + job["runs"]) * len(texts)
        done = 0
        try:
            # The first call pays for lazy work (espeak start-up, kernel selection, compilation on
            # compiling backends): reported on its own, never mixed into the percentiles.
            start = time.perf_counter()
            voice.synthesize(texts[0], seed=seed)
            first_call_ms = 1000 * (time.perf_counter() - start)
            for _ in range(job["warmup"]):
                for text in texts:
                    voice.synthesize(text, seed=seed)
                    _consume(voice.stream(text, seed=seed))
                    done += 1
                    _report(progress, done, total)
        except Exception as exc:
            return skipped(exc)
        samples, ttfa = [], []
        try:
            for _ in range(job["runs"]):
                for index, text in enumerate(texts):
                    samples.append(_time_synthesize(voice, text, seed, sessions, StageTimer, index))
                    first = _time_first_audio(voice, text, seed, sessions, StageTimer, index)
                    if first is not None:
                        ttfa.append(first)
                    done += 1
                    _report(progress, done, total)
        except Exception as exc:
            return skipped(exc, "failed")
        bundle_bytes = sum(s.model_path.stat().st_size for s in sessions.values())
        bundle_bytes += voice.bundle.manifest_path.stat().st_size
    return {"status": "ok", "error": None, "load_ms": load_ms, "first_call_ms": first_call_ms,
            "peak_rss_mb": peak_rss_mb(), "bundle_bytes": bundle_bytes, "samples": samples, "ttfa": ttfa}


def _time_synthesize(voice: Any, text: str, seed: int, sessions: dict[str, Any], timer_cls: type,
                     index: int) -> dict[str, Any]:
    for session in sessions.values():
        session.stats.reset()
    # Collect garbage now rather than in the middle of a timed call.
    gc.collect()
    voice.engine.timer = timer = timer_cls()
    start = time.perf_counter()
    audio = voice.synthesize(text, seed=seed)
    elapsed = time.perf_counter() - start
    voice.engine.timer = None
    return {
        "text": index,
        "end_to_end_ms": 1000 * elapsed,
        "audio_s": audio.size / voice.sample_rate,
        "stages_ms": {stage: 1000 * s for stage, s in timer.totals.items()},
        "graph_ms": {stage: 1000 * sess.stats.total_s for stage, sess in sessions.items()},
        "graph_calls": {stage: sess.stats.count for stage, sess in sessions.items()},
    }


def _time_first_audio(voice: Any, text: str, seed: int, sessions: dict[str, Any], timer_cls: type,
                     index: int) -> dict[str, Any] | None:
    for session in sessions.values():
        session.stats.reset()
    gc.collect()
    voice.engine.timer = timer = timer_cls()
    start = time.perf_counter()
    chunks = voice.stream(text, seed=seed)
    first = next(chunks, None)
    elapsed = time.perf_counter() - start
    # Where the wait went: the stages run before the first chunk (the rest is word timestamps etc.).
    before_first = {stage: 1000 * s for stage, s in timer.totals.items()}
    calls = {stage: sess.stats.count for stage, sess in sessions.items()}
    voice.engine.timer = None
    _consume(chunks)
    if first is None:
        return None
    return {"text": index, "ttfa_ms": 1000 * elapsed, "stages_ms": before_first, "graph_calls": calls}


def _consume(chunks: Iterator[Any]) -> None:
    for _ in chunks:
        pass


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
