"""Checks that a function stays linear in its input, without asserting wall-clock speed: the CPU time this
process spends (not the wall clock, which a busy machine stretches) on n items against n / 4, best of three.
Linear work grows about 4x, quadratic 16x: the bound sits between, so a regression to backtracking or
repeated rescans fails while load from other processes does not. Speed itself is a benchmark's business."""

from __future__ import annotations

import time
from collections.abc import Callable

FACTOR = 4
BOUND = 8.0  # a linear ratio is ~4, a quadratic one ~16
FLOOR_S = 0.005  # below this, process_time's resolution decides, not the work


def cpu_seconds(call: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return best


def assert_linear(run: Callable[[int], object], n: int, what: str) -> None:
    small = cpu_seconds(lambda: run(n // FACTOR))
    large = cpu_seconds(lambda: run(n))
    assert large <= BOUND * max(small, FLOOR_S), (
        f"{what}: {large:.3f} s of CPU for n={n} against {small:.3f} s for n={n // FACTOR} (linear: ~{FACTOR}x)")
