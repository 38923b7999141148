"""Worker pools and their bounded queues: a full voice answers "busy" at once (HTTP 503, Wyoming error)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from voxport.server.registry import Busy, UnknownVoice, VoiceRegistry, VoiceSpec
from voxport.streaming import AudioChunk

TIMEOUT = 30.0


class SlowVoice:
    """Stands in for a Voice: each stream waits for `release` before its one chunk."""

    def __init__(self, manifest, release: threading.Event) -> None:
        self.manifest, self.sample_rate, self.release = manifest, 22050, release
        self.closed = False

    def stream(self, text, config, **kwargs):
        assert self.release.wait(TIMEOUT), "test never released the workers"
        yield AudioChunk(np.zeros(10, np.float32), 0, 0, True, None)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def slow(tiny_voice):
    release = threading.Event()
    made: list[SlowVoice] = []

    def loader(path, **kwargs):
        made.append(SlowVoice(tiny_voice.manifest, release))
        return made[-1]

    reg = VoiceRegistry.load([VoiceSpec("slow", "unused")], workers=1, queue_size=1, loader=loader)
    yield reg, release, made
    release.set()
    reg.close()


def test_full_queue_is_busy_and_frees_after(slow):
    reg, release, _ = slow
    pool = reg.get("slow")

    async def body():
        a = pool.stream("a", None)  # runs
        b = pool.stream("b", None)  # queued
        with pytest.raises(Busy, match="busy"):
            pool.stream("c", None)
        assert pool.in_flight == 2
        release.set()
        assert len([c async for c in a]) == len([c async for c in b]) == 1
        assert pool.in_flight == 0
        assert [c async for c in pool.stream("d", None)]  # admitted again

    asyncio.run(asyncio.wait_for(body(), TIMEOUT))


def test_abandoned_queued_request_frees_its_slot(slow):
    reg, release, _ = slow
    pool = reg.get("slow")

    async def body():
        a = pool.stream("a", None)
        b = pool.stream("b", None)
        await b.aclose()  # the client went away before its turn
        c = pool.stream("c", None)  # so there is room again
        release.set()
        assert len([x async for x in a]) == len([x async for x in c]) == 1
        assert pool.in_flight == 0

    asyncio.run(asyncio.wait_for(body(), TIMEOUT))


def test_names_resolve_only_to_configured_voices(slow):
    reg, _, made = slow
    assert reg.get(None) is reg.get("slow")
    for name in ("other", "../slow", "/tmp/x"):
        with pytest.raises(UnknownVoice):
            reg.get(name)
    reg.close()
    assert all(v.closed for v in made)


def test_voice_spec_parse():
    assert VoiceSpec.parse("joe=/v/joe").name == "joe"
    assert VoiceSpec.parse("/v/amy").name == "amy"
    with pytest.raises(ValueError):
        VoiceSpec.parse("=x")
    with pytest.raises(ValueError, match="unique"):
        VoiceRegistry.load([VoiceSpec("a", "x"), VoiceSpec("a", "y")], loader=lambda *a, **k: None)
