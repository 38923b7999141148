"""Measuring one configuration of the split bundle in this process: raw samples, no statistics.

Per text and run, `voice.synthesize` is timed end to end while a `StageTimes` hook on the engine
(`Engine.watch`: wall time per pipeline step, the front-end included, as Voice reports it) and each
session's own CallStats (the backend call alone) collect what happened inside it. Because both are
read around the same call, the stages can be checked to add up to the end-to-end time.
`voice.stream` is timed separately for time to first audio.
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

Progress = Callable[[int, int], None]  # (done, total) measured calls


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def skipped(exc: BaseException, status: str = "skipped") -> dict[str, Any]:
    return {"status": status, "error": f"{type(exc).__name__}: {exc}"}


def measure_job(job: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """Measure one job (plan.split_job / plan.baseline_job); errors come back as a status, not raised."""
    if job["kind"] == "baseline":
        from voxport.tools.profiling.baseline import measure_baseline

        return measure_baseline(job, progress)
    return measure_split(job, progress)


def measure_split(job: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    from voxport import Voice

    texts, seed = job["texts"], job["seed"]
    try:
        start = time.perf_counter()
        voice = Voice.load(job["bundle"], runtime=job["runtime"], precision=job["precision"],
                           threads=job["threads"], progress=False)
        load_ms = 1000 * (time.perf_counter() - start)
    except Exception as exc:  # a runtime, precision or file this configuration cannot have
        return skipped(exc)
    with voice:
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
                    samples.append(_time_synthesize(voice, text, seed, index))
                    first = _time_first_audio(voice, text, seed, index)
                    if first is not None:
                        ttfa.append(first)
                    done += 1
                    _report(progress, done, total)
        except Exception as exc:
            return skipped(exc, "failed")
        sessions = voice.sessions.sessions
        bundle_bytes = sum(s.model_path.stat().st_size for s in sessions.values())
        bundle_bytes += voice.bundle.manifest_path.stat().st_size
    return {"status": "ok", "error": None, "load_ms": load_ms, "first_call_ms": first_call_ms,
            "peak_rss_mb": peak_rss_mb(), "bundle_bytes": bundle_bytes, "samples": samples, "ttfa": ttfa}


def _fresh_sessions(voice: Any) -> dict[str, Any]:
    """The sessions with their CallStats zeroed, after a garbage collection: collected now, not in
    the middle of a timed call."""
    sessions = voice.sessions.sessions
    for session in sessions.values():
        session.stats.reset()
    gc.collect()
    return sessions


def _time_synthesize(voice: Any, text: str, seed: int, index: int) -> dict[str, Any]:
    from voxport.engine import StageTimes

    sessions = _fresh_sessions(voice)
    with voice.engine.watch(StageTimes()) as times:
        start = time.perf_counter()
        audio = voice.synthesize(text, seed=seed)
        elapsed = time.perf_counter() - start
    return {
        "text": index,
        "end_to_end_ms": 1000 * elapsed,
        "audio_s": audio.size / voice.sample_rate,
        "stages_ms": {stage: 1000 * s for stage, s in times.totals.items()},
        "graph_ms": {stage: 1000 * sess.stats.total_s for stage, sess in sessions.items()},
        "graph_calls": {stage: sess.stats.count for stage, sess in sessions.items()},
    }


def _time_first_audio(voice: Any, text: str, seed: int, index: int) -> dict[str, Any] | None:
    from voxport.engine import StageTimes

    sessions = _fresh_sessions(voice)
    chunks = voice.stream(text, seed=seed)
    with voice.engine.watch(StageTimes()) as times:
        start = time.perf_counter()
        first = next(chunks, None)
        elapsed = time.perf_counter() - start
    # Where the wait went: the stages run before the first chunk (the rest is word timestamps etc.),
    # read before the rest of the stream runs (outside the watch, so it adds nothing to them).
    before_first = {stage: 1000 * s for stage, s in times.totals.items()}
    calls = {stage: sess.stats.count for stage, sess in sessions.items()}
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
