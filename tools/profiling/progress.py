"""`voxport profile`'s progress: its jobs as the numbered stages of a voxport.progress.Progress (one line
redrawn in place on a terminal, one line per job otherwise), each job's timed calls as its steps."""

from __future__ import annotations

from typing import TextIO

from voxport.progress import Progress


class ProgressLine:
    def __init__(self, steps: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.steps = max(1, steps)
        self.index = 0  # jobs finished
        self.progress = Progress("voxport profile", quiet=not enabled, stream=stream, pipe=False)

    def start_step(self, label: str) -> None:
        self.progress.stage(f"[{min(self.index + 1, self.steps)}/{self.steps}] {label}")

    def update(self, done: int, total: int) -> None:
        """Progress inside the current job, e.g. timed calls done of all calls planned."""
        self.progress.step(done, total)

    def end_step(self) -> None:
        self.index = min(self.steps, self.index + 1)

    def close(self) -> None:
        self.progress.close()
