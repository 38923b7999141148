"""What the benchmarks share: the sentences (warm and cold), the timing loops (voxport.tools.timing, the
harness the profiler and calibration use too), one child process per configuration under a time limit,
and the original Piper graph as a baseline.

Each configuration runs in its own child process: onnxruntime's idle threads busy-wait, and a pool left
spinning by one configuration would slow down whichever ran next in the same process.  Configurations
alternate over several rounds (A B C A B C ...) so that machine drift hits all of them; per sentence the
best round is taken.

Cold and warm: real text never repeats a sentence, and a backend that compiles per input shape (OpenVINO)
pays for each new one. So every benchmark also speaks corpus sentences its process has never spoken
(voxport.tools.profiling.cold) once each, after one call on a warm sentence that absorbs the process's
one-off costs, and reports that cold figure beside the warm one (the same sentences repeated).

A child sends each result the moment it has it (voxport.tools.profiling.child: record lines on stdout);
one that runs past `--timeout` is stopped and reported with what it had measured, and the table still
prints for every other configuration.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any

import numpy as np

from voxport.synthesis import Scales, SynthesisConfig
from voxport.tools.profiling.child import ChildOutcome, Recorder, run_child
from voxport.tools.profiling.cold import draw_cold_sets, draw_cold_texts
from voxport.tools.timing import cold_then_warm, each, timed

SENTENCES = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "Streaming speech synthesis lets an assistant start talking before it has finished thinking.",
    "On a cold winter morning in nineteen ninety-nine, the old lighthouse keeper climbed the stairs once "
    "more, counting every step as his father had taught him, and watched the grey sea for ships.",
    "Is this the right way to the station?",
]
# Spoken once before the cold phase: espeak start-up, thread pools, arenas, the streaming reach.
WARMUP_TEXT = SENTENCES[1]

Synthesize = Callable[[list[int]], np.ndarray]
Probe = Callable[[], dict[str, float]]  # extra per-call figures read right after a timed call

# Noise scales 0: the split bundle and Piper's graph (which draws its noise inside) then produce the same
# audio and do the same work; the length scale stays the voice's own (Engine.scales fills it in).
NOISELESS = SynthesisConfig(noise_scale=0.0, noise_w=0.0)
DEFAULT_TIMEOUT_S = 300.0


# --- sentences ----------------------------------------------------------------------------------------

def cold_texts(count: int) -> list[str]:
    """`count` corpus sentences that are not among the warm SENTENCES, the same for every configuration."""
    return draw_cold_texts(count, exclude=SENTENCES)


def cold_sets(long_count: int, short_count: int) -> tuple[list[str], list[str]]:
    """Disjoint cold sentences for RTF (any length) and for time to first audio (8-10 words)."""
    return draw_cold_sets(long_count, short_count, exclude=SENTENCES)


def utterances(frontend: Any, texts: Sequence[str]) -> list[list[int]]:
    """Phoneme ids per sentence (a text may hold several) through the voice's own front-end."""
    return [ids for text in texts for _, _, ids in frontend.text_to_ids(text)]


# --- measuring, in a worker -----------------------------------------------------------------------------

