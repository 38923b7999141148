"""Per-session call timing, kept by the base Session around each backend call."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallStats"]


@dataclass
class CallStats:
    """Wall times of a session's ``run`` calls (the backend call only, not feed validation).

    ``count``/``total_s`` cover every call since the last reset; ``times_s`` keeps only the most recent
    ``max_history`` so a long-running server does not grow without bound.
    """

    max_history: int = 1024
    count: int = 0
    total_s: float = 0.0
    times_s: deque[float] = field(init=False, repr=False)
    # Sessions may be shared between threads (onnxruntime's run is thread-safe).
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.times_s = deque(maxlen=self.max_history)

    def record(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self.total_s += seconds
            self.times_s.append(seconds)

    def reset(self) -> None:
        with self._lock:
            self.count = 0
            self.total_s = 0.0
            self.times_s.clear()

    @property
    def last_s(self) -> float | None:
        return self.times_s[-1] if self.times_s else None

    @property
    def mean_s(self) -> float | None:
        return self.total_s / self.count if self.count else None

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"count": self.count, "total_s": self.total_s, "recent_s": list(self.times_s)}
