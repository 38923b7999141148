"""Soak run of `voxport serve`: continuous mixed traffic against one server process, watching its memory.

For --minutes (default 10), --clients concurrent clients each send one request after another, of a kind
drawn at random (seeded): Wyoming one-shot and streaming synthesis, the OpenAI and Piper HTTP routes,
clients that leave mid-answer (Wyoming one-shot, Wyoming stream, HTTP stream), and malformed requests
(bad JSON, unknown voice, text over --max-chars, junk Wyoming events and bytes). Every --sample-seconds
the server's RSS (/proc/PID/status) and its in-flight requests (GET /health) are sampled.

At the end it reports the requests by kind and outcome (ok = the answer that kind must get; busy = a
503 / Wyoming busy; unexpected = anything else), RSS at the start and end of the measured part (medians
of a few samples, after --warmup-minutes of traffic), its growth and slope, and stuck workers: requests
still in flight once traffic has stopped and --settle seconds have passed (every worker should be back).
Targets (issue 14), reported as met / not met: RSS growth < 5 % after warm-up; 0 stuck workers; the
server alive throughout and a valid request answered at the end; 0 unexpected outcomes.

    .venv/bin/python benchmarks/serve_soak.py --minutes 10 --out soak.json
    .venv/bin/python benchmarks/serve_soak.py --minutes 1          # a quick check of the script
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from _serve_clients import ServerProcess, free_port, print_targets, save_json, synthesize, unseen_sentences
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeVoice

RSS_GROWTH_TARGET = 0.05
# Kind -> weight: mostly real synthesis, then clients that leave, then malformed requests.
KINDS = {
    "wyoming_oneshot": 16, "wyoming_stream": 10, "http_openai": 14, "http_piper": 10,
    "wyoming_disconnect": 5, "wyoming_stream_disconnect": 4, "http_disconnect": 5,
    "http_bad_json": 5, "http_unknown_voice": 4, "http_oversized": 4,
    "wyoming_unknown_voice": 4, "wyoming_oversized": 4, "wyoming_junk_events": 5, "wyoming_junk_bytes": 4,
}


class Unexpected(Exception):
    """The server's answer was not the one this kind of request must get."""


