"""Configured voices, each with its own worker pool and a bounded queue (`voxport serve`).

Voices are configured at start (a bundle directory, or a Piper `.onnx` converted once into a cached
bundle) and described from their manifests without loading a graph; each is loaded at start (`preload`)
or on its first request, at most `max_loaded` at a time (voxport.server.loading). Names resolve only to
configured voices: a request never names a path. On shutdown the registry stops admitting requests,
lets the admitted ones finish for a while, cuts off the rest, then closes the voices.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from voxport.pipeline.speakers import by_id
from voxport.server.errors import Busy, Cancelled, ShuttingDown, UnknownVoice, VoiceLoadError
from voxport.server.loading import Changes, LoadedVoices, VoiceSlot
from voxport.server.piper_voices import PIPER_SUFFIX, ensure_piper_bundle, is_piper_voice
from voxport.server.pool import ChunkStream, TextFeed, VoicePool, pcm16
from voxport.synthesis import SynthesisConfig

# Re-exported: the server's modules and tests import them from here.
__all__ = ["Busy", "Cancelled", "ChunkStream", "ShuttingDown", "TextFeed", "UnknownVoice", "VoiceLoadError",
           "VoicePool", "VoiceRegistry", "VoiceSpec", "pcm16", "voice_facts"]

log = logging.getLogger(__name__)
DEFAULT_MAX_WORKERS = 8
WORKER_STOP_SECONDS = 10.0  # after a cut-off, the longest wait for workers to reach their next chunk


@dataclass(frozen=True)
class VoiceSpec:
    """One configured voice: the name clients use and its bundle directory or Piper `.onnx` file."""

    name: str
    path: Path
    # The family's own settings this voice always speaks with (`Family.options`, e.g. a VALL-E X voice
    # prompt): configured by whoever runs the server, never taken from a request.
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> VoiceSpec:
        """`NAME=PATH`, or a bare `PATH` named after its folder or file (`x/en_US-amy-low.onnx` is
        `en_US-amy-low`)."""
        name, sep, path = text.partition("=")
        if not sep:
            name, path = Path(text).name.removesuffix(PIPER_SUFFIX), text
        if not name or not path:
            raise ValueError(f"a voice is NAME=PATH or PATH (a bundle directory or a Piper .onnx), got {text!r}")
        return cls(name, Path(path))


class VoiceRegistry:
    """Every configured voice by name; the first is the default for requests that name none."""

    def __init__(self, voices: LoadedVoices, changes: Changes) -> None:
        if not voices.slots:
            raise ValueError("configure at least one voice")
        self._voices = voices
        self._changes = changes
        self.slots: dict[str, VoiceSlot] = {s.name: s for s in voices.slots}
        self.default = voices.slots[0].name
        self._active: set[ChunkStream] = set()  # admitted through open_stream and not yet finished
        self.accepting = True
        self._closed = False

    @classmethod
    def load(
        cls, specs: list[VoiceSpec], *, workers: int | None = None, queue_size: int = 8, threads: int = 1,
        loader: Callable[..., Any] | None = None, preload: bool = True, max_loaded: int | None = None,
        progress: bool = False, solo_threads: int | None = None, solo_ahead: bool = True,
        shared_pool: bool = False, **load_options: Any,
    ) -> VoiceRegistry:
        """Configure `specs`, `workers` copies each when loaded (default: the cores shared among the voices,
        at most 8). `preload` loads them now (as many as `max_loaded` allows), else each on its first
        request. A Piper `.onnx` is converted into the cache now if it is not there yet (`progress`
        reports it on stderr). `solo_threads` (default: the usable cores; 0: none) loads one more copy per
        voice with that many threads, for a request that runs alone (VoicePool); none when it would have no
        more threads than a worker's copy. `solo_ahead`: that request's later sentences are synthesized
        whole once the client is far enough ahead (VoicePool), else every sentence streams in windows.
        `shared_pool`: every onnxruntime session of the process runs on one pool of the usable cores
        (voxport.runtimes.share_thread_pool; must come before any session opens), so a request running alone
        has them all on any copy: no solo copy is loaded unless `solo_threads` asks for one."""
        if loader is None:
            from voxport.voice import Voice

            loader = Voice.load
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"voice names must be unique, got {names}")
        # Each worker holds a whole loaded copy, so the default is capped: beyond a few copies a voice's
        # memory grows faster than its throughput on a shared machine.
        resident = min(len(specs), max_loaded or len(specs))
        n = workers or min(DEFAULT_MAX_WORKERS, max(1, (os.cpu_count() or 1) // max(1, resident * threads)))
        slots = [VoiceSlot(s.name, _bundle_dir(s.path, progress), n, queue_size) for s in specs]
        for slot, spec in zip(slots, specs, strict=True):
            slot.options = dict(spec.options)

        make_pool = _PoolMaker(loader, queue_size, threads, solo_threads, solo_ahead, shared_pool, load_options)
        changes = Changes()
        loaded = LoadedVoices(slots, make_pool, max_loaded, changes)
        try:
            if preload:
                loaded.preload()
            for slot in slots:
                if slot.manifest is None:  # not loaded: described from its manifest alone
                    slot.manifest = _read_manifest(slot.path)
                _check_options(slot)
        except BaseException:
            loaded.close()
            raise
        return cls(loaded, changes)

    # --- names --------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.slots)

    @property
    def pools(self) -> dict[str, VoicePool]:
        """The voices loaded now, by name."""
        return {name: s.pool for name, s in self.slots.items() if s.pool is not None}

    def slot(self, name: str | None) -> VoiceSlot:
        if not name:
            return self.slots[self.default]
        slot = self.slots.get(name)
        if slot is None:
            raise UnknownVoice(f"unknown voice {name!r}; configured: {', '.join(self.slots)}")
        return slot

    def get(self, name: str | None) -> VoicePool:
        """A loaded voice's pool (from async code, `await acquire(name)` also loads it)."""
        slot = self.slot(name)
        if slot.pool is None:
            raise LookupError(f"voice {slot.name!r} is not loaded; `await registry.acquire(name)` loads it")
        return slot.pool

    def for_language(self, language: str) -> str:
        """The name of the first configured voice that speaks `language` ("en" matches "en-us"; "en_US"
        is "en-us")."""
        want = language.lower().replace("_", "-")
        for facts in self.describe():
            if any(lang.lower() == want or lang.lower().startswith(want + "-") for lang in facts["languages"]):
                return facts["name"]
        raise UnknownVoice(f"no configured voice speaks {language!r}; configured: {', '.join(self.slots)}")

    def describe(self) -> list[dict[str, Any]]:
        """What clients may ask for, per voice, loaded or not (Wyoming `info`, HTTP `/voices`)."""
        return [voice_facts(slot) for slot in self.slots.values()]

    # --- requests -----------------------------------------------------------------------------------
    async def acquire(self, name: str | None) -> VoicePool:
        """The voice's pool, loaded first if needed; admit a request on it before the next `await`."""
        slot = self.slot(name)
        self._check_accepting()
        return await self._voices.acquire(slot)

    async def open_stream(self, name: str | None, text: str | Iterable[str], config: SynthesisConfig, *,
                          timeout: float | None = None, **kwargs: Any) -> ChunkStream:
        """Admit a request on voice `name` (None: the default), loading the voice first if needed, and
        start it on a worker. `timeout` counts from now, the load included. Raises UnknownVoice, Busy,
        ShuttingDown, VoiceLoadError, or TimeoutError when loading took all of `timeout`."""
        slot = self.slot(name)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            self._check_accepting()  # also after a load: the shutdown may have begun meanwhile
            pool = self._voices.take(slot)
            if pool is not None:
                break
            # Loaded (or failed) when this returns; the loop takes the pool with no await in between.
            loading = self._voices.acquire(slot)
            if deadline is None:
                await loading
                continue
            try:
                await asyncio.wait_for(loading, max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                raise TimeoutError(f"loading voice {slot.name!r} took longer than the {timeout:g} s limit") from None
        remaining = None if deadline is None else max(deadline - loop.time(), 1e-3)
        if slot.options:  # the voice's configured settings win over anything the request carried
            config = replace(config, options={**config.options, **slot.options})
        stream = pool.stream(text, config, timeout=remaining, limit=timeout, **kwargs)
        self._active.add(stream)
        stream.add_done_callback(self._finished)
        return stream

    def _check_accepting(self) -> None:
        if not self.accepting:
            raise ShuttingDown("the server is shutting down; not accepting new requests")

    def _finished(self, stream: ChunkStream) -> None:
        self._active.discard(stream)
        if not self._active:
            self._changes.notify()

    @property
    def active(self) -> int:
        """Requests admitted through `open_stream` whose answer is not finished."""
        return len(self._active)

    # --- shutdown -----------------------------------------------------------------------------------
    def stop_accepting(self) -> None:
        """Refuse new requests with ShuttingDown from now on; admitted ones carry on."""
        self.accepting = False

    async def drain(self, timeout: float, *, now: asyncio.Event | None = None) -> int:
        """Stop accepting; let the admitted requests finish for up to `timeout` seconds (less if `now` is
        set), then cut off the rest (their consumers get ShuttingDown, their workers stop at their next
        chunk) and wait for the workers to be free. Returns how many requests were cut off."""
        self.stop_accepting()
        self._changes.bind()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._active and loop.time() < deadline and not (now is not None and now.is_set()):
            await self._changes.wait(min(deadline - loop.time(), 0.25))
        cut = list(self._active)
        for stream in cut:
            stream.cut_off(ShuttingDown(f"cut off: the server is shutting down (drain time {timeout:g} s is up)"))
        if cut:
            log.warning("cut off %d request(s) still running after %g s", len(cut), timeout)
        deadline = loop.time() + WORKER_STOP_SECONDS
        while any(s.in_flight for s in self.slots.values()) and loop.time() < deadline:
            await self._changes.wait(0.1)
        return len(cut)

    def close(self) -> None:
        """Close every loaded voice (once); a request admitted and still running is waited for."""
        if self._closed:
            return
        self._closed = True
        self.accepting = False
        self._voices.close()


def _check_options(slot: VoiceSlot) -> None:
    """A configured voice's settings must be ones its family reads (one line naming the voice otherwise)."""
    if not slot.options:
        return
    from voxport.families import family_of

    known = family_of(slot.manifest).options
    unknown = sorted(set(slot.options) - known)
    if unknown:
        raise ValueError(f"voice {slot.name!r}: {', '.join(unknown)} is not a setting of its family "
                         f"{slot.manifest.family!r} (it has: {', '.join(sorted(known)) or 'none'})")


def voice_facts(slot: VoiceSlot) -> dict[str, Any]:
    m = slot.manifest
    language = m.language()
    return {
        "name": slot.name,
        "model": m.name,
        "languages": [language],
        "speakers": list(by_id(m)),
        "num_speakers": m.num_speakers,
        "sample_rate": slot.sample_rate,
        "license": m.source.get("license"),
        "origin": m.source.get("origin") or m.source.get("file"),
        "workers": slot.workers,
        "in_flight": slot.in_flight,
        "loaded": slot.loaded,
    }


def _bundle_dir(path: Path, progress: bool) -> Path:
    return ensure_piper_bundle(path, progress=progress) if is_piper_voice(Path(path)) else Path(path)


def _read_manifest(path: Path) -> Any:
    from voxport.bundle import Bundle

    return Bundle.load(path, verify=False).manifest


class _PoolMaker:
    """Loads a voice's copies into a VoicePool (called when the voice is loaded, at start or on demand)."""

    def __init__(self, loader: Callable[..., Any], queue_size: int, threads: int, solo_threads: int | None,
                 solo_ahead: bool, shared_pool: bool, load_options: dict[str, Any]) -> None:
        self.pooled = shared_pool and _all_onnxruntime(load_options.get("runtime"))
        if self.pooled:
            from voxport.runtimes import share_thread_pool

            share_thread_pool(_usable_cores())
        # Where every stage runs on the shared pool a lone request has every core on any copy; other
        # runtimes keep a pool per compiled model, so their lone request still needs a copy of its own.
        self.solo = (0 if self.pooled else _usable_cores()) if solo_threads is None else solo_threads
        self.loader, self.queue_size, self.threads = loader, queue_size, threads
        self.solo_ahead, self.load_options = solo_ahead, load_options

    def __call__(self, slot: VoiceSlot) -> VoicePool:
        voices: list[Any] = []
        load = partial(self.loader, slot.path, progress=False, **self.load_options)
        try:
            for _ in range(slot.workers):
                # Workers share one copy's sessions where the runtime allows it (Voice.sibling): a worker
                # then costs its own activations, not another copy of the weights and arenas.
                sibling = getattr(voices[0], "sibling", None) if voices else None
                copy = sibling() if sibling is not None else None
                voices.append(copy or load(threads=self.threads))
            # The solo copy runs only while its request is alone: its threads may spin during a call.
            alone = load(threads=self.solo, spin=True) if self.solo > self.threads else None
        except BaseException:
            for v in voices:
                v.close()
            raise
        return VoicePool(slot.name, voices, self.queue_size, stats=slot.stats, solo=alone,
                         solo_ahead=self.solo_ahead, shared_cores=self.pooled)


def _all_onnxruntime(runtime: str | dict[str, str] | None) -> bool:
    """Whether a voice loaded with `runtime` (one name, one per stage, or None: the default) runs every
    stage on onnxruntime."""
    from voxport.pipeline.precision import DEFAULT_RUNTIME
    from voxport.runtimes import VoxportRuntimeError, canonical_runtime

    names = runtime.values() if isinstance(runtime, dict) else [runtime or DEFAULT_RUNTIME]
    try:
        return all(canonical_runtime(name) == "onnxruntime" for name in names)
    except VoxportRuntimeError:  # an unknown name: the voice's load says so, with the names it knows
        return False


def _usable_cores() -> int:
    """Cores this process may run on (a container's or taskset's limit, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1
