"""What the server benchmarks share: unseen sentences, a server in a subprocess, and timed Wyoming clients.

Sentences: a TTS server never hears the same sentence twice in real use, and neither server here caches
audio, but a benchmark that repeats texts could still flatter whichever side warms per input shape. So
every request gets a sentence of its own: a corpus line (calibration/data, one sentence, 3-30 words)
addressed to a name or a numbered listener ("Grace, where is the nearest pharmacy?", "Turn left,
table 12."), drawn without repetition from a seeded RNG.

Servers: each runs as its own process (its own event loop, its own cores' worth of threads), started
with `start_new_session` so that stopping it stops whatever it started, its output going to a log file
whose tail explains a failed start.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wyoming.audio import AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

NAMES = (
    "Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Isabel", "Jonas", "Kavya", "Liam",
    "Maria", "Noah", "Olivia", "Pedro", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera", "Wei", "Yusuf",
    "Zoe", "Amir", "Bianca", "Carlos", "Dmitri", "Emma", "Felix", "Hannah", "Ines", "Jack", "Leila",
    "Marcus", "Nadia", "Oscar", "Priya", "Ruth", "Sofia", "Tomas", "Ursula", "Victor", "Wanda",
)
NUMBERED = ("table", "room", "caller", "team", "driver")  # "table 12": numbers vary the text as names do
_FIRST_PERSON = re.compile(r"^I('|\b)")  # "I", "I'm", "I'll": stays capitalised after an address


def corpus_lines() -> list[str]:
    """One-sentence corpus lines of 3-30 words ending in . ? or ! (the shared cold-sentence corpus)."""
    from voxport.text.sentences import split_sentences
    from voxport.tools.profiling.cold import corpus_sentences

    return [s for s in corpus_sentences() if s[-1] in ".?!" and 3 <= len(s.split()) <= 30
            and len(list(split_sentences(s))) == 1]


def _numbered() -> list[str]:
    return [f"{role} {n}" for role in NUMBERED for n in range(2, 100)]


def _address(sentence: str, addressee: str, before: bool) -> str:
    if before:
        keep = _FIRST_PERSON.match(sentence) or sentence[1:2].isupper()  # "I'm", "NASA": not lower-cased
        first = sentence if keep else sentence[0].lower() + sentence[1:]
        return f"{addressee[0].upper()}{addressee[1:]}, {first}"
    return f"{sentence[:-1]}, {addressee}{sentence[-1]}"


def unseen_sentences(count: int, seed: int = 0) -> list[str]:
    """`count` distinct one-sentence texts (the same for the same seed); ValueError past what exists."""
    lines, groups = corpus_lines(), (NAMES, _numbered())  # half the texts address a name, half a number
    available = len(lines) * (len(NAMES) + len(groups[1])) * 2
    if count > available // 2:  # leave the RNG room: past half the space, draws mostly collide
        raise ValueError(f"asked for {count} unseen sentences; at most {available // 2} can be drawn")
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < count:
        group = groups[rng.random() < 0.5]
        key = (rng.randrange(len(lines)), group[rng.randrange(len(group))], rng.random() < 0.5)
        if key not in seen:
            seen.add(key)
            out.append(_address(lines[key[0]], key[1], key[2]))
    return out


# --- servers ------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status_mib(pid: int, field: str = "VmRSS") -> float | None:
    """A memory figure of a process from /proc/PID/status (VmRSS: resident now, VmHWM: its peak), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class ServerProcess:
    """A Wyoming server in a subprocess: started, awaited until it answers `describe`, stopped."""

    def __init__(self, cmd: Sequence[str], port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.cmd, self.port, self.log_path = list(cmd), port, log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float) -> float:
        """Start and wait until the Wyoming port answers `describe`; returns the seconds it took."""
        begin = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})},
                                         start_new_session=True)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} while starting: {self.log_tail()}")
            if time.monotonic() - begin > timeout:
                raise TimeoutError(f"server did not answer describe within {timeout:g} s: {self.log_tail()}")
            if await self._answers_describe():
                return time.monotonic() - begin
            await asyncio.sleep(0.2)

    async def _answers_describe(self) -> bool:
        try:
            async with AsyncTcpClient("127.0.0.1", self.port) as client:
                await client.write_event(Describe().event())
                event = await asyncio.wait_for(client.read_event(), 5.0)
                return event is not None and Info.is_type(event.type)
        except (OSError, asyncio.TimeoutError):
            return False

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def memory_mib(self, field: str = "VmRSS") -> float | None:
        return None if not self.alive() else proc_status_mib(self.proc.pid, field)

    def stop(self) -> int | None:
        """Ctrl-C, then SIGTERM, then SIGKILL to the server's own process group; its exit code."""
        if self.proc is None:
            return None
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        return self.proc.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip()) or "(empty log)"


