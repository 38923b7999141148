"""A full voice answers "busy" through each protocol: HTTP 503 with Retry-After, a Wyoming `error` event;
and `voxport serve` starts, answers and stops."""

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

from test_server_http import _run, free_port  # noqa: E402
from test_server_registry import SlowVoice  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402

from voxport.pipeline.streaming import AudioChunk  # noqa: E402
from voxport.server.http import HttpOptions, build_app  # noqa: E402
from voxport.server.registry import VoiceRegistry, VoiceSpec  # noqa: E402
from voxport.server.wyoming_server import WyomingOptions, serve_wyoming  # noqa: E402

TIMEOUT = 30.0


@pytest.fixture
def slow(tiny_voice):
    release = threading.Event()
    reg = VoiceRegistry.load([VoiceSpec("slow", "unused")], workers=1, queue_size=0,
                             loader=lambda path, **kw: SlowVoice(tiny_voice.manifest, release))
    yield reg, release
    release.set()
    reg.close()


async def _until_full(pool) -> None:
    deadline = time.monotonic() + TIMEOUT
    while pool.in_flight < pool.capacity:
        assert time.monotonic() < deadline, "the first request never arrived"
        await asyncio.sleep(0.01)


def test_http_busy_is_503(slow):
    reg, release = slow
    base, server, thread = _run(build_app(reg))

    async def body():
        async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
            first = asyncio.create_task(client.post("/v1/audio/speech", json={"input": "a", "response_format": "pcm"}))
            await _until_full(reg.get("slow"))
            busy = await client.post("/v1/audio/speech", json={"input": "b"})
            release.set()
            return busy, await first

    try:
        busy, first = asyncio.run(asyncio.wait_for(body(), TIMEOUT))
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert reg.get("slow").stats.busy == 1
    assert "busy" in busy.json()["error"]["message"]
    assert first.status_code == 200 and len(first.content) == 20


def test_wyoming_busy_is_an_error_event(slow):
    reg, release = slow
    port = free_port()

    async def body():
        started = asyncio.Event()
        server = asyncio.create_task(serve_wyoming(reg, f"tcp://127.0.0.1:{port}", WyomingOptions(), started))
        try:
            await started.wait()
            async with AsyncTcpClient("127.0.0.1", port) as a, AsyncTcpClient("127.0.0.1", port) as b:
                await a.write_event(Synthesize(text="a").event())
                await _until_full(reg.get("slow"))
                await b.write_event(Synthesize(text="b").event())
                answer = await b.read_event()
                release.set()
                return answer
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)

    answer = asyncio.run(asyncio.wait_for(body(), TIMEOUT))
    assert Error.is_type(answer.type) and Error.from_event(answer).code == "busy"


def test_cli_serve_starts_answers_and_stops(tiny_bundle):
    http_port, wy_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxport", "serve", "--voice", f"tiny={tiny_bundle}", "--port", str(http_port),
         "--wyoming", f"tcp://127.0.0.1:{wy_port}", "--workers", "1", "--seed", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline, health = time.monotonic() + 60, None
        while health is None:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "serve did not come up"
            try:
                health = httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=2).json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert health["voices"] == {"tiny": 0}
        r = httpx.get(f"http://127.0.0.1:{http_port}/", params={"text": "Hi."}, timeout=TIMEOUT)
        assert r.status_code == 200 and np.frombuffer(r.content[44:], "<i2").size > 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(TIMEOUT)
    assert proc.returncode in (0, 130)


class EndlessVoice(SlowVoice):
    """Yields a chunk every 10 ms for up to 30 s: only a cancelled request ends it early."""

    def stream(self, text, config, **kwargs):
        for i in range(3000):
            time.sleep(0.01)
            yield AudioChunk(np.full(100, 0.1, np.float32), i * 100, 0, False, None)


def test_http_client_gone_mid_stream_frees_the_worker(tiny_voice):
    reg = VoiceRegistry.load([VoiceSpec("endless", "unused")], workers=1, queue_size=0,
                             loader=lambda path, **kw: EndlessVoice(tiny_voice.manifest, threading.Event()))
    base, server, thread = _run(build_app(reg))
    pool = reg.get("endless")
    try:
        with httpx.stream("POST", f"{base}/v1/audio/speech", json={"input": "a", "response_format": "pcm"},
                          timeout=TIMEOUT) as r:
            assert r.status_code == 200
            assert next(r.iter_bytes())  # audio is flowing; now the client goes away
        deadline = time.monotonic() + 10
        while pool.in_flight:
            assert time.monotonic() < deadline, "the worker kept synthesizing for a client that left"
            time.sleep(0.02)
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        reg.close()


def test_http_request_timeout_is_504_and_frees_the_worker(slow):
    reg, release = slow
    base, server, thread = _run(build_app(reg, HttpOptions(request_timeout=0.3)))
    try:
        r = httpx.post(f"{base}/v1/audio/speech", json={"input": "a"}, timeout=TIMEOUT)
        assert r.status_code == 504 and "0.3 s" in r.json()["error"]["message"]
        release.set()  # the worker was stopped but waits in the fake; once it returns the slot is free
        deadline = time.monotonic() + 10
        while reg.get("slow").in_flight:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)


def test_wyoming_client_gone_mid_answer_frees_the_worker(tiny_voice):
    reg = VoiceRegistry.load([VoiceSpec("endless", "unused")], workers=1, queue_size=0,
                             loader=lambda path, **kw: EndlessVoice(tiny_voice.manifest, threading.Event()))
    port, pool = free_port(), reg.get("endless")

    async def body():
        started = asyncio.Event()
        server = asyncio.create_task(serve_wyoming(reg, f"tcp://127.0.0.1:{port}", WyomingOptions(), started))
        try:
            await started.wait()
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Synthesize(text="a").event())
                for _ in range(3):  # audio-start and the first chunks: audio is flowing; now the client leaves
                    await client.read_event()
            deadline = time.monotonic() + 10
            while pool.in_flight:
                assert time.monotonic() < deadline, "the worker kept synthesizing for a client that left"
                await asyncio.sleep(0.02)
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)

    try:
        asyncio.run(asyncio.wait_for(body(), TIMEOUT))
    finally:
        reg.close()
