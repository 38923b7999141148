"""The workers of one loaded voice, and the streams that carry their audio to the event loop.

A `Voice` is not thread-safe, so every worker thread owns one loaded copy; requests for the same voice
run at once up to its worker count. A request that finds the workers and the queue full is refused at
once with `Busy`: a clear "try later" beats an unbounded wait (Home Assistant times out anyway).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from voxport.pipeline.pacing import AheadPacing
from voxport.pipeline.streaming import AudioChunk
from voxport.pipeline.timestamps import SentenceTiming
from voxport.server.errors import Busy, Cancelled
from voxport.server.metrics import PoolStats
from voxport.synthesis import SynthesisConfig

_END = object()  # ends a stream of chunks (worker -> event loop) or of text pieces (event loop -> worker)
_CANCEL = object()  # ends a stream of text pieces with Cancelled: its consumer went away


def pcm16(audio: np.ndarray) -> bytes:
    """float32 [-1, 1] -> 16-bit little-endian PCM, the format Wyoming and OpenAI's `pcm` carry."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class VoicePool:
    """The workers of one voice. `workers` Voice copies, at most `workers + queue_size` requests admitted.

    `stats` may outlive the pool (a voice unloaded and loaded again keeps counting); `on_idle` is called,
    from a worker thread, whenever the last admitted request ends.
    """

    def __init__(self, name: str, voices: list[Any], queue_size: int, *, stats: PoolStats | None = None,
                 on_idle: Callable[[], None] | None = None, solo: Any = None, solo_ahead: bool = True,
                 shared_cores: bool = False) -> None:
        """`solo`: one more loaded copy, with every core's threads, that a request gets when no other request
        of this voice is running (the usual Home Assistant home has one client): a worker copy keeps one
        thread so that concurrent requests share the cores instead of fighting over them. `solo_ahead`: on
        that copy, a sentence the client is far enough ahead for is synthesized whole instead of in
        windows (voxport.pipeline.pacing; the same audio, less work). `shared_cores`: the copies run on one
        thread pool for the process (voxport.runtimes.share_thread_pool), so a request running alone gets
        every core on whichever copy it takes, and is paced as on the solo copy."""
        if not voices:
            raise ValueError("a voice pool needs at least one worker")
        self.name = name
        self.manifest = voices[0].manifest
        self.sample_rate: int = voices[0].sample_rate
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for v in voices:
            self._idle.put(v)
        self._voices = voices + ([solo] if solo is not None else [])
        self._solo, self._solo_free, self._running = solo, solo is not None, 0
        # A request running alone is paced where it has every core: on the solo copy, or on any copy when
        # the copies share one pool.
        self._pace_alone = solo_ahead and (solo is not None or shared_cores)
        self.workers = len(voices)
        self.capacity = len(voices) + queue_size
        self._admitted = threading.BoundedSemaphore(self.capacity)
        self._executor = ThreadPoolExecutor(len(voices), thread_name_prefix=f"voxport-{name}")
        self._lock = threading.Lock()
        self.in_flight = 0  # admitted requests, running or queued (for /health and /metrics)
        self.retired = False  # being unloaded: admits nothing more
        self._closed = False
        self.stats = stats if stats is not None else PoolStats()
        self.on_idle = on_idle

    def _admit(self) -> None:
        with self._lock:
            if self.retired:
                raise Busy(f"voice {self.name!r} is being unloaded; retry")
            if not self._admitted.acquire(blocking=False):
                self.stats.add(busy=1)
                raise Busy(f"voice {self.name!r} is busy ({self.workers} workers, queue full); retry later")
            self.in_flight += 1
        self.stats.add(requests=1)

    def _release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            idle = self.in_flight == 0
        self._admitted.release()
        if idle and self.on_idle is not None:
            self.on_idle()

    def retire(self) -> bool:
        """Admit nothing more, if nothing is in flight now (the caller then closes the pool)."""
        with self._lock:
            if self.in_flight:
                return False
            self.retired = True
            return True

    def stream(self, text: str | Iterable[str], config: SynthesisConfig, *, timeout: float | None = None,
               limit: float | None = None, timings: bool = False, **kwargs: Any) -> ChunkStream:
        """`Voice.stream` on a worker, its chunks delivered to the event loop as they are made.

        `timings`: after the first chunk of each sentence, the stream also carries that sentence's
        `SentenceTiming`, computed on the worker (aligning words needs the voice's phonemizer, which is
        not thread-safe, and takes tens of ms the event loop must not spend) once that chunk has left.

        Admission happens now (raises `Busy` before any response starts); closing the iterator early
        (client gone) stops the worker at its next chunk and frees it. Past `timeout` seconds from now
        (queueing included) the iterator raises TimeoutError and stops the worker the same way; its message
        names `limit`, the request's whole time limit, when the caller spent part of it already (loading).
        """
        self._admit()
        try:
            def make(voice: Any, alone: bool) -> Iterator[AudioChunk | SentenceTiming]:
                # Only a request that runs alone is paced: one that shares the cores with others keeps its
                # sentences' windows (first audio early for every client).
                paced = {"pacing": AheadPacing()} if alone and self._pace_alone else {}
                chunks = voice.stream(text, config, **kwargs, **paced)
                return _with_timings(chunks) if timings else chunks

            stream = self._run(make, timeout, text if isinstance(text, TextFeed) else None)
            stream.limit = limit if limit is not None else timeout
            return stream
        except BaseException:
            self._release()
            raise

    def _run(self, make: Callable[[Any, bool], Iterator[AudioChunk | SentenceTiming]], timeout: float | None,
             feed: TextFeed | None) -> ChunkStream:
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        admitted = time.perf_counter()

        def work() -> None:
            voice, alone = self._take()
            start, samples, final = time.perf_counter(), 0, _END
            try:
                for chunk in make(voice, alone):
                    if stop.is_set():
                        raise Cancelled()
                    if isinstance(chunk, AudioChunk):
                        if not samples and chunk.audio.size:
                            self.stats.observe(first_audio=time.perf_counter() - admitted)
                        samples += chunk.audio.size
                    loop.call_soon_threadsafe(out.put_nowait, chunk)
            except BaseException as exc:  # delivered to the consumer, who decides what the client sees
                final = exc
                if not stop.is_set():
                    self.stats.add(errors=1)
            finally:
                end = time.perf_counter()
                audio_seconds = samples / self.sample_rate
                self.stats.add(audio_seconds=audio_seconds, worker_seconds=end - start)
                if not stop.is_set():  # a request cut off or left by its client has no duration worth graphing
                    self.stats.observe(request_seconds=end - admitted)
                    if samples:
                        self.stats.observe(real_time_factor=(end - start) / audio_seconds)
                self._give(voice)
                self._release()
                # Last, so that a client who has seen the end of its answer finds the worker free again.
                if not stop.is_set():
                    loop.call_soon_threadsafe(out.put_nowait, final)

        return ChunkStream(out, stop, self._executor.submit(work), self._release, timeout,
                           sample_rate=self.sample_rate, feed=feed)

    def _take(self) -> tuple[Any, bool]:
        """The copy a starting request runs on, and whether it starts alone: the all-cores copy when it
        would run alone, else a worker's (there always is one free: the executor runs at most `workers`
        jobs, the solo copy counted among them)."""
        with self._lock:
            alone = self._running == 0
            self._running += 1
            if alone and self._solo_free:
                self._solo_free = False
                self.stats.add(solo=1)
                return self._solo, True
        return self._idle.get(), alone

    def _give(self, voice: Any) -> None:
        with self._lock:
            self._running -= 1
            if voice is self._solo:
                self._solo_free = True
                return
        self._idle.put(voice)

    def close(self) -> None:
        """Wait for the workers, then release every copy of the voice (once; later calls do nothing)."""
        with self._lock:
            if self._closed:
                return
            self._closed = self.retired = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        for v in self._voices:
            v.close()