class Traffic:
    """One soak's clients: texts, addresses, and one coroutine per kind returning its outcome."""

    def __init__(self, wy_port: int, http: httpx.AsyncClient, texts: list[str], max_chars: int, timeout: float):
        self.wy_port, self.http, self.texts, self.max_chars, self.timeout = wy_port, http, texts, max_chars, timeout
        self.next_text = 0

    def text(self, sentences: int = 1) -> str:
        picked = [self.texts[(self.next_text + i) % len(self.texts)] for i in range(sentences)]
        self.next_text += sentences
        return " ".join(picked)

    async def wyoming_oneshot(self, rng: random.Random) -> str:
        return self._answer(await synthesize("127.0.0.1", self.wy_port, self.text(rng.randint(1, 2)), self.timeout))

    async def wyoming_stream(self, rng: random.Random) -> str:
        answer = await synthesize("127.0.0.1", self.wy_port, self.text(2), self.timeout, streaming=True,
                                  pieces=rng.randint(2, 6))
        return self._answer(answer)

    def _answer(self, answer: Any) -> str:
        if answer.error is None:
            return "ok"
        if "busy" in answer.error:
            return "busy"
        raise Unexpected(answer.error)

    async def http_openai(self, rng: random.Random) -> str:
        body = {"model": "tts-1", "input": self.text(rng.randint(1, 2)),
                "response_format": rng.choice(["wav", "pcm", "flac"]), "speed": rng.choice([0.9, 1.0, 1.2])}
        return self._status(await self.http.post("/v1/audio/speech", json=body), 200, audio=True)

    async def http_piper(self, rng: random.Random) -> str:
        if rng.random() < 0.5:
            response = await self.http.get("/", params={"text": self.text()})
        else:
            response = await self.http.post("/", json={"text": self.text(), "length_scale": 1.1})
        return self._status(response, 200, audio=True)

    async def http_disconnect(self, rng: random.Random) -> str:
        body = {"input": self.text(3), "response_format": "pcm"}
        async with self.http.stream("POST", "/v1/audio/speech", json=body) as response:
            if response.status_code != 200:
                return self._status(response, 200)
            async for chunk in response.aiter_bytes():
                if chunk:
                    return "ok"  # leaving the block closes the connection with the answer half read
        raise Unexpected("the stream ended before any audio")

    async def http_bad_json(self, rng: random.Random) -> str:
        content = rng.choice([b"{not json", b'{"input": "Hi."', b"\xff\xfe", b"[1, 2]", b""])
        path = rng.choice(["/v1/audio/speech", "/"])
        response = await self.http.post(path, content=content, headers={"content-type": "application/json"})
        return self._status(response, 400)

    async def http_unknown_voice(self, rng: random.Random) -> str:
        body = {"input": self.text(), "voice": rng.choice(["nobody", "../default", "/etc/passwd"])}
        return self._status(await self.http.post("/v1/audio/speech", json=body), 404)

    async def http_oversized(self, rng: random.Random) -> str:
        body = {"text": "word " * (self.max_chars // 5 + rng.randint(1, 500))}
        return self._status(await self.http.post("/", json=body), 413)

    def _status(self, response: httpx.Response, expected: int, audio: bool = False) -> str:
        if response.status_code == 503:
            return "busy"
        if response.status_code != expected:
            raise Unexpected(f"HTTP {response.status_code} (expected {expected}): {response.text[:120]!r}")
        if audio and len(response.content) <= 44:
            raise Unexpected("HTTP 200 without audio")
        if expected >= 400 and not response.json().get("error", {}).get("message"):
            raise Unexpected(f"HTTP {expected} without a reason")
        return "ok"

    async def wyoming_disconnect(self, rng: random.Random) -> str:
        return await self._leave_mid_answer([Synthesize(text=self.text(3)).event()])

    async def wyoming_stream_disconnect(self, rng: random.Random) -> str:
        return await self._leave_mid_answer([SynthesizeStart().event(), SynthesizeChunk(text=self.text(2)).event()])

    async def _leave_mid_answer(self, events: list[Event]) -> str:
        async with AsyncTcpClient("127.0.0.1", self.wy_port) as client:
            for event in events:
                await client.write_event(event)
            while True:  # the connection closes on leaving the block, the answer half read
                event = await client.read_event()
                if event is None:
                    raise Unexpected("the server closed the connection before any audio")
                if event.type == "audio-chunk":
                    return "ok"
                if Error.is_type(event.type):
                    return self._error_code(event, "busy")

    async def wyoming_unknown_voice(self, rng: random.Random) -> str:
        voice = SynthesizeVoice(name=rng.choice(["nobody", "../default", "/etc/passwd"]))
        return await self._refused(Synthesize(text=self.text(), voice=voice).event(), "unknown-voice")

    async def wyoming_oversized(self, rng: random.Random) -> str:
        text = "word " * (self.max_chars // 5 + rng.randint(1, 500))
        return await self._refused(Synthesize(text=text).event(), "bad-request")

    async def wyoming_junk_events(self, rng: random.Random) -> str:
        event = rng.choice([SynthesizeChunk(text="orphan chunk").event(), Event("synthesize-stop", {}),
                            Event("synthesize", {"text": 12345}), Event("synthesize", {}),
                            Event("synthesize", {"text": "Hi.", "voice": "default"})])
        return await self._refused(event, "bad-request")

    async def _refused(self, event: Event, code: str) -> str:
        async with AsyncTcpClient("127.0.0.1", self.wy_port) as client:
            await client.write_event(event)
            answer = await client.read_event()
        if answer is None or not Error.is_type(answer.type):
            raise Unexpected(f"expected a Wyoming error {code!r}, got {None if answer is None else answer.type}")
        return self._error_code(answer, code)

    def _error_code(self, event: Event, expected: str) -> str:
        error = Error.from_event(event)
        if error.code == expected:
            return "ok"
        if error.code == "busy":
            return "busy"
        raise Unexpected(f"Wyoming error {error.code!r} (expected {expected!r}): {error.text}")

    async def wyoming_junk_bytes(self, rng: random.Random) -> str:
        junk = rng.choice([b"\x00\xff garbage\n", b'{"type": "synthesize", "data_length": 5000}\n{"te',
                           b"[1, 2, 3]\n", bytes(rng.getrandbits(8) for _ in range(512))])
        reader, writer = await asyncio.open_connection("127.0.0.1", self.wy_port)
        try:
            writer.write(junk)
            writer.write_eof()
            await writer.drain()
            while await reader.read(65536):  # until the server closes it
                pass
        except OSError:
            pass
        finally:
            writer.close()
        return "ok"


# --- running --------------------------------------------------------------------------------------------

async def client_loop(traffic: Traffic, seed: int, deadline: float, records: list[dict[str, Any]]) -> None:
    rng = random.Random(seed)
    kinds, weights = list(KINDS), list(KINDS.values())
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        start = time.perf_counter()
        try:
            outcome, detail = await asyncio.wait_for(getattr(traffic, kind)(rng), traffic.timeout), None
        except Unexpected as exc:
            outcome, detail = "unexpected", str(exc)
        except (asyncio.TimeoutError, TimeoutError):
            outcome, detail = "timeout", f"no answer within {traffic.timeout:g} s"
        except (OSError, httpx.HTTPError) as exc:
            outcome, detail = "connection", f"{type(exc).__name__}: {exc}"
        records.append({"kind": kind, "outcome": outcome, "s": time.perf_counter() - start, "detail": detail,
                        "at": time.monotonic()})


async def in_flight(http: httpx.AsyncClient) -> int | None:
    try:
        return sum((await http.get("/health", timeout=5.0)).json()["voices"].values())
    except (httpx.HTTPError, ValueError, KeyError):
        return None


async def sampler(server: ServerProcess, http: httpx.AsyncClient, every: float, samples: list[dict[str, Any]],
                  records: list[dict[str, Any]], stop: asyncio.Event) -> None:
    last_note = time.monotonic()
    while not stop.is_set():
        samples.append({"at": time.monotonic(), "rss_mib": server.memory_mib(), "in_flight": await in_flight(http),
                        "requests": len(records)})
        if samples[-1]["at"] - last_note >= 60:  # a sign of life on long runs
            last_note = samples[-1]["at"]
            print(f"serve_soak: {len(records)} requests, RSS {samples[-1]['rss_mib'] or 0:.1f} MiB",
                  file=sys.stderr, flush=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def settle(http: httpx.AsyncClient, seconds: float) -> tuple[int | None, float]:
    """Requests still in flight once they reach 0 or `seconds` pass; and how long that took."""
    begin = time.monotonic()
    while True:
        count = await in_flight(http)
        if count == 0 or time.monotonic() - begin > seconds:
            return count, time.monotonic() - begin
        await asyncio.sleep(0.5)


async def soak(args: argparse.Namespace, log: Path) -> dict[str, Any]:
    wy_port, http_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "voxport", "serve", "--wyoming", f"tcp://127.0.0.1:{wy_port}", "--port",
           str(http_port), "--max-chars", str(args.max_chars), *shlex.split(args.voxport_args)]
    server = ServerProcess(cmd, wy_port, log)
    report: dict[str, Any] = {"command": shlex.join(cmd), "records": [], "samples": []}
    records, samples = report["records"], report["samples"]
    texts = unseen_sentences(20_000, args.seed)
    try:
        report["start_s"] = await server.start(args.start_timeout)
        limits = httpx.Limits(max_connections=args.clients * 2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=args.request_timeout,
                                     limits=limits) as http:
            traffic = Traffic(wy_port, http, texts, args.max_chars, args.request_timeout)
            report["traffic_start"] = begin = time.monotonic()
            deadline = begin + args.minutes * 60
            stop = asyncio.Event()
            sampling = asyncio.create_task(sampler(server, http, args.sample_seconds, samples, records, stop))
            clients = [asyncio.create_task(client_loop(traffic, args.seed * 1000 + i, deadline, records))
                       for i in range(args.clients)]
            while not all(c.done() for c in clients):  # a server that dies ends the soak at once
                await asyncio.wait(clients, timeout=1.0)
                if not server.alive():
                    for c in clients:
                        c.cancel()
                    break
            await asyncio.gather(*clients, return_exceptions=True)
            report["traffic_end"] = time.monotonic()
            stop.set()
            await sampling
            report["server_alive"] = server.alive()
            report["stuck"], report["settle_s"] = await settle(http, args.settle) if server.alive() else (None, 0.0)
            report["idle_rss_mib"] = server.memory_mib()
            if server.alive():  # and still answers properly
                final = await synthesize("127.0.0.1", wy_port, "The soak is over.", args.request_timeout)
                report["final_check"] = final.error or "ok"
    finally:
        report["server_log_tail"] = server.log_tail(10)
        report["exit_code"] = server.stop()
    return report


# --- reporting ------------------------------------------------------------------------------------------

def memory(report: dict[str, Any], warmup_s: float) -> dict[str, Any]:
    """RSS after warm-up: medians of the first and last few samples under traffic, growth and slope."""
    measured = [s for s in report["samples"] if s["rss_mib"] is not None
                and report["traffic_start"] + warmup_s <= s["at"] <= report.get("traffic_end", s["at"])]
    if len(measured) < 2:
        return {"samples": len(measured), "note": "too few samples after warm-up (run longer)"}
    window = max(1, min(6, len(measured) // 4))
    start = statistics.median(s["rss_mib"] for s in measured[:window])
    end = statistics.median(s["rss_mib"] for s in measured[-window:])
    minutes = [(s["at"] - measured[0]["at"]) / 60 for s in measured]
    slope = statistics.linear_regression(minutes, [s["rss_mib"] for s in measured]).slope if minutes[-1] else None
    return {"samples": len(measured), "window": window, "start_mib": start, "end_mib": end,
            "growth": (end - start) / start, "max_mib": max(s["rss_mib"] for s in measured),
            "slope_mib_per_min": slope, "idle_end_mib": report.get("idle_rss_mib")}


def summary_lines(report: dict[str, Any], mem: dict[str, Any]) -> list[str]:
    counts = Counter((r["kind"], r["outcome"]) for r in report["records"])
    outcomes = sorted({o for _, o in counts}, key=lambda o: (o != "ok", o))
    lines = ["| kind | " + " | ".join(outcomes) + " | p50 s |", "|---|" + "---|" * (len(outcomes) + 1)]
    for kind in KINDS:
        times = [r["s"] for r in report["records"] if r["kind"] == kind]
        p50 = f"{statistics.median(times):.3f}" if times else "–"
        lines.append(f"| {kind} | " + " | ".join(str(counts[(kind, o)]) for o in outcomes) + f" | {p50} |")
    lines.append("| total | " + " | ".join(str(sum(v for (_, o), v in counts.items() if o == oc)) for oc in outcomes)
                 + " | |")
    odd = Counter(f"{r['kind']}: {r['outcome']}: {r['detail']}"[:200] for r in report["records"]
                  if r["outcome"] not in ("ok", "busy"))
    lines += [f"- {n}x {text}" for text, n in odd.most_common(10)]
    if "growth" in mem:
        lines.append(f"RSS after warm-up: start {mem['start_mib']:.1f} MiB, end {mem['end_mib']:.1f} MiB, growth "
                     f"{100 * mem['growth']:+.2f} %, max {mem['max_mib']:.1f} MiB, slope "
                     f"{mem['slope_mib_per_min'] or 0:+.3f} MiB/min, idle at the end "
                     f"{mem['idle_end_mib'] or float('nan'):.1f} MiB ({mem['samples']} samples, medians of "
                     f"{mem['window']})")
    else:
        lines.append(f"RSS: {mem['note']}")
    lines.append(f"stuck workers (requests in flight once traffic stopped, after waiting up to the --settle "
                 f"seconds; took {report.get('settle_s', 0):.1f} s): {report.get('stuck')}")
    return lines


def targets(report: dict[str, Any], mem: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    unexpected = sum(r["outcome"] not in ("ok", "busy") for r in report["records"])
    growth = mem.get("growth")
    return [
        ("RSS growth < 5 % after warm-up", None if growth is None else growth < RSS_GROWTH_TARGET,
         "not measured" if growth is None else f"{100 * growth:+.2f} %"),
        ("0 stuck workers", None if report.get("stuck") is None else report["stuck"] == 0, str(report.get("stuck"))),
        ("server alive throughout, a valid request answered at the end",
         bool(report.get("server_alive")) and report.get("final_check") == "ok",
         f"alive={report.get('server_alive')}, final request: {report.get('final_check')}"),
        ("0 unexpected outcomes", unexpected == 0, str(unexpected)),
    ]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of traffic (default %(default)s)")
    p.add_argument("--clients", type=int, default=6, help="concurrent clients (default %(default)s)")
    p.add_argument("--voxport-args", default="--workers 2 --threads 1 --queue 16 --request-timeout 60",
                   help="`voxport serve` options (default: %(default)s)")
    p.add_argument("--max-chars", type=int, default=1000, help="the server's text limit (default %(default)s)")
    p.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling period (default %(default)s)")
    p.add_argument("--warmup-minutes", type=float, default=None,
                   help="traffic left out of the RSS growth (default: 1, or a fifth of runs under 5 minutes)")
    p.add_argument("--settle", type=float, default=60.0, help="seconds for in-flight requests to reach 0")
    p.add_argument("--start-timeout", type=float, default=180.0)
    p.add_argument("--request-timeout", type=float, default=120.0, help="client-side seconds per request")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the report (with every request and sample) as JSON here")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    warmup_s = 60 * (args.warmup_minutes if args.warmup_minutes is not None
                     else 1.0 if args.minutes >= 5 else args.minutes / 5)
    from voxport.tools.profiling.machine import machine_info
    from voxport.tools.profiling.report import machine_line

    head = [f"machine: {machine_line(machine_info())}",
            f"soak: {args.minutes:g} min, {args.clients} clients, warm-up {warmup_s:.0f} s, voxport serve "
            f"{args.voxport_args}"]
    print(f"serve_soak: {head[1]}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="serve-soak-") as tmp:
        try:
            report = asyncio.run(soak(args, Path(tmp) / "server.log"))
        except Exception as exc:  # the server did not start: say why, with its log
            print(f"serve_soak: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    mem = memory(report, warmup_s)
    report.update(settings=vars(args), header=head, memory=mem,
                  targets=[{"target": t, "met": m, "detail": d} for t, m, d in targets(report, mem)])
    print("\n".join(["", *head, f"server: {report['command']}", "", *summary_lines(report, mem), ""]))
    print_targets(targets(report, mem))
    if not report.get("server_alive"):
        print(f"server log tail: {report['server_log_tail']}")
    save_json(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
