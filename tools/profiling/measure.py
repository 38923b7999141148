"""Measuring one configuration of the split bundle in this process: raw samples, no statistics.

Per text and run, `voice.synthesize` is timed end to end while a `StageTimes` hook on the engine
(`Engine.watch`: wall time per pipeline step, the front-end included, as Voice reports it) and each
session's own CallStats (the backend call alone) collect what happened inside it. Because both are
read around the same call, the stages can be checked to add up to the end-to-end time.
`voice.stream` is timed separately for time to first audio.

Order in a process: load, one first call (the process's one-off costs), the cold phase (`measure_cold`:
sentences this process has never spoken, then the same ones again), then the warm-up and timed rounds
over the job's texts. Every result goes into a `Recorder` as soon as it exists, so a run stopped at its
time limit still reports what it measured.

In its own process a job is stopped at its limit from outside (child.run_child). In-process nothing
can stop a call from outside, so `measure_job(timeout=...)` checks the clock between measured calls
instead: past the limit it times no further text and ends with status "timeout", keeping what it had.
The loops, the clock and the limit are voxport.tools.timing's, shared with the benchmarks and
calibration; what is measured around each call (stage timers, graph statistics) is this module's.
"""

from __future__ import annotations

import gc
import resource
import sys
from collections.abc import Callable, Iterator
from typing import Any

from voxport.tools import timing
from voxport.tools.profiling.child import Recorder
from voxport.tools.timing import Deadline, Progress, Ticker, TimeLimit

__all__ = ["Deadline", "Progress", "TimeLimit", "measure_cold", "measure_job", "measure_phases", "measure_split",
           "peak_rss_mb", "planned_calls", "skipped"]

Sample = dict[str, Any]
TimedText = Callable[[str, int], Sample]  # (text, its index) -> one timed sample
FirstAudio = Callable[[str, int], Sample | None]  # (text, its index) -> time to first audio, if any came


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def skipped(exc: BaseException, status: str = "skipped") -> dict[str, Any]:
    return {"status": status, "error": f"{type(exc).__name__}: {exc}"}


def planned_calls(job: dict[str, Any]) -> int:
    """The measured calls a job makes (warm-up rounds, timed rounds, the cold phase): progress's total."""
    cold = job.get("cold") or {}
    total = (job["warmup"] + job["runs"]) * len(job["texts"])
    return total + 2 * len(cold.get("texts", [])) + len(cold.get("short", []))


