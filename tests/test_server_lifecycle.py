"""Graceful shutdown of `voxport serve`: on SIGINT/SIGTERM (or when `serve()` is cancelled) new requests are
refused (HTTP 503, Wyoming error `shutting-down`), running ones finish within the drain time, the rest are
cut off with their workers freed, the voices are closed and the process exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("wyoming")
pytest.importorskip("uvicorn")

from test_server_http import free_port  # noqa: E402
from test_server_registry import SlowVoice  # noqa: E402
from wyoming.audio import AudioChunk as WyAudioChunk  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.tts import (  # noqa: E402
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from voxport.pipeline.streaming import AudioChunk  # noqa: E402
from voxport.server.app import ServeOptions, serve  # noqa: E402
from voxport.server.registry import VoiceRegistry, VoiceSpec, pcm16  # noqa: E402

TIMEOUT = 30.0


class TwoPartVoice(SlowVoice):
    """One chunk at once, the second once `release` is set: a request that is visibly mid-answer."""

    def stream(self, text, config, **kwargs):
        yield AudioChunk(np.full(10, 0.25, np.float32), 0, 0, False, None)
        assert self.release.wait(TIMEOUT), "test never released the worker"
        yield AudioChunk(np.full(10, 0.5, np.float32), 10, 0, True, None)


class EndlessVoice(SlowVoice):
    """A chunk every 10 ms for up to 30 s: only a cut-off ends it early."""

    def stream(self, text, config, **kwargs):
        for i in range(3000):
            time.sleep(0.01)
            yield AudioChunk(np.full(100, 0.1, np.float32), i * 100, 0, False, None)


def _registry(tiny_voice, voice_class, workers: int):
    made: list[SlowVoice] = []
    release = threading.Event()

    def loader(path, **kwargs):
        made.append(voice_class(tiny_voice.manifest, release))
        return made[-1]

    reg = VoiceRegistry.load([VoiceSpec("v", "unused")], workers=workers, queue_size=2, loader=loader)
    return reg, release, made


async def _serving(registry: VoiceRegistry, drain_timeout: float) -> tuple[asyncio.Task, str, int]:
    http_port, wy_port = free_port(), free_port()
    options = ServeOptions(wyoming_uri=f"tcp://127.0.0.1:{wy_port}", http_port=http_port,
                           drain_timeout=drain_timeout)
    task = asyncio.create_task(serve(registry, options))
    base = f"http://127.0.0.1:{http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "serve did not come up"
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.02)
    return task, base, wy_port


async def _until(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        await asyncio.sleep(0.01)


async def _wyoming_refusal(port: int) -> Error:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text="Hi.").event())
        event = await asyncio.wait_for(client.read_event(), TIMEOUT)
    assert Error.is_type(event.type), event
    return Error.from_event(event)


def test_shutdown_lets_running_requests_finish_and_refuses_new_ones(tiny_voice):
    reg, release, made = _registry(tiny_voice, TwoPartVoice, workers=1)

    async def body():
        server, base, wy_port = await _serving(reg, drain_timeout=TIMEOUT)
        async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as first, \
                httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as later:
            running = asyncio.create_task(first.post("/v1/audio/speech", json={"input": "a", "response_format": "pcm"}))
            await _until(lambda: reg.active == 1, "the first request is running")
            server.cancel()  # what Ctrl-C does to `voxport serve`, without a signal in the test process
            await _until(lambda: not reg.accepting, "the shutdown began")
            refused = await later.post("/v1/audio/speech", json={"input": "b"})
            health = await later.get("/health")
            wyoming = await _wyoming_refusal(wy_port)
            assert not running.done() and not any(v.closed for v in made)
            release.set()
            answer = await running
        (ended,) = await asyncio.gather(server, return_exceptions=True)
        return refused, health, wyoming, answer, ended

    refused, health, wyoming, answer, ended = asyncio.run(asyncio.wait_for(body(), TIMEOUT))
    assert refused.status_code == 503 and "shutting down" in refused.json()["error"]["message"]
    assert health.status_code == 503 and health.json()["status"] == "shutting-down"
    assert wyoming.code == "shutting-down"
    assert answer.status_code == 200
    assert answer.content == pcm16(np.full(10, 0.25, np.float32)) + pcm16(np.full(10, 0.5, np.float32))
    assert isinstance(ended, asyncio.CancelledError)  # a cancelled serve() ends cancelled, after its cleanup
    assert made and all(v.closed for v in made)
    reg.close()


def test_past_the_drain_time_running_requests_are_cut_off_and_workers_freed(tiny_voice):
    reg, _, made = _registry(tiny_voice, EndlessVoice, workers=2)
    drain = 0.5

    async def http_reader(base: str) -> tuple[int, BaseException | None]:
        received = 0
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client, client.stream(
                    "POST", f"{base}/v1/audio/speech", json={"input": "a", "response_format": "pcm"}) as r:
                async for data in r.aiter_bytes():
                    received += len(data)
        except httpx.HTTPError as exc:
            return received, exc
        return received, None

    async def wyoming_reader(port: int) -> list:
        events = []
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(text="a").event())
            while not events or not Error.is_type(events[-1].type):
                event = await asyncio.wait_for(client.read_event(), TIMEOUT)
                assert event is not None, "the connection closed without an error event"
                events.append(event)
        return events

    async def body():
        server, base, wy_port = await _serving(reg, drain_timeout=drain)
        http = asyncio.create_task(http_reader(base))
        wyoming = asyncio.create_task(wyoming_reader(wy_port))
        pool = reg.get("v")
        await _until(lambda: pool.in_flight == 2, "both requests are running")
        started = time.monotonic()
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        took = time.monotonic() - started
        return await http, await wyoming, took, pool.in_flight

    (received, http_error), events, took, in_flight = asyncio.run(asyncio.wait_for(body(), TIMEOUT))
    assert received > 0 and isinstance(http_error, httpx.RemoteProtocolError)  # cut off: an incomplete body
    assert sum(WyAudioChunk.is_type(e.type) for e in events) > 0
    assert Error.from_event(events[-1]).code == "shutting-down" and "cut off" in Error.from_event(events[-1]).text
    assert drain <= took < drain + 5.0
    assert in_flight == 0 and all(v.closed for v in made)  # workers stopped between chunks, voices closed
    reg.close()


# --- the process: real signals ----------------------------------------------------------------------------


def _start(tiny_bundle, *extra: str) -> tuple[subprocess.Popen, int, int]:
    http_port, wy_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxport", "serve", "--voice", f"tiny={tiny_bundle}", "--port", str(http_port),
         "--wyoming", f"tcp://127.0.0.1:{wy_port}", "--workers", "1", "--seed", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "serve did not come up"
        try:
            httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=2)
            return proc, http_port, wy_port
        except httpx.TransportError:
            time.sleep(0.1)


def _stopped(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=TIMEOUT)
        raise AssertionError(f"serve did not exit:\n{out.decode()}") from None
    return proc.returncode, out.decode()


async def _health(http_port: int) -> httpx.Response:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        return await client.get(f"http://127.0.0.1:{http_port}/health")


async def _read_until(client: AsyncTcpClient, wanted: str) -> list:
    events = []
    while not events or events[-1].type not in (wanted, "error"):
        event = await asyncio.wait_for(client.read_event(), TIMEOUT)
        assert event is not None, "the server closed the connection"
        events.append(event)
    return events


def test_sigterm_finishes_an_open_stream_refuses_new_requests_and_exits(tiny_bundle, tiny_voice):
    proc, http_port, wy_port = _start(tiny_bundle, "--drain-timeout", "30")
    pieces = ["Hello there. ", "This is the end of it."]

    async def body():
        async with AsyncTcpClient("127.0.0.1", wy_port) as client:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="tiny")).event())
            await client.write_event(SynthesizeChunk(text=pieces[0]).event())
            # The voice loads on this first request; once loaded the stream is admitted and in flight.
            await _until_async(lambda r: r.json()["voices"]["tiny"] == 1, http_port)
            proc.send_signal(signal.SIGTERM)
            await _until_async(lambda r: r.status_code == 503, http_port)
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                refused = await http.post(f"http://127.0.0.1:{http_port}/v1/audio/speech", json={"input": "b"})
            wyoming = await _wyoming_refusal(wy_port)
            await client.write_event(SynthesizeChunk(text=pieces[1]).event())
            await client.write_event(SynthesizeStop().event())
            return refused, wyoming, await _read_until(client, SynthesizeStopped().event().type)

    try:
        refused, wyoming, events = asyncio.run(asyncio.wait_for(body(), TIMEOUT))
    finally:
        code, out = _stopped(proc)
    assert refused.status_code == 503 and wyoming.code == "shutting-down"
    assert SynthesizeStopped.is_type(events[-1].type), events[-1]
    audio = b"".join(WyAudioChunk.from_event(e).audio for e in events if WyAudioChunk.is_type(e.type))
    assert audio == pcm16(tiny_voice.synthesize("".join(pieces), seed=0))  # finished whole, as if never stopped
    assert code == 0 and "SIGTERM received" in out and "stopped" in out, out


def test_sigint_past_the_drain_time_cuts_off_and_exits(tiny_bundle):
    proc, http_port, wy_port = _start(tiny_bundle, "--drain-timeout", "0.5")

    async def body():
        async with AsyncTcpClient("127.0.0.1", wy_port) as client:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="tiny")).event())
            await client.write_event(SynthesizeChunk(text="A stream that is never stopped").event())
            await _until_async(lambda r: r.json()["voices"]["tiny"] == 1, http_port)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            events = await _read_until(client, "never")  # up to the error event
            return events, time.monotonic() - started

    try:
        events, took = asyncio.run(asyncio.wait_for(body(), TIMEOUT))
        code, out = _stopped(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    error = Error.from_event(events[-1])
    assert error.code == "shutting-down" and "cut off" in error.text
    assert 0.5 <= took < 5.0
    assert code == 0 and "cut off 1 request" in out, out


async def _until_async(condition, http_port: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition(await _health(http_port)):
        assert time.monotonic() < deadline, "the server never reached the expected state"
        await asyncio.sleep(0.02)
