"""Cutting a frame sequence into windows of fixed sizes that reproduce it exactly.

A frame-level graph (decoder, vocoder) looks `reach` frames to each side. A window keeps only its
core, whose frames have `reach` frames of context inside the window on each side, or lie against the
sequence's true start or end (where the graph sees the same zero padding as on the whole sequence).
Each window is taken at a bucket size where possible, so it needs no padding; a window shorter than
its bucket is padded with masked frames by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    lo: int  # input frames [lo, hi) of the sequence
    hi: int
    keep_lo: int  # output frames [keep_lo, keep_hi) kept from this window, in sequence coordinates
    keep_hi: int
    size: int  # the bucket the window runs at (>= hi - lo)


def _down(x: int, multiple: int) -> int:
    return x // multiple * multiple


def plan_windows(n: int, buckets: tuple[int, ...], reach: int, multiple: int = 1) -> list[Window]:
    """Windows covering frames [0, n) exactly once in their kept parts.

    `buckets` sorted ascending; `multiple`: window edges lie on it (decoders that group frames). A
    sequence that fits the largest bucket is one window; a longer one is walked with windows of the
    largest bucket, and the last is placed to end at n at the smallest bucket that covers the rest.
    """
    largest = buckets[-1]
    if n <= largest:
        return [Window(0, n, 0, n, next(b for b in buckets if b >= n))]
    step = _down(largest - reach, multiple) - _down(reach + multiple - 1, multiple)
    if step <= 0 or largest % multiple:
        raise ValueError(f"the largest frame bucket {largest} is too small for a reach of {reach} frames "
                         f"(it must exceed twice the reach, on a multiple of {multiple})")
    windows, start = [], 0
    while True:
        lo = _down(max(0, start - reach), multiple)
        if n - lo <= largest:
            size = next(b for b in buckets if b >= n - lo)
            # Ending at n and starting earlier gives the bucket's full width without padding.
            lo = max(0, min(lo, _down(n - size, multiple))) if n >= size else 0
            windows.append(Window(lo, n, start, n, size))
            return windows
        hi = lo + largest
        keep_hi = _down(hi - reach, multiple)
        windows.append(Window(lo, hi, start, keep_hi, largest))
        start = keep_hi