def measure_job(job: dict[str, Any], recorder: Recorder | None = None,
                progress: Progress | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Measure one job (plan.split_job / plan.baseline_job) into `recorder`; returns its result.
    Errors come back as a status ("skipped": could not start, "failed": broke while measuring,
    "timeout": `timeout` seconds, counted from here, load included, passed between two texts)."""
    deadline = Deadline(timeout, between="texts")
    if job["kind"] == "baseline":
        from voxport.tools.profiling.baseline import measure_baseline

        return measure_baseline(job, recorder, progress, deadline)
    return measure_split(job, recorder, progress, deadline)


def measure_cold(job: dict[str, Any], rec: Recorder, synthesize: Callable[[str, int], Sample],
                 first_audio: Callable[[str, int], Sample | None], tick: Callable[[], None]) -> None:
    """Each cold sentence once ("cold"), each short one's time to first audio ("cold_ttfa"), then the
    cold sentences again ("cold_warm"): the warm figure on exactly the same sentences, so cold/warm
    compares shapes seen once against shapes seen before, not one text against another."""
    cold = job.get("cold") or {}

    def short() -> None:  # still never-seen sentences: before anything is repeated
        timing.each(cold.get("short", []), lambda i, text: first_audio(text, i),
                    lambda first: rec.add("cold_ttfa", first), tick)

    timing.cold_then_warm(cold.get("texts", []), lambda i, text: synthesize(text, i), rec.add, tick, between=short)


def measure_phases(job: dict[str, Any], rec: Recorder, tick: Ticker, synthesize: TimedText,
                   first_audio: FirstAudio, warm_up: Callable[[str], object],
                   first_audio_of_sample: FirstAudio | None = None) -> bool:
    """Everything after a job's first call, in the order every profiled row (split or baseline) shares:
    the cold phase, `job["warmup"]` rounds of `warm_up`, then `job["runs"]` timed rounds over the texts,
    each a sample ("samples") and its time to first audio ("ttfa"): `first_audio` timed on its own call,
    or `first_audio_of_sample` when it is read from the sample's own call (a monolith's first sentence).

    True when it ran to the end. Otherwise the status is set on `rec` and what was recorded stays:
    "timeout" when `tick`'s deadline passed (checked here first: load and the first call may already
    have used it up, then after every measured call), "failed" on any other error.
    """
    ttfa = first_audio_of_sample or first_audio

    def timed_text(index: int, text: str) -> None:
        rec.add("samples", synthesize(text, index))
        first = ttfa(text, index)
        if first is not None:
            rec.add("ttfa", first)

    try:
        tick.deadline.check()
        measure_cold(job, rec, synthesize, first_audio, tick)
        timing.rounds(job["warmup"], job["texts"], lambda _, text: warm_up(text), after=tick)
        timing.rounds(job["runs"], job["texts"], timed_text, after=tick)
    except TimeLimit as exc:
        rec.set(**exc.result())
        return False
    except Exception as exc:
        rec.set(**skipped(exc, "failed"))
        return False
    return True


def measure_split(job: dict[str, Any], recorder: Recorder | None = None,
                  progress: Progress | None = None, deadline: Deadline | None = None) -> dict[str, Any]:
    from voxport import Voice

    rec = recorder or Recorder()
    texts = job["texts"]
    # What every synthesis call is given: the seed, and a forced step count for an autoregressive voice.
    settings: dict[str, Any] = {"seed": job["seed"]}
    if job.get("decoder_steps"):
        settings["decoder_steps"] = job["decoder_steps"]
    try:
        voice, load_s = timing.timed(lambda: Voice.load(job["bundle"], runtime=job["runtime"],
                                                       precision=job["precision"], threads=job["threads"],
                                                       progress=False))
    except Exception as exc:  # a runtime, precision or file this configuration cannot have
        rec.set(**skipped(exc))
        return rec.result
    with voice:
        sessions = voice.sessions.sessions
        size = sum(s.model_path.stat().st_size for s in sessions.values()) + voice.bundle.manifest_path.stat().st_size
        rec.set(load_ms=1000 * load_s, bundle_bytes=size)
        try:
            # The first call pays for lazy work (espeak start-up, kernel selection, compilation on
            # compiling backends, the streaming reach): reported on its own, never in the percentiles.
            _, first_call_s = timing.timed(lambda: voice.synthesize(texts[0], **settings))
            rec.set(first_call_ms=1000 * first_call_s)
            _consume(voice.stream(texts[0], **settings))
        except Exception as exc:
            rec.set(**skipped(exc))
            return rec.result

        def warm_up(text: str) -> None:
            voice.synthesize(text, **settings)
            _consume(voice.stream(text, **settings))

        if not measure_phases(job, rec, Ticker(planned_calls(job), progress, deadline),
                              lambda text, i: _time_synthesize(voice, text, settings, i),
                              lambda text, i: _time_first_audio(voice, text, settings, i), warm_up):
            return rec.result
    rec.set(peak_rss_mb=peak_rss_mb(), status="ok", error=None)
    return rec.result


def _fresh_sessions(voice: Any) -> dict[str, Any]:
    """The sessions with their CallStats zeroed, after a garbage collection: collected now, not in
    the middle of a timed call."""
    sessions = voice.sessions.sessions
    for session in sessions.values():
        session.stats.reset()
    gc.collect()
    return sessions


def _time_synthesize(voice: Any, text: str, settings: dict[str, Any], index: int) -> Sample:
    from voxport.bundle.contract import DECODER_STEP
    from voxport.pipeline.engine import StageTimes

    sessions = _fresh_sessions(voice)
    steps: list[float] = []  # an autoregressive voice's decoder steps, one by one

    def step(event: Any) -> None:
        if event.stage == DECODER_STEP:
            steps.append(event.seconds)

    with voice.engine.watch(StageTimes()) as times, voice.engine.watch(step):
        audio, elapsed = timing.timed(lambda: voice.synthesize(text, **settings))
    per_step = {"step_ms": [round(1000 * s, 4) for s in steps]} if steps else {}
    return {
        **per_step,
        "text": index,
        "end_to_end_ms": 1000 * elapsed,
        "audio_s": audio.size / voice.sample_rate,
        "stages_ms": {stage: 1000 * s for stage, s in times.totals.items()},
        "graph_ms": {stage: 1000 * sess.stats.total_s for stage, sess in sessions.items()},
        "graph_calls": {stage: sess.stats.count for stage, sess in sessions.items()},
    }


def _time_first_audio(voice: Any, text: str, settings: dict[str, Any], index: int) -> Sample | None:
    from voxport.pipeline.engine import StageTimes

    sessions = _fresh_sessions(voice)
    chunks = voice.stream(text, **settings)
    with voice.engine.watch(StageTimes()) as times:
        first, elapsed = timing.timed(lambda: next(chunks, None))
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
