"""Progress of long work for people: the stage, step/total inside it, and the time left.

One small module shared by `voxport calibrate`, `voxport build` (a WaveGlow import takes ~80 s) and the Piper
conversion `voxport serve` runs in a child process, and by `voxport profile`'s bar:

- on a terminal, one line redrawn in place: `voxport: timing decoder [#####-----] 3/6 · 0:14 · ~0:14 left`;
- otherwise (a log, a pipe, CI) one line per stage, so logs stay readable;
- `quiet` prints nothing.

A `Progress` is also a plain `say(message)` callable (a stage without steps), so the export and calibration
code that reports through such callbacks takes one as is; `stage()` and `step()` below report steps to a
Progress and stay plain messages for any other callable.

A child process (`build_bundle_in_child`) cannot draw on its parent's terminal, so with PIPE_ENV set it writes
its stages and steps as PIPE_MARKER lines of JSON on stderr, and the parent's `Progress.forward` redraws
them as its own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

PIPE_ENV = "VOXPORT_PROGRESS_PIPE"  # set to "1" in a child whose stderr a parent Progress reads
PIPE_MARKER = "@voxport-progress "
REDRAW_SECONDS = 0.1  # at most this often on a terminal: a redraw per step would flood a slow one
PIPE_SECONDS = 0.25  # at most this often through a pipe (the last step of a stage always goes)


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, name: str = "voxport", *, quiet: bool = False, stream: TextIO | None = None,
                 tty: bool | None = None, pipe: bool | None = None, width: int = 20,
                 clock: Callable[[], float] = time.monotonic, tick: float | None = None) -> None:
        """`tick`: on a terminal, also redraw every `tick` seconds from a thread, so that the elapsed time
        moves during a step that takes a minute (a WaveGlow export); the owner must then `close()` it."""
        self.name, self.quiet, self.width, self.clock = name, quiet, width, clock
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.pipe = os.environ.get(PIPE_ENV) == "1" if pipe is None else pipe
        self.label = ""
        self.total: int | None = None
        self.done = 0
        self.note = ""
        self.started = self.clock()  # of the current stage
        self._drawn = float("-inf")
        self._open_line = False  # a terminal line is drawn and not yet ended
        self._lock = threading.Lock()  # the ticker and the worker both draw
        self._tick = tick if (tick and self.tty and not self.quiet and not self.pipe) else None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- reporting ------------------------------------------------------------------------------------
    def __call__(self, message: str) -> None:
        """A plain message: a new stage without steps."""
        self.stage(message)

    def stage(self, label: str, total: int | None = None) -> None:
        """A new stage of `total` steps (None: not counted)."""
        self.label, self.total, self.done, self.note = label, total, 0, ""
        self.started = self.clock()
        if self.quiet:
            return
        if self.pipe:
            self._emit({"stage": label, "total": total})
        elif self.tty:
            self._draw(force=True)
        else:
            steps = f" ({total} steps)" if total else ""
            print(f"{self.name}: {label}{steps}", file=self.stream, flush=True)

    def step(self, done: int | None = None, total: int | None = None, note: str = "") -> None:
        """`done` steps of the stage are finished (default: one more; `total` may change as it goes), and
        `note` names what runs now. A step whose note is new is worth a line of its own off a terminal too
        (a graph export, a candidate timed: tens of seconds each); plain counted steps (sentences) are not."""
        new_note = bool(note) and note != self.note
        self.done = self.done + 1 if done is None else done
        self.total = total if total is not None else self.total
        self.note = note
        if self.quiet:
            return
        last = self.total is not None and self.done >= self.total
        if self.pipe:
            if last or new_note or self.clock() - self._drawn >= PIPE_SECONDS:
                self._drawn = self.clock()
                self._emit({"done": self.done, "total": self.total, "note": note})
        elif self.tty:
            self._draw(force=last or new_note)
        elif new_note:
            count = f" [{min(self.done + 1, self.total)}/{self.total}]" if self.total else ""
            print(f"{self.name}: {self.label}{count} {note}", file=self.stream, flush=True)

    def forward(self, line: str) -> None:
        """A line of a child's stderr: its stages and steps (PIPE_MARKER lines) become this Progress's own;
        any other line is a message (its `voxport: ` prefix dropped, this one's name put on)."""
        line = line.rstrip("\n")
        if line.startswith(PIPE_MARKER):
            try:
                event: dict[str, Any] = json.loads(line[len(PIPE_MARKER):])
            except ValueError:
                event = {"stage": line}
            if "stage" in event:
                self.stage(str(event["stage"]), event.get("total"))
            else:
                self.step(event.get("done"), event.get("total"), str(event.get("note") or ""))
        elif line.strip():
            self.stage(line.removeprefix("voxport: "))

    def close(self) -> None:
        """End the terminal line (once the work is over, before anything else is printed)."""
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None
            self._stop.clear()  # drawing again (a later stage) starts a new line, and a new ticker
        with self._lock:
            if self._open_line and not self.quiet:
                print(file=self.stream, flush=True)
            self._open_line = False

    # --- drawing --------------------------------------------------------------------------------------
    def line(self) -> str:
        """The terminal line as it stands: stage, bar and count when counted, elapsed, time left."""
        elapsed = self.clock() - self.started
        head = f"{self.name}: {self.label}"
        if self.total:
            filled = round(min(1.0, self.done / self.total) * self.width)
            head += f" [{'#' * filled}{'-' * (self.width - filled)}] {self.done}/{self.total}"
        parts = [head]
        if self.note:
            parts.append(self.note)
        parts.append(_clock_text(elapsed))
        if self.total and 0 < self.done < self.total:
            # The stage's pace so far: steps of one stage are alike (graphs, sentences, candidates).
            parts.append(f"~{_clock_text(elapsed / self.done * (self.total - self.done))} left")
        return " · ".join(parts)

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._drawn < REDRAW_SECONDS:
            return
        with self._lock:
            self._drawn = now
            # \r and erase-to-end-of-line: a shorter line leaves nothing of the longer one before it.
            print(f"\r\x1b[K{self.line()}", end="", file=self.stream, flush=True)
            self._open_line = True
        if self._tick is not None and self._ticker is None:
            self._ticker = threading.Thread(target=self._ticking, name="voxport-progress", daemon=True)
            self._ticker.start()

    def _ticking(self) -> None:
        while not self._stop.wait(self._tick):
            self._draw(force=True)

    def _emit(self, event: dict[str, Any]) -> None:
        print(PIPE_MARKER + json.dumps(event), file=self.stream, flush=True)


Say = Callable[[str], None]


def stage(say: Say | None, label: str, total: int | None = None) -> None:
    """Start a stage on `say`: a Progress counts its steps, any other callable gets the label."""
    if isinstance(say, Progress):
        say.stage(label, total)
    elif say is not None:
        say(label)


def step(say: Say | None, done: int | None = None, total: int | None = None, note: str = "") -> None:
    """A step of the current stage: counted on a Progress; for any other callable, its note as a message."""
    if isinstance(say, Progress):
        say.step(done, total, note)
    elif say is not None and note:
        say(f"[{(done or 0) + 1}/{total}] {note}" if total else note)
