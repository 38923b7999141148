"""Per-voice counters and histograms, and their Prometheus text form (`GET /metrics`).

Time to first audio counts from admission, so queueing shows in it, which is what a client feels.
The real-time factor is worker seconds per second of audio made (below 1: faster than real time).

Histogram bucket edges (upper bounds), about three per decade, span what was measured, so that both a tiny test
voice and a loaded real voice land mid-range. `benchmarks/histogram_buckets.py` measured them on 2026-12-07 (a
2-core Intel Xeon shared with other jobs, load average ~5; 12 held-out sentences one by one, then 24 from 8
clients on 2 workers):
- time to first audio: the committed tiny VITS 3-10 ms alone (the first request ~0.1-0.25 s), up to 0.25 s with
  8 clients; the real default voice (Joe) 50-250 ms alone (mean 0.11 s), 0.1-5 s with 8 clients (mean 2.0 s),
  and docs/benchmarks.md's serve_load run has p99 4.0 s at 16 clients on 2 workers. Edges 5 ms .. 10 s.
- request seconds: tiny 5-250 ms; Joe 0.1-2.5 s alone (mean 0.49 s), 0.5-5 s with 8 clients, p99 8.9 s at 16
  clients in serve_load, and a long text may take up to --request-timeout (120 s). Edges 10 ms .. 120 s.
- real-time factor: tiny 0.01-0.75 (mean 0.07-0.09: its audio is short, so fixed costs weigh); Joe 0.15-0.5
  alone (mean 0.21 on this loaded machine), 0.1-0.75 with 8 clients (mean 0.35), above 1 when overloaded.
  Edges 0.005 .. 4, denser between 0.1 and 0.5, where real voices run.
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
    solo: int = 0  # requests that ran alone, on the copy with every core's threads (VoicePool's solo copy)
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
