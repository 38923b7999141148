"""Which configured voices are loaded: on first use, once however many requests ask at the same time, at
most `max_loaded` at a time, the least recently used idle one closed to make room for another.

Everything here runs on the event loop, except loading and closing (a thread, so that neither blocks the
loop nor other voices' requests) and the pools' idle callbacks (worker threads, forwarded to the loop).
A loaded pool is handed out and admits its request with no `await` in between, so a voice seen idle here
has no request on its way in: closing it cannot cut one off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from voxport.server.errors import Busy, ShuttingDown, VoiceLoadError
from voxport.server.metrics import PoolStats
from voxport.server.pool import VoicePool

LOAD_THREADS = 2  # loads and closes at once; each load is itself single-threaded file reading and compiling


class Changes:
    """Wake-ups for coroutines waiting on a state change (a voice idle, loaded or closed; a request done),
    signalled from the event loop or from any thread. Waits are bounded, so a missed wake-up only delays."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._future: asyncio.Future[None] | None = None

    def bind(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a registry may outlive one asyncio.run (tests run several)
            self._loop, self._future = loop, None

    def notify(self) -> None:
        future, self._future = self._future, None
        if future is not None and not future.done():
            future.set_result(None)

    def notify_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(self.notify)

    async def wait(self, timeout: float) -> None:
        self.bind()
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        with contextlib.suppress(asyncio.TimeoutError):  # bounded: a missed wake-up only delays
            await asyncio.wait_for(asyncio.shield(self._future), max(timeout, 0.0))


class VoiceSlot:
    """One configured voice: what describes it without loading it, and its pool while it is loaded."""

    def __init__(self, name: str, path: Path, workers: int, queue_size: int) -> None:
        self.name, self.path = name, path
        self.workers, self.capacity = workers, workers + queue_size
        self.manifest: Any = None  # read from the bundle at configuration, or taken from the first load
        self.stats = PoolStats()  # survives unloading: the counters are per voice, not per load
        self.pool: VoicePool | None = None
        self.loading: asyncio.Future[None] | None = None
        self.reserved = False  # counted against max_loaded from the moment its load has room
        self.closing = False  # counted against max_loaded until its memory is released
        self.waiting = 0  # requests waiting for the load; while any wait, the voice is not unloaded
        self.last_used = 0
        self.options: dict[str, str] = {}  # the family settings this voice always speaks with (VoiceSpec)

    @property
    def loaded(self) -> bool:
        return self.pool is not None

    @property
    def in_flight(self) -> int:
        return self.pool.in_flight if self.pool is not None else 0

    @property
    def sample_rate(self) -> int:
        return self.pool.sample_rate if self.pool is not None else self.manifest.sample_rate


class LoadedVoices:
    """Loads voices on demand into `VoicePool`s made by `make_pool(slot)` (called in a thread)."""

    def __init__(self, slots: list[VoiceSlot], make_pool: Callable[[VoiceSlot], VoicePool],
                 max_loaded: int | None, changes: Changes) -> None:
        if max_loaded is not None and max_loaded < 1:
            raise ValueError(f"max_loaded must be at least 1, got {max_loaded}")
        self.slots = slots
        self.max_loaded = max_loaded
        self._make_pool = make_pool
        self._changes = changes
        self._clock = itertools.count(1)
        self._executor = ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix="voxport-load")
        self._lock = threading.Lock()
        self._closed = False
        self._unclaimed: set[VoicePool] = set()  # loaded in a thread, not yet installed by the loop

    def preload(self) -> None:
        """Load the first voices now, as many as `max_loaded` allows (all without a limit)."""
        for slot in self.slots[: self.max_loaded]:
            start = time.perf_counter()
            self._install(slot, self._make_pool(slot), time.perf_counter() - start)

    def take(self, slot: VoiceSlot) -> VoicePool | None:
        """The voice's pool if it is loaded (marked as used now), else None."""
        if slot.pool is not None:
            slot.last_used = next(self._clock)
        return slot.pool

    async def acquire(self, slot: VoiceSlot) -> VoicePool:
        """The voice's pool, loading it first if needed. Admit the request on it before the next `await`."""
        self._changes.bind()
        while slot.pool is None:
            if self._closed:
                raise ShuttingDown("the server is shutting down")
            if slot.waiting >= slot.capacity:
                slot.stats.add(busy=1)
                raise Busy(f"voice {slot.name!r} is loading and {slot.waiting} requests already wait for it; "
                           "retry later")
            if slot.loading is None or slot.loading.get_loop() is not asyncio.get_running_loop():
                slot.loading = asyncio.ensure_future(self._load(slot))
                slot.loading.add_done_callback(_consume_exception)  # raised to the waiters, who may be gone
            slot.waiting += 1
            try:
                await asyncio.shield(slot.loading)
            finally:
                slot.waiting -= 1
        slot.last_used = next(self._clock)
        return slot.pool

    async def _load(self, slot: VoiceSlot) -> None:
        try:
            while slot.closing:  # unloaded a moment ago: let its memory go first
                await self._changes.wait(1.0)
            await self._make_room(slot)
            start = time.perf_counter()
            try:
                pool = await asyncio.get_running_loop().run_in_executor(self._executor, self._build, slot)
            except ShuttingDown:
                slot.reserved = False
                raise
            except Exception as exc:
                slot.reserved = False
                raise VoiceLoadError(f"voice {slot.name!r} could not be loaded: {exc}") from exc
            except BaseException:
                slot.reserved = False
                raise
            with self._lock:
                claimed = pool in self._unclaimed
                self._unclaimed.discard(pool)
            if not claimed:  # close() took it (and closed it) while the loop was on its way here
                slot.reserved = False
                raise ShuttingDown("the server is shutting down")
            self._install(slot, pool, time.perf_counter() - start)
        finally:
            slot.loading = None
            self._changes.notify()

    def _build(self, slot: VoiceSlot) -> VoicePool:
        pool = self._make_pool(slot)
        with self._lock:
            closed = self._closed
            if not closed:
                self._unclaimed.add(pool)
        if closed:  # the registry closed while this loaded: nobody will install it
            pool.close()
            raise ShuttingDown("the server is shutting down")
        return pool

    def _install(self, slot: VoiceSlot, pool: VoicePool, seconds: float) -> None:
        pool.on_idle = self._changes.notify_threadsafe
        slot.pool, slot.reserved = pool, False
        if slot.manifest is None:
            slot.manifest = pool.manifest
        slot.last_used = next(self._clock)
        slot.stats.add(loads=1, load_seconds=seconds)

    async def _make_room(self, slot: VoiceSlot) -> None:
        """Reserve a place for `slot` among the loaded voices, closing the least recently used idle voice,
        or waiting for one to become idle when every loaded voice has requests in flight."""
        while self.max_loaded is not None and self._occupied() >= self.max_loaded:
            if self._closed:
                raise ShuttingDown("the server is shutting down")
            victim = self._least_recently_used_idle(slot)
            if victim is None:
                await self._changes.wait(1.0)
            else:
                await self._unload(victim)
        slot.reserved = True  # no await since the count: the place is this load's

    def _occupied(self) -> int:
        return sum(1 for s in self.slots if s.pool is not None or s.reserved or s.closing)

    def _least_recently_used_idle(self, exclude: VoiceSlot) -> VoiceSlot | None:
        idle = [s for s in self.slots
                if s is not exclude and s.pool is not None and s.waiting == 0 and s.pool.in_flight == 0]
        return min(idle, key=lambda s: s.last_used, default=None)

    async def _unload(self, slot: VoiceSlot) -> None:
        pool = slot.pool
        assert pool is not None
        if not pool.retire():  # cannot happen (admissions come from this loop), but never cut a request off
            return
        slot.pool, slot.closing = None, True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, pool.close)
        finally:
            slot.closing = False
            slot.stats.add(unloads=1)
            self._changes.notify()

    def close(self) -> None:
        """Close every loaded voice, and any that finishes loading from now on."""
        with self._lock:
            self._closed = True
            unclaimed, self._unclaimed = list(self._unclaimed), set()
        self._executor.shutdown(wait=True)
        for slot in self.slots:
            pool, slot.pool = slot.pool, None
            if pool is not None:
                pool.close()
        for pool in unclaimed:
            pool.close()


def _consume_exception(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
