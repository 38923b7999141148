"""The Wyoming server, driven by the `wyoming` package's own client."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest

pytest.importorskip("wyoming")

from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.tts import (  # noqa: E402
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from voxport.server.registry import VoiceRegistry, VoiceSpec, pcm16  # noqa: E402
from voxport.server.wyoming_server import WyomingOptions, serve_wyoming  # noqa: E402

TEXT = "Hello there. This is a second sentence, a little longer."
TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tiny_bundle):
    reg = VoiceRegistry.load([VoiceSpec("tiny", tiny_bundle), VoiceSpec("other", tiny_bundle)], workers=2,
                             queue_size=2)
    yield reg
    reg.close()


async def _with_server(registry, body, options: WyomingOptions | None = None):
    port = free_port()
    started = asyncio.Event()
    task = asyncio.create_task(serve_wyoming(registry, f"tcp://127.0.0.1:{port}", options or WyomingOptions(seed=0),
                                             started))
    try:
        await asyncio.wait_for(started.wait(), TIMEOUT)
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=TIMEOUT) as client:
            return await asyncio.wait_for(body(client), TIMEOUT)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _read_until(client, stop_type: str, limit: int = 10_000) -> list:
    events = []
    for _ in range(limit):  # bounded: a server that never ends its answer fails instead of hanging
        event = await client.read_event()
        assert event is not None, "server closed the connection"
        events.append(event)
        if event.type == stop_type or Error.is_type(event.type):
            return events
    raise AssertionError(f"no {stop_type} after {limit} events")


def _audio(events) -> bytes:
    return b"".join(AudioChunk.from_event(e).audio for e in events if AudioChunk.is_type(e.type))


def test_describe_lists_voices(registry):
    async def body(client):
        await client.write_event(Describe().event())
        return Info.from_event(await client.read_event())

    info = asyncio.run(_with_server(registry, body))
    (program,) = info.tts
    assert program.supports_synthesize_streaming
    assert [v.name for v in program.voices] == ["tiny", "other"]
    assert program.voices[0].languages == ["en-us"]


def test_one_shot_equals_voice_synthesize(registry, tiny_voice):
    async def body(client):
        await client.write_event(Synthesize(text=TEXT, voice=SynthesizeVoice(name="tiny")).event())
        return await _read_until(client, AudioStop().event().type)

    events = asyncio.run(_with_server(registry, body))
    assert AudioStart.is_type(events[0].type) and AudioStop.is_type(events[-1].type)
    assert AudioStart.from_event(events[0]).rate == tiny_voice.sample_rate
    assert _audio(events) == pcm16(tiny_voice.synthesize(TEXT, seed=0))


def test_streaming_answers_per_sentence(registry, tiny_voice):
    pieces = ["Hello ", "there. This is a sec", "ond sentence, a little longer."]

    async def body(client):
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="tiny")).event())
        for p in pieces:
            await client.write_event(SynthesizeChunk(text=p).event())
        await client.write_event(Synthesize(text="".join(pieces)).event())  # what streaming clients also send
        await client.write_event(SynthesizeStop().event())
        return await _read_until(client, SynthesizeStopped().event().type)

    events = asyncio.run(_with_server(registry, body))
    types = [e.type for e in events if not AudioChunk.is_type(e.type)]
    assert types == ["audio-start", "audio-stop", "audio-start", "audio-stop", "synthesize-stopped"]
    assert sum(AudioChunk.is_type(e.type) for e in events) > 2  # sub-sentence chunks
    expected = pcm16(tiny_voice.synthesize("".join(pieces), seed=0))
    got = _audio(events)
    assert len(got) == len(expected)
    assert np.array_equal(np.frombuffer(got, "<i2"), np.frombuffer(expected, "<i2"))


def test_unknown_voice_is_an_error_event(registry):
    async def body(client):
        await client.write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(name="../etc/passwd")).event())
        return await client.read_event()

    event = asyncio.run(_with_server(registry, body))
    assert Error.is_type(event.type)
    assert Error.from_event(event).code == "unknown-voice"


def test_voice_by_language(registry, tiny_voice):
    async def body(client):
        await client.write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(language="en_US")).event())
        ok = await _read_until(client, AudioStop().event().type)
        await client.write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(language="fr")).event())
        return ok, await client.read_event()

    ok, refused = asyncio.run(_with_server(registry, body))
    assert _audio(ok) == pcm16(tiny_voice.synthesize("Hi.", seed=0))
    assert Error.from_event(refused).code == "unknown-voice"


def test_voices_answer_concurrently(registry, tiny_voice):
    """Two clients, two voices, at once: both answers complete and equal the reference."""
    async def one(client, name):
        await client.write_event(Synthesize(text=TEXT, voice=SynthesizeVoice(name=name)).event())
        return _audio(await _read_until(client, AudioStop().event().type))

    async def body(client):
        async with AsyncTcpClient("127.0.0.1", client.port, read_timeout=TIMEOUT) as second, \
                AsyncTcpClient("127.0.0.1", client.port, read_timeout=TIMEOUT) as third:
            return await asyncio.gather(one(client, "tiny"), one(second, "other"), one(third, "tiny"))

    answers = asyncio.run(_with_server(registry, body))
    assert all(a == pcm16(tiny_voice.synthesize(TEXT, seed=0)) for a in answers)


def test_stream_without_text_times_out(registry):
    """A client that opens a stream and sends nothing frees the worker after `text_timeout`."""
    async def body(client):
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="tiny")).event())
        error = await client.read_event()
        await client.write_event(SynthesizeStop().event())
        return error, await client.read_event()

    error, stopped = asyncio.run(_with_server(registry, body, WyomingOptions(seed=0, text_timeout=0.3)))
    assert Error.from_event(error).code == "timeout"
    assert SynthesizeStopped.is_type(stopped.type)
    assert registry.get("tiny").in_flight == 0
