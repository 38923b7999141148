"""Cutting a frame sequence into windows of fixed sizes that reproduce it exactly.

A frame-level graph (decoder, vocoder) looks `reach` frames to each side. A window keeps only its
core, whose frames have `reach` frames of context inside the window on each side, or lie against the
sequence's true start or end (where the graph sees the same zero padding as on the whole sequence).
Each window is taken at a bucket size where possible, so it needs no padding; a window shorter than
its bucket is padded with masked frames by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_FIRST_CHUNK_FRAMES = 8  # a stream's first chunk: ~93 ms of audio at 22050 Hz / hop 256
DEFAULT_CHUNK_FRAMES = 512


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


def stream_head_frames(first: int, reach_decoder: int, reach_vocoder: int, multiple: int = 1) -> tuple[int, int]:
    """Frames of the decoder and of the vocoder call that make a stream's first chunk of `first` frames
    (voxport.pipeline.streaming), for a sentence longer than that: the vocoder needs its reach after the chunk,
    the decoder its own reach after that, on the decoder's frame multiple. Knowing them at load lets a
    fixed-shape voice prepare exactly these shapes, so the first chunk is never padded to a bucket."""
    vocoder = first + reach_vocoder
    return -(-(vocoder + reach_decoder) // multiple) * multiple, vocoder


# A call's fixed cost in frames of work: on OpenVINO the vocoder costs ~0.18 ms per frame at every bucket
# and ~0.3 ms per call (2-core AMD EPYC, AVX-512 BF16), so an extra window must save at least 2 frames.
CALL_COST_FRAMES = 2


def cheapest_windows(n: int, buckets: tuple[int, ...], reach: int, multiple: int = 1,
                     call_cost: int = CALL_COST_FRAMES) -> list[Window]:
    """The plan_windows plan, walked with each bucket in turn as the largest, that computes the fewest
    frames (padding and context margins count; each call adds `call_cost`).

    One window padded up to the next bucket can cost more than two windows that fit smaller buckets
    with their margins: 300 vocoder frames (reach 11) are 384 frames padded, or 256 + 96 windowed.
    Every candidate is a plan_windows plan, so every one joins exactly.
    """
    best: list[Window] | None = None
    for i in range(len(buckets)):
        if buckets[i] < n and i + 1 < len(buckets) and buckets[i + 1] < n:
            continue  # a walk with a smaller largest bucket only adds margins
        try:
            plan = plan_windows(n, buckets[: i + 1], reach, multiple)
        except ValueError:  # this bucket is too small for the reach: walk with a larger one
            continue
        cost = sum(w.size + call_cost for w in plan)
        if best is None or cost < sum(w.size + call_cost for w in best):
            best = plan
    if best is None:
        return plan_windows(n, buckets, reach, multiple)  # raises with the reason
    return best
