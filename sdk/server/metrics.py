"""Per-voice counters and their Prometheus text form (`GET /metrics`).

Time to first audio counts from admission, so queueing shows in it, which is what a client feels.
The real-time factor is worker seconds per second of audio made (below 1: faster than real time).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class PoolStats:
    requests: int = 0  # admitted
    busy: int = 0  # refused because workers and queue were full
    errors: int = 0  # ended by an error other than the client leaving
    first_audio_seconds: float = 0.0  # summed over the requests that produced audio
    first_audio_count: int = 0
    audio_seconds: float = 0.0
    worker_seconds: float = 0.0
    loads: int = 0  # times the voice was loaded (at start with --preload, else on first use)
    unloads: int = 0  # times it was closed to make room for another voice (--max-loaded)
    load_seconds: float = 0.0  # summed time its loads took
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for key, value in amounts.items():
                setattr(self, key, getattr(self, key) + value)


_HELP = {
    "requests_total": ("counter", "requests admitted"),
    "busy_total": ("counter", "requests refused because the voice was busy"),
    "errors_total": ("counter", "requests ended by an error"),
    "in_flight": ("gauge", "requests running or queued"),
    "time_to_first_audio_seconds_sum": ("counter", "summed time from admission to the first audio"),
    "time_to_first_audio_seconds_count": ("counter", "requests that produced audio"),
    "audio_seconds_total": ("counter", "seconds of audio produced"),
    "worker_seconds_total": ("counter", "seconds workers spent synthesizing"),
    "loaded": ("gauge", "1 while the voice is loaded"),
    "loads_total": ("counter", "times the voice was loaded"),
    "unloads_total": ("counter", "times the voice was closed to make room for another"),
    "load_seconds_total": ("counter", "seconds spent loading the voice"),
}


def render(pools: Iterable[tuple[str, PoolStats, int] | tuple[str, PoolStats, int, bool]]) -> str:
    """Prometheus exposition text for (voice name, stats, in flight[, loaded]) rows; without the loaded
    flag a voice counts as loaded."""
    rows = [(row[0], row[1], row[2], row[3] if len(row) > 3 else True) for row in pools]
    lines: list[str] = []
    for metric, (kind, text) in _HELP.items():
        name = f"voxport_{metric}"
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for voice, s, in_flight, loaded in rows:
            value = {
                "requests_total": s.requests, "busy_total": s.busy, "errors_total": s.errors,
                "in_flight": in_flight, "time_to_first_audio_seconds_sum": s.first_audio_seconds,
                "time_to_first_audio_seconds_count": s.first_audio_count, "audio_seconds_total": s.audio_seconds,
                "worker_seconds_total": s.worker_seconds, "loaded": int(loaded), "loads_total": s.loads,
                "unloads_total": s.unloads, "load_seconds_total": s.load_seconds,
            }[metric]
            lines.append(f'{name}{{voice="{voice}"}} {value}')
    return "\n".join(lines) + "\n"
