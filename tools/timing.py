"""One timing harness for everything in voxport that times calls: the profiler (voxport.tools.profiling),
the benchmarks (benchmarks/_common.py) and calibration's timing step (voxport.calibration.timing).

They all measure the same way, so the way lives here once:

- one clock per kind of figure (`timed`, perf_counter by default; a test passes a fake one);
- **cold** runs, each item the process has never seen once, then **warm** runs, the very same items
  again (`cold_then_warm`, `timed_pass`): real text never repeats a sentence, and a runtime that
  compiles per input shape pays for each new one, so a cold figure is only comparable with a warm one
  taken on the same items;
- **warm-up** rounds whose results are thrown away, then timed rounds (`rounds`);
- a **time limit** checked between calls (`Deadline`, `TimeLimit`): nothing can stop a call from the
  inside of the process, so the clock is read after each one and the work ends there, cleanly, keeping
  what it measured (`timed_pass` returns it, `stopped_by_limit` turns the exception into a value);
- **percentiles** computed one way (`percentile`).

The order of a whole measurement (load, a first call that absorbs one-off costs, cold, warm-up, timed)
stays with each caller, which knows what its items are; the harness gives it the parts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

X = TypeVar("X")  # an item: a text, phoneme ids, a feed dict
R = TypeVar("R")  # what measuring one item gives (a sample dict, seconds)
T = TypeVar("T")

Clock = Callable[[], float]  # seconds, monotonic
Progress = Callable[[int, int], None]  # (done, total) measured calls
Measure = Callable[[int, X], R | None]  # (index, item) -> a result, or None: nothing to record
After = Callable[[], None]  # run after each measured call: progress, the deadline

# The record names the cold phase fills; the profiler's and the benchmarks' reports read them.
COLD = "cold"
COLD_WARM = "cold_warm"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0 to 100) of `values`, None when there are none.

    Linear interpolation between samples (numpy's default), so with a few samples p99 lies close to the
    maximum instead of jumping to it; every report in voxport uses this one definition.
    """
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, np.float64), q))


class TimeLimit(Exception):
    """Work passed its time limit; what it measured before the check is kept (status "timeout")."""

    def __init__(self, timeout: float, between: str = "timed calls") -> None:
        super().__init__(f"stopped at the time limit ({timeout:g} s), checked between {between} in-process; "
                         "the results it measured before then are kept")
        self.timeout = timeout

    def result(self) -> dict[str, Any]:
        """The status fields a report row takes for work stopped here."""
        return {"status": "timeout", "error": str(self)}


class Deadline:
    """`timeout` seconds from now on `clock` (None: never); `check` raises TimeLimit once they have passed.

    `between` names what the checks fall between ("texts", "sentences"), for the message only.
    """

    def __init__(self, timeout: float | None, clock: Clock = time.monotonic, between: str = "timed calls") -> None:
        self.timeout = timeout
        self.clock = clock
        self.between = between
        self.at = None if timeout is None else clock() + timeout

    def passed(self) -> bool:
        return self.at is not None and self.clock() >= self.at

    def check(self) -> None:
        if self.passed():
            assert self.timeout is not None  # passed() is never true without one
            raise TimeLimit(self.timeout, self.between)


class Ticker:
    """Counts measured calls against the `total` planned, reports them to `progress`, then checks the
    `deadline`: given as `after`, it makes a measurement stop between two items, never inside one."""

    def __init__(self, total: int, progress: Progress | None = None, deadline: Deadline | None = None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.deadline = deadline or Deadline(None)

    def __call__(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)
        self.deadline.check()


def timed(call: Callable[[], T], clock: Clock = time.perf_counter) -> tuple[T, float]:
    """`call()`'s result and the seconds it took on `clock`."""
    start = clock()
    result = call()
    return result, clock() - start


def each(items: Sequence[X], measure: Measure[X, R], record: Callable[[R], None] | None = None,
         after: After | None = None) -> None:
    """`measure(index, item)` for every item in order; each result that is not None goes to `record`
    as soon as it exists (a run stopped later keeps it), then `after` runs (progress, the deadline)."""
    for index, item in enumerate(items):
        result = measure(index, item)
        if record is not None and result is not None:
            record(result)
        if after is not None:
            after()


def cold_then_warm(items: Sequence[X], measure: Measure[X, R], record: Callable[[str, R], None],
                   after: After | None = None, between: After | None = None) -> None:
    """Each item once, recorded as COLD (the first time the process meets it), then the same items
    again as COLD_WARM: cold over warm then compares the same items, so it measures only what meeting
    an item (a shape) for the first time costs. `between` runs other never-seen work in between (the
    profiler's short sentences for time to first audio) before anything is repeated."""
    each(items, measure, lambda result: record(COLD, result), after)
    if between is not None:
        between()
    each(items, measure, lambda result: record(COLD_WARM, result), after)


def rounds(count: int, items: Sequence[X], measure: Measure[X, R], record: Callable[[R], None] | None = None,
           after: After | None = None) -> None:
    """`count` rounds over all items (A B C, A B C): warm-up rounds without `record`, timed ones with."""
    for _ in range(count):
        each(items, measure, record, after)


def timed_pass(items: Sequence[X], call: Callable[[X], object], clock: Clock = time.perf_counter,
               deadline: Deadline | None = None) -> tuple[list[float], TimeLimit | None]:
    """Seconds of `call(item)` per item, in order, and why the pass stopped early (None: it did not).

    With a `deadline` the pass ends after the call during which it passed: the items timed so far are
    returned, not lost, and the caller reports the TimeLimit as it sees fit.
    """
    spent: list[float] = []
    stopped = stopped_by_limit(lambda: each(items, lambda _, item: timed(lambda: call(item), clock)[1],
                                            spent.append, deadline.check if deadline else None))
    return spent, stopped


def stopped_by_limit(work: Callable[[], None]) -> TimeLimit | None:
    """Run `work`; the TimeLimit that ended it early, or None when it ran to the end. Any other error
    still propagates: running out of time is a result, a crash is not."""
    try:
        work()
    except TimeLimit as exc:
        return exc
    return None
