"""A measurement in a child process under a time limit, its results streamed back as they are measured.

A configuration can take far longer than expected (OpenVINO fp16 emulated on a CPU without fp16
arithmetic ran 17 minutes on one benchmark) and a parent that waits for one final JSON document then
has nothing to print when it is stopped. So the child sends each result the moment it has it, one
JSON line per change (`Recorder`), and the parent (`run_child`) rebuilds the result from those lines,
stops the child at its deadline and still returns what had arrived, with status "timeout".

Used by `voxport profile` (one child per configuration and pass) and by benchmarks/*.py.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

# Prefix of a record line on the child's stdout: anything else there (a library printing) is not a record.
RECORD = "@voxport-record "
STATUSES = ("ok", "skipped", "failed", "timeout")


class Recorder:
    """A result built field by field; with a `stream`, every change is also written to it as one line.

    `set` replaces fields, `add` appends one item to a list field, so a partial result is always a
    valid prefix of the complete one.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.result: dict[str, Any] = {}
        self.stream = stream

    def set(self, **fields: Any) -> None:
        apply_record(self.result, {"set": fields})
        self._send({"set": fields})

    def add(self, key: str, item: Any) -> None:
        apply_record(self.result, {"add": key, "item": item})
        self._send({"add": key, "item": item})

    def _send(self, record: dict[str, Any]) -> None:
        if self.stream is not None:
            # flush: the parent must hold each result even if this process is killed the next moment.
            print(RECORD + json.dumps(record), file=self.stream, flush=True)


def apply_record(result: dict[str, Any], record: dict[str, Any]) -> None:
    if "set" in record:
        result.update(record["set"])
    else:
        result.setdefault(record["add"], []).append(record["item"])


def parse_record(line: str) -> dict[str, Any] | None:
    if not line.startswith(RECORD):
        return None
    try:
        return json.loads(line[len(RECORD):])
    except json.JSONDecodeError:  # a line cut short when the child was killed
        return None


@dataclass
class ChildOutcome:
    """What a child measured and how it ended: "ok", "skipped"/"failed" (the child said so, or it exited
    with an error), or "timeout" (stopped at the limit). `result` holds every field it sent either way."""

    status: str
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def run_child(
    cmd: Sequence[str],
    timeout: float | None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_stderr: Callable[[str], bool] | None = None,
) -> ChildOutcome:
    """Run `cmd`, collecting its records until it exits or `timeout` seconds pass (None: no limit).

    `on_record` sees each record as it arrives; `on_stderr` each stderr line, returning True when it
    consumed it (a progress line) so it stays out of the error text. Both run in this thread.
    """
    start = time.monotonic()
    # A session of its own: at the deadline the whole group goes (OpenVINO/onnxruntime worker threads
    # live in the child itself, but a child may start helpers of its own).
    child = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    readers = [threading.Thread(target=_pump, args=(pipe, name, lines), daemon=True)
               for pipe, name in ((child.stdout, "out"), (child.stderr, "err"))]
    for reader in readers:
        reader.start()
    result: dict[str, Any] = {}
    tail: deque[str] = deque(maxlen=20)

    def handle(kind: str, line: str) -> None:
        if kind == "out":
            record = parse_record(line)
            if record is not None:
                apply_record(result, record)
                if on_record is not None:
                    on_record(record)
        elif not (on_stderr is not None and on_stderr(line)):
            tail.append(line.rstrip())

    timed_out = _drain(lines, handle, None if timeout is None else start + timeout)
    if timed_out:
        _stop(child)
    child.wait()
    for reader in readers:
        reader.join()
    while not lines.empty():  # what arrived between the deadline and the kill was measured in time
        kind, line = lines.get()
        if line is not None:
            handle(kind, line)
    return _outcome(result, child.returncode, timed_out, timeout, tail, time.monotonic() - start)


def _pump(pipe: TextIO | None, name: str, lines: queue.Queue[tuple[str, str | None]]) -> None:
    assert pipe is not None
    for line in pipe:
        lines.put((name, line))
    lines.put((name, None))  # end of this pipe


def _drain(lines: queue.Queue[tuple[str, str | None]], handle: Callable[[str, str], None],
           deadline: float | None) -> bool:
    """Handle lines until both pipes end (False) or the deadline passes (True)."""
    open_pipes = 2
    while open_pipes:
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            return True
        try:
            kind, line = lines.get(timeout=wait)
        except queue.Empty:
            return True
        if line is None:
            open_pipes -= 1
        else:
            handle(kind, line)
    return False


def _stop(child: subprocess.Popen[str]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)  # the child's own group (start_new_session), nothing else
    except (ProcessLookupError, PermissionError, AttributeError):
        child.kill()


def _outcome(result: dict[str, Any], code: int | None, timed_out: bool, timeout: float | None,
             tail: deque[str], seconds: float) -> ChildOutcome:
    status = result.pop("status", None)
    error = result.pop("error", None)
    if timed_out:
        return ChildOutcome("timeout", result, f"stopped at the time limit ({timeout:g} s); "
                                               "the results it sent before then are kept", seconds)
    if code != 0:
        detail = "\n".join(tail).strip() or "no output"
        return ChildOutcome("failed", result, error or f"exited with status {code}: {detail}", seconds)
    if status not in STATUSES:  # exited cleanly without saying how it went
        return ChildOutcome("failed", result, error or "ended without reporting a status", seconds)
    return ChildOutcome(status, result, error, seconds)
