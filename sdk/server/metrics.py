"""Per-voice counters and histograms, and their Prometheus text form (`GET /metrics`).

Time to first audio counts from admission, so queueing shows in it, which is what a client feels.
The real-time factor is worker seconds per second of audio made (below 1: faster than real time).

Histogram bucket edges (upper bounds) come from measured values, about three edges per decade between the
smallest and the largest seen, so that both a tiny test voice and a loaded real voice land mid-range:
- time to first audio: the committed tiny voice, 3 requests alone on a 2-core EPYC, 2-10 ms (mean 5 ms,
  tests/test_server_http.py::test_metrics_histograms_count_every_request, 2026-12-07); the real default voice
  (Joe) in docs/benchmarks.md's serve_load table (2026-12-01, same machine kind): p50 0.05 s with one client,
  p99 up to 4.0 s with 16 clients on 2 workers. Edges 5 ms .. 10 s.
- request seconds: tiny voice 5-20 ms a request (mean 12 ms, same test run); Joe: total p50 0.22-3.4 s, p99 up
  to 8.9 s in that table, and a long text may take up to --request-timeout (120 s). Edges 10 ms .. 120 s.
- real-time factor: tiny voice ~0.05-0.1 (mean 0.076: its audio is short, so fixed costs dominate); Joe
  0.02-0.04 alone with 2 threads (docs/benchmarks.md's cold-shapes table), ~0.17 a worker with 2 workers on 2
  cores and ~0.7 with 16 (from the serve_load table's audio s/s), above 1 when overloaded. Edges 0.005 .. 4,
  denser between 0.05 and 0.5.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

TTFA_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
RTF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 4.0)


@dataclass
class Histogram:
    """`counts[i]` holds the observations in (edges[i-1], edges[i]], the last slot those above every edge
    (+Inf); rendered cumulative, as Prometheus wants."""

    edges: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = self.counts or [0] * (len(self.edges) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.edges, value)] += 1  # le: an edge holds values equal to it
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le label, observations <= it) per edge, then +Inf."""
        out, running = [], 0
        for edge, n in zip((*self.edges, float("inf")), self.counts, strict=True):
            running += n
            out.append(("+Inf" if edge == float("inf") else f"{edge:g}", running))
        return out


@dataclass
class PoolStats:
    requests: int = 0  # admitted
    busy: int = 0  # refused because workers and queue were full
    errors: int = 0  # ended by an error other than the client leaving
    audio_seconds: float = 0.0
    worker_seconds: float = 0.0
    loads: int = 0  # times the voice was loaded (at start with --preload, else on first use)
    unloads: int = 0  # times it was closed to make room for another voice (--max-loaded)
    load_seconds: float = 0.0  # summed time its loads took
    # Per request: from admission to the first audio (requests that produced audio), from admission to the
    # end of the answer (requests not cut off), and worker seconds per audio second (requests with audio).
    first_audio: Histogram = field(default_factory=lambda: Histogram(TTFA_BUCKETS))
    request_seconds: Histogram = field(default_factory=lambda: Histogram(REQUEST_BUCKETS))
    real_time_factor: Histogram = field(default_factory=lambda: Histogram(RTF_BUCKETS))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for key, value in amounts.items():
                setattr(self, key, getattr(self, key) + value)

    def observe(self, **values: float) -> None:
        """One observation per named histogram (first_audio, request_seconds, real_time_factor)."""
        with self._lock:
            for key, value in values.items():
                getattr(self, key).observe(value)

    # Today's names, kept: the time-to-first-audio histogram's _sum and _count are these series.
    @property
    def first_audio_seconds(self) -> float:
        return self.first_audio.total

    @property
    def first_audio_count(self) -> int:
        return self.first_audio.count


_HELP = {
    "requests_total": ("counter", "requests admitted"),
    "busy_total": ("counter", "requests refused because the voice was busy"),
    "errors_total": ("counter", "requests ended by an error"),
    "in_flight": ("gauge", "requests running or queued"),
    "time_to_first_audio_seconds": ("histogram", "time from admission to the first audio"),
    "request_seconds": ("histogram", "time from admission to the end of the answer"),
    "real_time_factor": ("histogram", "worker seconds per second of audio, per request"),
    "audio_seconds_total": ("counter", "seconds of audio produced"),
    "worker_seconds_total": ("counter", "seconds workers spent synthesizing"),
    "loaded": ("gauge", "1 while the voice is loaded"),
    "loads_total": ("counter", "times the voice was loaded"),
    "unloads_total": ("counter", "times the voice was closed to make room for another"),
    "load_seconds_total": ("counter", "seconds spent loading the voice"),
}
_HISTOGRAMS = {"time_to_first_audio_seconds": "first_audio", "request_seconds": "request_seconds",
               "real_time_factor": "real_time_factor"}


def _value(metric: str, s: PoolStats, in_flight: int, loaded: bool) -> float:
    return {
        "requests_total": s.requests, "busy_total": s.busy, "errors_total": s.errors, "in_flight": in_flight,
        "audio_seconds_total": s.audio_seconds, "worker_seconds_total": s.worker_seconds, "loaded": int(loaded),
        "loads_total": s.loads, "unloads_total": s.unloads, "load_seconds_total": s.load_seconds,
    }[metric]


def _histogram_lines(name: str, voice: str, h: Histogram) -> list[str]:
    lines = [f'{name}_bucket{{voice="{voice}",le="{le}"}} {n}' for le, n in h.cumulative()]
    return [*lines, f'{name}_sum{{voice="{voice}"}} {h.total}', f'{name}_count{{voice="{voice}"}} {h.count}']


def render(pools: Iterable[tuple[str, PoolStats, int] | tuple[str, PoolStats, int, bool]]) -> str:
    """Prometheus exposition text for (voice name, stats, in flight[, loaded]) rows; without the loaded
    flag a voice counts as loaded."""
    rows = [(row[0], row[1], row[2], row[3] if len(row) > 3 else True) for row in pools]
    lines: list[str] = []
    for metric, (kind, text) in _HELP.items():
        name = f"voxport_{metric}"
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for voice, s, in_flight, loaded in rows:
            if kind == "histogram":
                with s._lock:  # one consistent snapshot: buckets, sum and count of the same requests
                    lines += _histogram_lines(name, voice, getattr(s, _HISTOGRAMS[metric]))
            else:
                lines.append(f'{name}{{voice="{voice}"}} {_value(metric, s, in_flight, loaded)}')
    return "\n".join(lines) + "\n"
