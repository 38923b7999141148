"""Fuzz of `voxport serve`: over 1,000 malformed Wyoming events, raw bytes and HTTP bodies from a seeded RNG.

This file: the Wyoming side, and what both sides share (the junk, the counts); test_server_fuzz_http.py:
the HTTP side. What must hold (issue 14: "a malformed request gets a 4xx with a reason, never a crash
or a stuck worker"):

* Wyoming, well-framed events with junk fields or out of order: the connection survives (a `describe`
  sent after them is answered), the server answers only with `error` (with a reason) or audio events,
  and a request that cannot be served (text not a string or over the limit, a stream event out of
  order) gets an `error`.
* Wyoming, broken framing (raw bytes, a new connection each): that connection may be closed, but the
  server goes on serving new ones.
* HTTP (the Starlette app through httpx's ASGI transport): a body that breaks the API is a 4xx with a JSON
  `{"error": {"message": ...}}`; nothing is ever a 5xx but the 503/504 the design chooses.
* After a burst of malformed requests from concurrent clients, a valid request still gets the right
  audio and no worker is left in flight.

Each case is built from its own `random.Random(SEED/kind/index)`, so a failure names a case that
replays alone. Malformed cases that hit a real server bug are kept apart, as strict xfails saying which
(test_server_fuzz_http.py has them; the Wyoming ones are fixed).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

pytest.importorskip("wyoming")

from test_server_http import free_port  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.event import Event  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402

from voxport.server.registry import VoiceRegistry, VoiceSpec, pcm16  # noqa: E402
from voxport.server.wyoming_server import WyomingOptions, serve_wyoming  # noqa: E402

# Junk text is meant to hold characters that cannot be spoken.
pytestmark = pytest.mark.filterwarnings("ignore::voxport.errors.UnknownSymbolWarning")

from support.fuzz import (  # noqa: E402
    ANSWER_TYPES,
    BURST_CLIENTS,
    COUNTS,
    MAX_CHARS,
    TEXT,
    TIMEOUT,
    draw,
    junk_string,
    junk_value,
)

# --- the servers ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry(tiny_bundle):
    reg = VoiceRegistry.load([VoiceSpec("tiny", tiny_bundle)], workers=2, queue_size=8)
    yield reg
    reg.close()


class WyomingInThread:
    """`serve_wyoming` on an event loop of its own thread, so each test's client loop is separate from it."""

    def __init__(self, registry: VoiceRegistry) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.task: asyncio.Task | None = None
        options = WyomingOptions(seed=0, max_chars=MAX_CHARS, text_timeout=2.0, request_timeout=TIMEOUT)
        self.thread = threading.Thread(target=self._run, args=(registry, options), daemon=True)
        self.thread.start()
        assert self.started.wait(TIMEOUT), "the Wyoming server did not start"

    def _run(self, registry: VoiceRegistry, options: WyomingOptions) -> None:
        asyncio.set_event_loop(self.loop)
        ready = asyncio.Event()

        async def main() -> None:
            self.task = asyncio.create_task(serve_wyoming(registry, f"tcp://127.0.0.1:{self.port}", options, ready))
            await ready.wait()
            self.started.set()
            await asyncio.gather(self.task, return_exceptions=True)

        self.loop.run_until_complete(main())
        self.loop.close()

    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    def stop(self) -> None:
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(TIMEOUT)


@pytest.fixture(scope="module")
def wyoming(registry):
    server = WyomingInThread(registry)
    yield server
    server.stop()


