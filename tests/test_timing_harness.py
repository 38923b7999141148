"""voxport.tools.timing, the one timing harness: fake clocks and fake work, so every figure is exact and
nothing depends on this machine's speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxport.tools import timing
from voxport.tools.profiling.child import Recorder
from voxport.tools.profiling.measure import measure_phases
from voxport.tools.profiling.stats import percentiles
from voxport.tools.timing import COLD, COLD_WARM, Deadline, Ticker, TimeLimit

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """Seconds that move only when the fake work says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def work(self, seconds: float) -> float:
        self.now += seconds
        return seconds


# --- percentiles ---------------------------------------------------------------------------------------

def test_percentile_interpolates_linearly_and_has_no_value_without_samples():
    assert timing.percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)  # order does not matter
    assert timing.percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)  # between 3 and 4, not 4
    assert timing.percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert timing.percentile([7.0], 99) == 7.0
    assert timing.percentile([], 50) is None


def test_the_profilers_distribution_uses_the_harness_percentile():
    values = list(np.linspace(1.0, 20.0, 13) ** 2)
    row = percentiles(values)
    assert row == {"p50": timing.percentile(values, 50), "p90": timing.percentile(values, 90),
                   "p99": timing.percentile(values, 99), "mean": pytest.approx(float(np.mean(values)))}
    assert percentiles([]) == {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0}


# --- the clock and the limit ---------------------------------------------------------------------------

def test_timed_reads_the_clock_around_the_call_only():
    clock = FakeClock()
    result, seconds = timing.timed(lambda: clock.work(0.25) and "audio", clock)
    assert result == "audio" and seconds == pytest.approx(0.25)


def test_a_deadline_passes_at_its_time_and_says_so():
    clock = FakeClock()
    deadline = Deadline(2.0, clock, between="texts")
    clock.work(1.999)
    deadline.check()  # not yet
    clock.work(0.001)
    with pytest.raises(TimeLimit) as stopped:
        deadline.check()
    assert "time limit (2 s), checked between texts" in str(stopped.value)
    assert stopped.value.result() == {"status": "timeout", "error": str(stopped.value)}
    clock.work(1e9)
    Deadline(None, clock).check()  # no limit: never


def test_the_ticker_reports_progress_before_it_stops():
    clock = FakeClock()
    seen: list[tuple[int, int]] = []
    tick = Ticker(3, lambda done, total: seen.append((done, total)), Deadline(1.0, clock))
    tick()
    clock.work(1.0)
    with pytest.raises(TimeLimit):
        tick()
    assert seen == [(1, 3), (2, 3)]  # the call that ran past the limit still counts as done


# --- the loops -----------------------------------------------------------------------------------------

def test_each_records_as_it_goes_and_keeps_results_when_a_later_item_fails():
    recorded: list[str] = []
    after: list[int] = []

    def measure(index: int, item: str) -> str | None:
        if item == "boom":
            raise RuntimeError("broke")
        return None if item == "silent" else f"{index}:{item}"

    with pytest.raises(RuntimeError):
        timing.each(["a", "silent", "b", "boom", "c"], measure, recorded.append, lambda: after.append(len(recorded)))
    assert recorded == ["0:a", "2:b"]  # None is not recorded; what was measured before the error stays
    assert after == [1, 1, 2]  # after every measured call, the silent one too, never after the failed one


def test_cold_items_are_all_met_once_before_any_is_repeated():
    calls: list[str] = []
    rec = Recorder()

    def measure(index: int, item: str) -> dict:
        calls.append(item)
        return {"text": index}

    timing.cold_then_warm(["x", "y", "z"], measure, rec.add, between=lambda: calls.append("short"))
    assert calls == ["x", "y", "z", "short", "x", "y", "z"]
    assert rec.result[COLD] == rec.result[COLD_WARM] == [{"text": 0}, {"text": 1}, {"text": 2}]


def test_warm_up_rounds_run_every_item_and_record_nothing():
    calls: list[str] = []
    timed: list[str] = []
    timing.rounds(2, ["a", "b"], lambda _, item: calls.append(item))
    timing.rounds(1, ["a", "b"], lambda _, item: item, timed.append)
    assert calls == ["a", "b", "a", "b"] and timed == ["a", "b"]