def time_ids(run: Synthesize, warm: Sequence[list[int]], cold: Sequence[list[int]], runs: int, rec: Recorder,
             probe: Probe | None = None) -> None:
    """Cold, then warm wall time of `run` per utterance, each recorded as it is measured.

    "cold": each cold utterance once, after one call on warm[0] so process one-off costs stay out;
    "cold_warm": the same utterances once more (cold/warm then compares the same sentences).
    "warm": per warm utterance the median over `runs` after one warm-up call, with the audio's length
    and a sparse sample of it so the parent can check that configurations produced the same audio.
    `probe` adds figures of each timed call (their medians for warm).
    """
    rec.set(planned={"cold": len(cold), "cold_warm": len(cold), "warm": len(warm)})
    run(warm[0])

    def once(_: int, ids: list[int]) -> dict[str, Any]:
        audio, seconds = timed(lambda: run(ids))
        return {"ids": len(ids), "s": seconds, "samples": int(audio.size), **(probe() if probe else {})}

    cold_then_warm(cold, once, rec.add)
    for ids in warm:
        audio = run(ids)  # warm-up: arenas, kernel selection, shape-specialised compilation
        calls: list[dict[str, Any]] = []
        each([ids] * runs, once, calls.append)
        medians = {k: statistics.median(c[k] for c in calls) for k in calls[0] if k not in ("ids", "samples")}
        rec.add("warm", {"ids": len(ids), "s": medians.pop("s"), "samples": int(audio.size),
                         "check": audio[:: max(1, audio.size // 512)].tolist(), **medians})


def _chunk_samples(chunk: Any) -> int:
    return int(np.asarray(getattr(chunk, "audio", chunk)).size)  # a voxport AudioChunk or an array


def time_first_audio(chunks: Iterable[Any], size: Callable[[Any], int] = _chunk_samples) -> tuple[float, float, int]:
    """(seconds to the first chunk, seconds to the last, samples) of a lazy iterable of audio chunks."""
    start = time.perf_counter()
    first, samples = None, 0
    for chunk in chunks:
        first = first if first is not None else time.perf_counter() - start
        samples += size(chunk)
    total = time.perf_counter() - start
    return (total if first is None else first), total, samples


def time_texts_first_audio(stream_of: Callable[[str], Iterable[Any]], texts: Sequence[str], sample_rate: int,
                           rec: Recorder, key: str, size: Callable[[Any], int] = _chunk_samples) -> None:
    """Each text streamed once (for cold texts: the first time), recorded under `key` as it is measured:
    time to first audio ("ttfa_s"), to the last ("s") and the audio's length."""
    for index, text in enumerate(texts):
        first, total, samples = time_first_audio(stream_of(text), size)
        rec.add(key, {"text": index, "words": len(text.split()), "ttfa_s": first, "s": total,
                      "audio_s": samples / sample_rate})


def piper_monolith(piper: str, threads: int, spin: bool, scales: Scales) -> Synthesize:
    """The original Piper graph, opened the one way every tool opens it (voxport.tools.piper_monolith:
    voxport's onnxruntime options, spinning threads optional), speaking ids at `scales`."""
    from voxport.tools.piper_monolith import PiperMonolith

    mono = PiperMonolith.open(piper, threads=threads, spinning=spin)
    return partial(mono.synthesize_ids, scales=scales)


class Skip(Exception):
    """This configuration cannot run here (runtime, precision, files or option missing): not a failure."""


def load_or_skip(load: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`load(*args, **kwargs)`; any error becomes Skip with its text (e.g. a `Voice.load` option that
    this version of the SDK does not have yet is reported, not fatal)."""
    try:
        return load(*args, **kwargs)
    except Exception as exc:
        raise Skip(f"{type(exc).__name__}: {exc}") from exc


def worker_main(work: Callable[[Recorder], None]) -> int:
    """Run `work` with a Recorder on stdout and record how it ended."""
    rec = Recorder(sys.stdout)
    try:
        work(rec)
    except Skip as exc:
        rec.set(status="skipped", error=str(exc))
    except Exception as exc:  # reported with what was measured before it, not raised past the parent
        traceback.print_exc()
        rec.set(status="failed", error=f"{type(exc).__name__}: {exc}")
    else:
        rec.set(status="ok", error=None)
    return 0


# --- running and summarizing, in the parent -------------------------------------------------------------

def run_configurations(
    script: str, configs: Sequence[str], rounds: int, args: Sequence[str], timeout: float | None
) -> dict[str, list[ChildOutcome]]:
    """Run ``script --worker CONFIG *args`` once per configuration and round, alternating, each under
    `timeout` seconds; a configuration that did not end "ok" is not run again."""
    results: dict[str, list[ChildOutcome]] = {c: [] for c in configs}
    name = script.rsplit("/", 1)[-1]
    for round_index in range(rounds):
        for config in configs:
            if results[config] and results[config][-1].status != "ok":
                continue
            outcome = run_child([sys.executable, script, "--worker", config, *args], timeout)
            results[config].append(outcome)
            print(f"{name}: {config} round {round_index + 1}/{rounds}: {outcome.status} "
                  f"({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)
    return results


@dataclass
class Summary:
    """One configuration over its rounds: how it ended, its first result's fields, and per record list
    (e.g. "cold", "warm") the best round's entry per index, as far as any round got."""

    status: str
    error: str | None
    info: dict[str, Any]
    best: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def entries(self, key: str) -> list[dict[str, Any]]:
        return self.best.get(key, [])

    def rtf(self, key: str, upto: int | None = None) -> float | None:
        """Compute time over audio time of `key`'s first `upto` entries (audio from "audio_s", else "samples")."""
        entries = self.entries(key)[:upto]
        rate = self.info.get("sample_rate")
        audio = sum(e["audio_s"] if "audio_s" in e else e["samples"] / rate for e in entries)
        return sum(e["s"] for e in entries) / audio if entries and audio else None

    def total(self, key: str, value: str = "s") -> float:
        return sum(e[value] for e in self.entries(key))

    def note(self) -> str:
        """'' when complete; else the status, how much of what the worker planned it measured, the error."""
        if self.status == "ok":
            return ""
        counts = ", ".join(f"{len(self.entries(k))}/{n} {k}" for k, n in self.info.get("planned", {}).items())
        return f"{self.status}{f' ({counts})' if counts else ''}: {' '.join((self.error or '').split())[:300]}"


def summarize(outcomes: Sequence[ChildOutcome], time_key: str = "s") -> Summary:
    """Per record list and index, the round with the smallest `time_key` (machine drift only slows)."""
    status = next((o for o in outcomes if o.status != "ok"), outcomes[0])
    keys = {k for o in outcomes for k, v in o.result.items() if _is_records(v)}
    best: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(keys):
        lists = [o.result.get(key, []) for o in outcomes]
        best[key] = [min((lst[i] for lst in lists if i < len(lst)), key=lambda e: e.get(time_key, 0.0))
                     for i in range(max(len(lst) for lst in lists))]
    info = {k: v for k, v in outcomes[0].result.items() if not _is_records(v)}
    return Summary(status.status, status.error, info, best)


def _is_records(value: Any) -> bool:
    """A list a worker filled with Recorder.add (one dict per measurement), not a plain list field."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def max_sampled_diff(a: Summary, b: Summary) -> float | None:
    pairs = list(zip(a.entries("warm"), b.entries("warm"), strict=False))  # one may have stopped early
    if not pairs:
        return None
    return max(float(np.max(np.abs(np.array(x["check"]) - np.array(y["check"])))) for x, y in pairs)


def rtf_ratio(a: Summary, key_a: str, b: Summary, key_b: str | None = None) -> float | None:
    """RTF of a's `key_a` over b's `key_b` (default the same), on the entries both have: a configuration
    stopped early is compared on the sentences it reached, not on others."""
    key_b = key_b or key_a
    common = min(len(a.entries(key_a)), len(b.entries(key_b)))
    return ratio(a.rtf(key_a, common), b.rtf(key_b, common)) if common else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def cell(value: float | None, digits: int = 3, width: int = 0) -> str:
    return f"{'–' if value is None else f'{value:.{digits}f}':>{width}}"


def machine_lines(threads: int) -> list[str]:
    """Where and when the numbers come from: every figure is machine-relative."""
    from voxport.tools.profiling.machine import library_versions, load_average, machine_info
    from voxport.tools.profiling.report import machine_line, versions_line

    return [f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; threads={threads}; "
            f"1-min load average: {load_average()}",
            f"machine: {machine_line(machine_info())}", f"versions: {versions_line(library_versions())}"]


def parse_worker_args(
    doc: str, configs: Sequence[str], extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> tuple[argparse.Namespace, int, str, list[str]]:
    """The options every subprocess benchmark takes; returns (args, threads, piper path, child argv).

    The child argv repeats the parent's choices so each worker measures under the same settings;
    `extra` adds a script's own options (its workers get them only if it passes them on).
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle directory (default: the default voice)")
    parser.add_argument("--piper", help="the original Piper .onnx (default: the default voice's)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for every runtime (default: cores)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per sentence and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cold", type=int, default=8, help="corpus sentences new to each process, timed once")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds per configuration and round; past it the configuration is stopped and "
                        "reported with what it measured (default: %(default)s; 0: none)")
    parser.add_argument("--worker", choices=list(configs), help=argparse.SUPPRESS)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()

    from voxport.bundle.default_voice import default_voice_files
    from voxport.runtimes import physical_core_count

    threads = args.threads or physical_core_count()
    piper = args.piper or str(default_voice_files()[0])
    child = ["--threads", str(threads), "--runs", str(args.runs), "--piper", piper, "--cold", str(args.cold)]
    child += ["--bundle", args.bundle] if args.bundle else []
    return args, threads, piper, child