def wait_idle(registry: VoiceRegistry, seconds: float = 10.0) -> dict[str, int]:
    """In-flight requests per voice once they are all 0, or as they stand after `seconds`."""
    deadline = time.monotonic() + seconds
    while any(p.in_flight for p in registry.pools.values()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return {name: p.in_flight for name, p in registry.pools.items()}


# --- Wyoming: well-framed events with junk fields, and events out of order --------------------------------

@dataclass
class WyCase:
    events: list[Event]
    must_refuse: bool  # the request cannot be served: an `error` must come back

    def show(self) -> str:
        return "; ".join(f"{e.type} {json.dumps(e.data, default=str)[:160]}" for e in self.events)


def _voice(rng: random.Random) -> object:
    if rng.random() < 0.3:
        return junk_value(rng)
    voice: dict[str, object] = {}
    for key, good in (("name", "tiny"), ("language", "en"), ("speaker", None)):
        roll = rng.random()
        if roll < 0.4:
            voice[key] = junk_value(rng)
        elif roll < 0.6:
            voice[key] = good
    return voice


def _request_data(rng: random.Random, text_key_odds: float = 0.8) -> tuple[dict[str, object], bool]:
    """Data of a synthesize(-start): junk voice, text_format, context and extra keys; whether its text is
    unusable (missing, not a string, over the limit)."""
    data: dict[str, object] = {}
    if rng.random() < text_key_odds:
        data["text"] = junk_value(rng) if rng.random() < 0.7 else "Hi there."
    for key, odds in (("voice", 0.6), ("text_format", 0.3), ("context", 0.2)):
        if rng.random() < odds:
            data[key] = _voice(rng) if key == "voice" else junk_value(rng)
    if rng.random() < 0.2:
        data[junk_string(rng)[:10] or "extra"] = junk_value(rng)
    text = data.get("text")
    return data, not isinstance(text, str) or len(text) > MAX_CHARS


def field_case(rng: random.Random) -> WyCase:
    kind = rng.choice(["synthesize", "synthesize", "stream", "chunk-junk", "describe", "unknown", "audio"])
    if kind == "synthesize":
        data, unusable = _request_data(rng)
        return WyCase([Event("synthesize", data)], must_refuse=unusable)
    if kind == "stream":
        start, _ = _request_data(rng, text_key_odds=0.2)
        return WyCase([Event("synthesize-start", start), Event("synthesize-chunk", {"text": "Hi there. "}),
                       Event("synthesize-stop", {})], must_refuse=False)
    if kind == "chunk-junk":  # a valid stream whose chunk's text is junk
        text = junk_value(rng)
        events = [Event("synthesize-start", {}), Event("synthesize-chunk", {"text": text}),
                  Event("synthesize-stop", {})]
        return WyCase(events, must_refuse=not isinstance(text, str) or len(text) > MAX_CHARS)
    if kind == "describe":
        return WyCase([Event("describe", {junk_string(rng)[:8] or "k": junk_value(rng)})], must_refuse=False)
    if kind == "unknown":  # a type no TTS server handles: ignored or refused, never fatal
        event_type = rng.choice(["transcribe", "run-pipeline", "ping", "", junk_string(rng)[:20]])
        return WyCase([Event(event_type, {"text": junk_value(rng)})], must_refuse=False)
    payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 512)))  # a client sending audio to TTS
    return WyCase([Event("audio-chunk", {"rate": junk_value(rng), "width": 2, "channels": 1}, payload)],
                  must_refuse=False)


ORDERS: list[tuple[list[str], bool]] = [
    (["synthesize-chunk"], True),
    (["synthesize-stop"], True),
    (["synthesize-start", "synthesize-stop", "synthesize-stop"], True),
    (["synthesize-start", "synthesize-start", "synthesize-chunk", "synthesize-stop"], True),
    (["synthesize-start", "synthesize-chunk", "synthesize-stop", "synthesize-chunk"], True),
    (["synthesize-stopped", "audio-stop", "audio-start"], False),
    (["synthesize-start", "synthesize", "synthesize", "synthesize-stop"], False),
    (["synthesize-start", "describe", "synthesize-chunk", "synthesize-stop"], False),
    (["synthesize-start", "synthesize-chunk"], False),  # left open: the connection's end must free the worker
]


def order_case(rng: random.Random) -> WyCase:
    types, must_refuse = rng.choice(ORDERS)
    events = []
    for t in types:
        data: dict[str, object] = {}
        if t in ("synthesize-chunk", "synthesize"):
            data["text"] = rng.choice(["Hi. ", "there ", "A sentence. ", ""])
        events.append(Event(t, data))
    if rng.random() < 0.5:  # and once more, shuffled
        shuffled = events[:]
        rng.shuffle(shuffled)
        events += shuffled
        must_refuse = True if shuffled[0].type in ("synthesize-chunk", "synthesize-stop") else must_refuse
    return WyCase(events, must_refuse)