def test_a_timed_pass_stops_after_the_call_that_passed_the_limit_and_keeps_its_times():
    clock = FakeClock()
    spent, stopped = timing.timed_pass([0.3, 0.3, 0.3, 0.3], clock.work, clock, Deadline(0.5, clock))
    assert spent == pytest.approx([0.3, 0.3]) and isinstance(stopped, TimeLimit)
    spent, stopped = timing.timed_pass([0.3, 0.3, 0.3], clock.work, clock)
    assert spent == pytest.approx([0.3, 0.3, 0.3]) and stopped is None


def test_only_the_time_limit_is_a_result_other_errors_propagate():
    def out_of_time() -> None:
        raise TimeLimit(1.0)

    def crash() -> None:
        raise ValueError("not a timing matter")

    assert isinstance(timing.stopped_by_limit(out_of_time), TimeLimit)
    assert timing.stopped_by_limit(lambda: None) is None
    with pytest.raises(ValueError):
        timing.stopped_by_limit(crash)


# --- the callers ---------------------------------------------------------------------------------------

def _job(runs: int = 2) -> dict:
    return {"texts": ["t0", "t1"], "warmup": 1, "runs": runs, "cold": {"texts": ["c0", "c1"], "short": ["s0"]}}


def test_the_profiler_runs_the_phases_in_order_and_a_limit_keeps_what_was_measured():
    clock = FakeClock()
    order: list[str] = []

    def synthesize(text: str, index: int) -> dict:
        order.append(f"synth {text}")
        clock.work(1.0)
        return {"text": index}

    def first_audio(text: str, index: int) -> dict:
        order.append(f"stream {text}")
        return {"text": index, "ttfa_ms": 1.0}

    rec = Recorder()
    done = measure_phases(_job(), rec, Ticker(99), synthesize, first_audio, lambda text: order.append(f"warm {text}"))
    assert done and rec.result.get("status") is None
    assert order[:5] == ["synth c0", "synth c1", "stream s0", "synth c0", "synth c1"]  # cold before repeats
    assert order[5:7] == ["warm t0", "warm t1"] and len(rec.result["samples"]) == len(rec.result["ttfa"]) == 4

    rec = Recorder()
    limited = Ticker(99, deadline=Deadline(2.5, clock, between="texts"))
    assert not measure_phases(_job(), rec, limited, synthesize, first_audio, lambda text: None)
    assert rec.result["status"] == "timeout" and "checked between texts" in rec.result["error"]
    assert len(rec.result["cold"]) == 2 and len(rec.result["cold_warm"]) == 1 and "samples" not in rec.result


def test_the_profiler_reports_a_broken_call_as_failed_with_its_samples():
    def synthesize(text: str, index: int) -> dict:
        if text == "t1":
            raise RuntimeError("kernel crashed")
        return {"text": index}

    rec = Recorder()
    assert not measure_phases({**_job(), "warmup": 0}, rec, Ticker(99), synthesize, lambda t, i: None,
                              lambda text: None)
    assert rec.result["status"] == "failed" and "kernel crashed" in rec.result["error"]
    assert rec.result["samples"] == [{"text": 0}] and "ttfa" not in rec.result  # no first audio: nothing recorded


def test_the_benchmarks_time_cold_then_the_same_utterances_warm(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from _common import time_ids

    calls: list[int] = []
    probes = iter(range(100))

    def run(ids: list[int]) -> np.ndarray:
        calls.append(len(ids))
        return np.zeros(10 * len(ids), np.float32)

    rec = Recorder()
    time_ids(run, [[1, 2, 3]], [[1], [1, 2]], 3, rec, probe=lambda: {"graph": float(next(probes))})
    assert calls == [3, 1, 2, 1, 2, 3, 3, 3, 3]  # prime, cold, cold again, warm-up + 3 timed runs
    assert [e["ids"] for e in rec.result["cold"]] == [e["ids"] for e in rec.result["cold_warm"]] == [1, 2]
    [warm] = rec.result["warm"]
    assert warm["graph"] == 5.0 and warm["samples"] == 30 and warm["s"] >= 0  # the median of probes 4, 5, 6
    assert rec.result["planned"] == {"cold": 2, "cold_warm": 2, "warm": 1}