# --- Wyoming clients ----------------------------------------------------------------------------------

@dataclass
class Answer:
    """One synthesis as the client saw it. Times from before connecting (a new connection per request, as
    Home Assistant makes); ttfa: the first audio-chunk with samples; error: None when audio ended normally."""

    ttfa_s: float | None
    total_s: float
    audio_s: float
    error: str | None = None


class ServerError(RuntimeError):
    """The server answered with a Wyoming `error` event."""


async def _read_audio(client: AsyncTcpClient, start: float, until: str) -> tuple[float | None, float]:
    """Read audio events until an event of type `until`; (time to first samples, audio seconds)."""
    first, audio_s, bytes_per_s = None, 0.0, None
    while True:
        event = await client.read_event()
        if event is None:
            raise ConnectionError("the server closed the connection mid-answer")
        if AudioStart.is_type(event.type):
            start_info = AudioStart.from_event(event)
            bytes_per_s = start_info.rate * start_info.width * start_info.channels
        elif event.type == "audio-chunk" and event.payload:
            if bytes_per_s is None:
                raise ConnectionError("audio-chunk before audio-start")
            first = first if first is not None else time.perf_counter() - start
            audio_s += len(event.payload) / bytes_per_s
        elif Error.is_type(event.type):
            err = Error.from_event(event)
            raise ServerError(f"{err.code}: {err.text}")
        if event.type == until:
            return first, audio_s


async def synthesize(host: str, port: int, text: str, timeout: float, *, streaming: bool = False,
                     pieces: int = 3) -> Answer:
    """One request on a new connection: a one-shot `synthesize`, or (streaming) the text sent as `pieces`
    synthesize-chunk events between synthesize-start and -stop. Never raises: failures are `error`."""
    start = time.perf_counter()

    async def run() -> tuple[float | None, float]:
        async with AsyncTcpClient(host, port) as client:
            if not streaming:
                await client.write_event(Synthesize(text=text).event())
                return await _read_audio(client, start, AudioStop().event().type)
            await client.write_event(SynthesizeStart().event())
            step = max(1, -(-len(text) // pieces))
            for i in range(0, len(text), step):
                await client.write_event(SynthesizeChunk(text=text[i:i + step]).event())
            await client.write_event(Synthesize(text=text).event())  # what streaming clients also send
            await client.write_event(SynthesizeStop().event())
            return await _read_audio(client, start, SynthesizeStopped().event().type)

    try:
        first, audio_s = await asyncio.wait_for(run(), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        return Answer(None, time.perf_counter() - start, 0.0, f"no complete answer within {timeout:g} s")
    except (OSError, ServerError) as exc:  # ConnectionError is an OSError
        return Answer(None, time.perf_counter() - start, 0.0, f"{type(exc).__name__}: {exc}")
    total = time.perf_counter() - start
    if not audio_s:
        return Answer(first, total, 0.0, "the answer held no audio")
    return Answer(first, total, audio_s)


# --- reports ------------------------------------------------------------------------------------------

VERDICTS = {True: "met", False: "NOT met", None: "not measured"}


def print_targets(targets: Iterable[tuple[str, bool | None, str]]) -> None:
    """Issue 14's targets as lines `- what: met (detail)`; a benchmark reports them, never asserts them."""
    print("Targets (issue 14):")
    for what, met, detail in targets:
        print(f"- {what}: {VERDICTS[met]} ({detail})")


def save_json(report: dict[str, Any], out: str | None) -> None:
    if out:
        Path(out).write_text(json.dumps(report, indent=1, default=str))
        print(f"\nJSON: {out}")