async def exchange(port: int, events: list[Event]) -> tuple[str, list[Event]]:
    """Send `events` and a describe on a new connection; ("answered" | "dropped", every event but the infos).
    "answered": the info of that last describe came back (describes among `events` are answered too)."""
    answers: list[Event] = []
    infos = 1 + sum(e.type == "describe" for e in events)
    try:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for event in events:
                await client.write_event(event)
            await client.write_event(Describe().event())
            while infos:
                event = await asyncio.wait_for(client.read_event(), TIMEOUT)
                if event is None:
                    return "dropped", answers
                if Info.is_type(event.type):
                    infos -= 1
                else:
                    answers.append(event)
            return "answered", answers
    except OSError:  # ConnectionResetError, BrokenPipeError: the server closed it
        return "dropped", answers


def wyoming_problems(case: WyCase, state: str, answers: list[Event]) -> list[str]:
    if state != "answered":
        return [f"connection {state} (the describe after the events got no info)"]
    out = [f"answered {e.type!r}" for e in answers if e.type not in ANSWER_TYPES]
    out += ["an error without a reason" for e in answers if e.type == "error" and not str(e.data.get("text")).strip()]
    if case.must_refuse and not any(e.type == "error" for e in answers):
        out.append("no error for a request that cannot be served: " + ", ".join(e.type for e in answers[:6]))
    return out


def run_wyoming_cases(wyoming: WyomingInThread, kind: str) -> list[str]:
    cases = list(enumerate(draw(kind, WYOMING_KINDS[kind])))

    async def body() -> list[str]:
        failures = []
        for index, case in cases:
            state, answers = await exchange(wyoming.port, case.events)
            failures += [f"{kind}[{index}] {p} <- {case.show()}" for p in wyoming_problems(case, state, answers)]
        return failures

    return asyncio.run(body())


# --- Wyoming: broken framing, each on a new connection ----------------------------------------------------

def garbage_bytes(rng: random.Random) -> bytes:
    def line(obj: object) -> bytes:
        return json.dumps(obj).encode() + b"\n"

    pick = rng.randrange(12)
    if pick == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2048)))
    if pick == 1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))) + b"\n"
    if pick == 2:
        return line(rng.choice([[1, 2], 5, "synthesize", None, True, [{"type": "describe"}]]))
    if pick == 3:
        return line({"data": {"text": "Hi."}})  # no type
    if pick == 4:
        return line({"type": junk_value(rng), "data": {"text": "Hi."}})
    if pick == 5:
        return line({"type": rng.choice(["synthesize", "synthesize-start", "describe"]),
                     "data": rng.choice([[1], "text", 5, None, json.loads("[" * 50 + "]" * 50)])})
    if pick == 6:  # a data or payload length that lies, is junk, or announces more than ever comes
        field = rng.choice(["data_length", "payload_length"])
        return line({"type": "synthesize", field: rng.choice([-5, 1.5, "ten", [], 10 ** 12, 40])}) + b'{"te'
    if pick == 7:
        body = rng.choice([b"[1, 2]", b"not json", b"\xff\xfe", b'{"text": ' + b"1" * 30 + b"}"])
        return line({"type": "synthesize", "data_length": len(body)}) + body
    if pick == 8:
        return b'{"type": "synthesize", "data": {"text": "' + b"a" * rng.randint(70_000, 140_000)  # past the line limit
    if pick == 9:
        return b'{"type": "synth' + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 30)))
    if pick == 10:
        return b'{"type": "describe"}\n' + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 100))) + b"\n"
    return "\n".join(rng.choice(["{}", "{\"type\": null}", "\x00\x00", "NaN", "{\"type\": \"synthesize-stop\"}"])
                     for _ in range(rng.randint(1, 5))).encode("utf-8", "surrogatepass") + b"\n"


