"""Configured voices, each with its own worker pool and a bounded queue (`voxport serve`).

A `Voice` is not thread-safe, so every worker thread owns one loaded copy; requests for different voices,
and for the same voice up to its worker count, run at once. A request that finds its voice's workers and
queue full is refused at once with `Busy`: a clear "try later" beats an unbounded wait (Home Assistant
times out anyway). Names resolve only to configured voices: a request never names a path.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxport.server.metrics import PoolStats
from voxport.streaming import AudioChunk
from voxport.synthesis import SynthesisConfig

DEFAULT_MAX_WORKERS = 8
_END = object()  # ends a stream of chunks (worker -> event loop) or of text pieces (event loop -> worker)


class Busy(RuntimeError):
    """Every worker of the voice is busy and its queue is full."""


class UnknownVoice(LookupError):
    """A request named a voice that is not configured."""


class Cancelled(RuntimeError):
    """The consumer went away; the worker stops between chunks."""


@dataclass(frozen=True)
class VoiceSpec:
    """One configured voice: the name clients use and the bundle directory it loads."""

    name: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> VoiceSpec:
        """`NAME=BUNDLE_DIR`, or a bare `BUNDLE_DIR` named after its folder."""
        name, sep, path = text.partition("=")
        if not sep:
            name, path = Path(text).name, text
        if not name or not path:
            raise ValueError(f"a voice is NAME=BUNDLE_DIR or BUNDLE_DIR, got {text!r}")
        return cls(name, Path(path))


def pcm16(audio: np.ndarray) -> bytes:
    """float32 [-1, 1] -> 16-bit little-endian PCM, the format Wyoming and OpenAI's `pcm` carry."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class VoicePool:
    """The workers of one voice. `workers` Voice copies, at most `workers + queue_size` requests admitted."""

    def __init__(self, name: str, voices: list[Any], queue_size: int) -> None:
        if not voices:
            raise ValueError("a voice pool needs at least one worker")
        self.name = name
        self.manifest = voices[0].manifest
        self.sample_rate: int = voices[0].sample_rate
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for v in voices:
            self._idle.put(v)
        self._voices = voices
        self.workers = len(voices)
        self.capacity = len(voices) + queue_size
        self._admitted = threading.BoundedSemaphore(self.capacity)
        self._executor = ThreadPoolExecutor(len(voices), thread_name_prefix=f"voxport-{name}")
        self._lock = threading.Lock()
        self.in_flight = 0  # admitted requests, running or queued (for /health and /metrics)
        self.stats = PoolStats()

    def _admit(self) -> None:
        if not self._admitted.acquire(blocking=False):
            self.stats.add(busy=1)
            raise Busy(f"voice {self.name!r} is busy ({self.workers} workers, queue full); retry later")
        with self._lock:
            self.in_flight += 1
        self.stats.add(requests=1)

    def _release(self) -> None:
        with self._lock:
            self.in_flight -= 1
        self._admitted.release()

    def stream(self, text: str | Iterable[str], config: SynthesisConfig, *, timeout: float | None = None,
               **kwargs: Any) -> ChunkStream:
        """`Voice.stream` on a worker, its chunks delivered to the event loop as they are made.

        Admission happens now (raises `Busy` before any response starts); closing the iterator early
        (client gone) stops the worker at its next chunk and frees it. Past `timeout` seconds from now
        (queueing included) the iterator raises TimeoutError and stops the worker the same way.
        """
        self._admit()
        try:
            return self._run(lambda voice: voice.stream(text, config, **kwargs), timeout)
        except BaseException:
            self._release()
            raise

    def _run(self, make: Callable[[Any], Iterator[AudioChunk]], timeout: float | None) -> ChunkStream:
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        admitted = time.perf_counter()

        def work() -> None:
            voice = self._idle.get()  # always one: the executor runs at most `workers` jobs
            start, samples, final = time.perf_counter(), 0, _END
            try:
                for chunk in make(voice):
                    if stop.is_set():
                        raise Cancelled()
                    if not samples and chunk.audio.size:
                        self.stats.add(first_audio_seconds=time.perf_counter() - admitted, first_audio_count=1)
                    samples += chunk.audio.size
                    loop.call_soon_threadsafe(out.put_nowait, chunk)
            except BaseException as exc:  # delivered to the consumer, who decides what the client sees
                final = exc
                if not stop.is_set():
                    self.stats.add(errors=1)
            finally:
                self.stats.add(audio_seconds=samples / self.sample_rate, worker_seconds=time.perf_counter() - start)
                self._idle.put(voice)
                self._release()
                # Last, so that a client who has seen the end of its answer finds the worker free again.
                if not stop.is_set():
                    loop.call_soon_threadsafe(out.put_nowait, final)

        return ChunkStream(out, stop, self._executor.submit(work), self._release, timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        for v in self._voices:
            v.close()


class ChunkStream:
    """Chunks from a worker. `aclose` (also before the first chunk: an async generator that never started
    would skip its cleanup) stops the worker, or un-queues a job that has not started and frees its slot."""

    def __init__(self, out: asyncio.Queue[Any], stop: threading.Event, future: Future[None],
                 release: Callable[[], None], timeout: float | None = None) -> None:
        self._out, self._stop, self._future, self._release = out, stop, future, release
        self._done = False
        self._timeout = timeout
        self._deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> AudioChunk:
        if self._done:
            raise StopAsyncIteration
        if self._deadline is None:
            item = await self._out.get()
        else:
            try:
                remaining = self._deadline - asyncio.get_running_loop().time()
                item = await asyncio.wait_for(self._out.get(), max(remaining, 0.0))
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                await self.aclose()
                raise TimeoutError(f"synthesis took longer than the {self._timeout:g} s limit") from None
        if item is _END or isinstance(item, BaseException):
            self._done = True
            if item is _END:
                raise StopAsyncIteration
            raise item
        return item

    async def aclose(self) -> None:
        self._done = True
        self._stop.set()
        if self._future.cancel():  # still queued: it never runs, so it releases nothing itself
            self._release()


class TextFeed:
    """Text pieces from the event loop to a worker's `Voice.stream` (Wyoming's streaming synthesis).

    The worker blocks on the next piece at most `timeout` seconds, so a client that stops sending text
    cannot hold a worker forever.
    """

    def __init__(self, timeout: float) -> None:
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.timeout = timeout

    def put(self, text: str) -> None:
        self._q.put(text)

    def end(self) -> None:
        self._q.put(_END)

    def __iter__(self) -> Iterator[str]:
        while True:
            try:
                piece = self._q.get(timeout=self.timeout)
            except queue.Empty:
                raise TimeoutError(f"no text for {self.timeout:g} s in a streaming synthesis") from None
            if piece is _END:
                return
            yield piece


class VoiceRegistry:
    """Every configured voice by name; the first is the default for requests that name none."""

    def __init__(self, pools: dict[str, VoicePool]) -> None:
        if not pools:
            raise ValueError("configure at least one voice")
        self.pools = pools
        self.default = next(iter(pools))

    @classmethod
    def load(
        cls, specs: list[VoiceSpec], *, workers: int | None = None, queue_size: int = 8,
        threads: int = 1, loader: Callable[..., Any] | None = None, **load_options: Any,
    ) -> VoiceRegistry:
        """Load every voice now, `workers` copies each (default: the cores shared among the voices, at most 8)."""
        if loader is None:
            from voxport.voice import Voice

            loader = Voice.load
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"voice names must be unique, got {names}")
        # Each worker holds a whole loaded copy, so the default is capped: beyond a few copies a voice's
        # memory grows faster than its throughput on a shared machine.
        n = workers or min(DEFAULT_MAX_WORKERS, max(1, (os.cpu_count() or 1) // max(1, len(specs) * threads)))
        pools: dict[str, VoicePool] = {}
        try:
            for spec in specs:
                voices: list[Any] = []
                try:
                    for _ in range(n):
                        voices.append(loader(spec.path, threads=threads, progress=False, **load_options))
                except BaseException:
                    for v in voices:
                        v.close()
                    raise
                pools[spec.name] = VoicePool(spec.name, voices, queue_size)
        except BaseException:
            for p in pools.values():
                p.close()
            raise
        return cls(pools)

    def get(self, name: str | None) -> VoicePool:
        if not name:
            return self.pools[self.default]
        pool = self.pools.get(name)
        if pool is None:
            raise UnknownVoice(f"unknown voice {name!r}; configured: {', '.join(self.pools)}")
        return pool

    def for_language(self, language: str) -> VoicePool:
        """The first configured voice that speaks `language` ("en" matches "en-us"; "en_US" is "en-us")."""
        want = language.lower().replace("_", "-")
        for facts in self.describe():
            if any(lang.lower() == want or lang.lower().startswith(want + "-") for lang in facts["languages"]):
                return self.pools[facts["name"]]
        raise UnknownVoice(f"no configured voice speaks {language!r}; configured: {', '.join(self.pools)}")

    def describe(self) -> list[dict[str, Any]]:
        """What clients may ask for, per voice (Wyoming `info`, HTTP `/voices`)."""
        return [voice_facts(name, pool) for name, pool in self.pools.items()]

    def close(self) -> None:
        for p in self.pools.values():
            p.close()


def voice_facts(name: str, pool: VoicePool) -> dict[str, Any]:
    m = pool.manifest
    ph = m.phonemizer
    language = ph.get("language") or m.source.get("language") or ph.get("voice") or "en-us"
    return {
        "name": name,
        "model": m.name,
        "languages": [language],
        "speakers": [k for k, _ in sorted(m.speaker_id_map.items(), key=lambda kv: kv[1])],
        "num_speakers": m.num_speakers,
        "sample_rate": pool.sample_rate,
        "license": m.source.get("license"),
        "origin": m.source.get("origin") or m.source.get("file"),
        "workers": pool.workers,
        "in_flight": pool.in_flight,
    }
