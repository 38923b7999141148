"""A one-line progress bar on stderr (no dependency): redrawn in place on a terminal, one line per
step otherwise so logs stay readable."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    def __init__(self, steps: int, *, enabled: bool = True, stream: TextIO | None = None, width: int = 24) -> None:
        self.steps = max(1, steps)
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.index = 0  # steps finished
        self.label = ""
        self.fraction = 0.0  # of the current step
        self._last_draw = 0.0

    def start_step(self, label: str) -> None:
        self.label, self.fraction = label, 0.0
        if self.enabled and not self.tty:
            print(f"voxport profile: [{self.index + 1}/{self.steps}] {label}", file=self.stream, flush=True)
        self._draw(force=True)

    def update(self, done: int, total: int) -> None:
        """Progress inside the current step, e.g. timed calls done of all calls planned."""
        self.fraction = min(1.0, done / total) if total else 1.0
        self._draw()

    def end_step(self) -> None:
        self.index = min(self.steps, self.index + 1)
        self.fraction = 0.0
        self._draw(force=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=self.stream, flush=True)

    def _draw(self, force: bool = False) -> None:
        if not (self.enabled and self.tty):
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        overall = (self.index + self.fraction) / self.steps
        filled = round(overall * self.width)
        elapsed = int(now - self.started)
        bar = "#" * filled + "-" * (self.width - filled)
        line = (f"\rvoxport profile [{bar}] {overall:4.0%} {min(self.index + 1, self.steps)}/{self.steps} "
                f"{self.label[:48]:<48} {elapsed // 60:02d}:{elapsed % 60:02d}")
        print(line, end="", file=self.stream, flush=True)