def _with_timings(chunks: Iterator[AudioChunk]) -> Iterator[AudioChunk | SentenceTiming]:
    """Each chunk, and after a sentence's first chunk that sentence's timing (silence has none)."""
    last = None
    for chunk in chunks:
        yield chunk
        if chunk.timing_source is not None and chunk.timing_source is not last:
            last = chunk.timing_source
            yield last.get()


class ChunkStream:
    """Chunks from a worker. `aclose` (also before the first chunk: an async generator that never started
    would skip its cleanup) stops the worker, or un-queues a job that has not started and frees its slot."""

    def __init__(self, out: asyncio.Queue[Any], stop: threading.Event, future: Future[None],
                 release: Callable[[], None], timeout: float | None = None, *, sample_rate: int = 0,
                 feed: TextFeed | None = None) -> None:
        self._out, self._stop, self._future, self._release = out, stop, future, release
        self._done = self._stopped = False
        self.limit = timeout  # what a timeout's message names as the limit (the request's, see VoicePool.stream)
        self._deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        self._feed = feed
        self._on_done: list[Callable[[ChunkStream], None]] = []
        self.sample_rate = sample_rate

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> AudioChunk | SentenceTiming:
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
                raise TimeoutError(f"synthesis took longer than the {self.limit:g} s limit") from None
        if item is _END or isinstance(item, BaseException):
            self._finish()
            if item is _END:
                raise StopAsyncIteration
            raise item
        return item

    def add_done_callback(self, fn: Callable[[ChunkStream], None]) -> None:
        """Call `fn(stream)` once, when its consumer has seen the end, an error, or closed it."""
        self._on_done.append(fn)

    @property
    def done(self) -> bool:
        return self._done

    async def aclose(self) -> None:
        self._finish()
        self._stop_worker()

    def cut_off(self, exc: BaseException) -> None:
        """End the stream with `exc` for its consumer, after the chunks it already holds (server shutdown);
        the worker stops at its next chunk."""
        if not self._done:
            self._stop_worker()
            self._out.put_nowait(exc)

    def _stop_worker(self) -> None:
        if self._stopped:  # a cancelled future "cancels" again: its slot must be freed only once
            return
        self._stopped = True
        self._stop.set()
        if self._feed is not None:
            self._feed.cancel()  # a worker waiting for text wakes up now
        if self._future.cancel():  # still queued: it never runs, so it releases nothing itself
            self._release()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        callbacks, self._on_done = self._on_done, []
        for fn in callbacks:
            fn(self)


class TextFeed:
    """Text pieces from the event loop to a worker's `Voice.stream` (Wyoming's streaming synthesis).

    The worker blocks on the next piece at most `timeout` seconds, so a client that stops sending text
    cannot hold a worker forever; `cancel` wakes it at once.
    """

    def __init__(self, timeout: float) -> None:
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.timeout = timeout

    def put(self, text: str) -> None:
        self._q.put(text)

    def end(self) -> None:
        self._q.put(_END)

    def cancel(self) -> None:
        self._q.put(_CANCEL)

    def __iter__(self) -> Iterator[str]:
        while True:
            try:
                piece = self._q.get(timeout=self.timeout)
            except queue.Empty:
                raise TimeoutError(f"no text for {self.timeout:g} s in a streaming synthesis") from None
            if piece is _END:
                return
            if piece is _CANCEL:
                raise Cancelled("the streaming synthesis was stopped")
            yield piece