async def send_garbage(port: int, data: bytes) -> str:
    """Raw bytes, then end of input; "closed" once the server has closed the connection, else "hung"."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        try:
            writer.write(data)
            writer.write_eof()
            await writer.drain()
        except OSError:  # the server closed it while the bytes were still going out
            return "closed"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            except OSError:
                return "closed"
            if not chunk:
                return "closed"
        return "hung"
    finally:
        writer.close()


def test_wyoming_raw_garbage_never_stops_the_server(wyoming, registry):
    async def body() -> list[str]:
        failures = []
        for index, data in enumerate(draw("wy_bytes", WYOMING_KINDS["wy_bytes"])):
            outcome = await asyncio.wait_for(send_garbage(wyoming.port, data), TIMEOUT + 5)
            state, _ = await exchange(wyoming.port, [])  # a new connection is still served
            if outcome == "hung" or state != "answered" or not wyoming.alive():
                failures.append(f"wy_bytes[{index}]: garbage {outcome}, next describe {state} <- {data[:80]!r}")
        return failures

    failures = asyncio.run(body())
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert wait_idle(registry) == {"tiny": 0}


def test_wyoming_fields(wyoming, registry):
    # Three patterns here were strict xfails until sdk/server/wyoming_server.py refused them (9613a26): no
    # "text" (KeyError in wyoming's from_event), a non-string voice language (AttributeError), a list or
    # object as text (spoken as pieces). They dropped the connection with no error event, or spoke junk.
    failures = run_wyoming_cases(wyoming, "wy_fields")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert wyoming.alive()
    assert wait_idle(registry) == {"tiny": 0}


def test_wyoming_order(wyoming, registry):
    failures = run_wyoming_cases(wyoming, "wy_order")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert wyoming.alive()
    assert wait_idle(registry) == {"tiny": 0}


def burst_case(rng: random.Random) -> WyCase:
    """Any of the kinds above, for the concurrent burst."""
    return field_case(rng) if rng.random() < 0.7 else order_case(rng)


# The Wyoming kinds and their generators; the tests draw their cases from here (see draw).
WYOMING_KINDS: dict[str, Callable[[random.Random], object]] = {
    "wy_fields": field_case, "wy_order": order_case, "wy_bytes": garbage_bytes, "wy_burst": burst_case}


def test_after_a_concurrent_burst_a_valid_request_gets_the_right_audio(wyoming, registry, tiny_voice):
    """Malformed requests from BURST_CLIENTS clients at once (busy answers allowed), then a valid request."""
    cases = draw("wy_burst", WYOMING_KINDS["wy_burst"])

    async def client(part: list[WyCase]) -> list[str]:
        failures = []
        for case in part:
            state, answers = await exchange(wyoming.port, case.events)
            failures += [f"{p} <- {case.show()}" for p in wyoming_problems(case, state, answers)]
        return failures

    async def valid() -> bytes:
        async with AsyncTcpClient("127.0.0.1", wyoming.port) as c:
            await c.write_event(Synthesize(text=TEXT).event())
            events = [await asyncio.wait_for(c.read_event(), TIMEOUT)]
            while events[-1] is not None and events[-1].type not in ("audio-stop", "error") and len(events) < 10_000:
                events.append(await asyncio.wait_for(c.read_event(), TIMEOUT))
        assert events[-1] is not None and events[-1].type == "audio-stop", events[-1]
        return b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")

    async def body() -> tuple[list[str], bytes]:
        parts = await asyncio.gather(*(client(cases[i::BURST_CLIENTS]) for i in range(BURST_CLIENTS)))
        return [f for part in parts for f in part], await valid()

    failures, audio = asyncio.run(body())
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert wyoming.alive()
    assert audio == pcm16(tiny_voice.synthesize(TEXT, seed=0))
    assert wait_idle(registry) == {"tiny": 0}


def test_enough_cases():
    """The issue asks for 1,000 malformed inputs or more: counted as the cases the tests send, each kind's
    cases drawn through the generator its test uses (WYOMING_KINDS here, HTTP_KINDS in
    test_server_fuzz_http.py). A kind in COUNTS that no test sends counts nothing and fails here."""
    from test_server_fuzz_http import HTTP_KINDS

    sent_by_tests = {**WYOMING_KINDS, **HTTP_KINDS}
    assert set(COUNTS) <= set(sent_by_tests), f"counted but never sent: {sorted(set(COUNTS) - set(sent_by_tests))}"
    sent = {kind: len(draw(kind, make)) for kind, make in sent_by_tests.items()}
    assert sum(sent.values()) >= 1000, sent
