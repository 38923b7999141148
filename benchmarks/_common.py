"""What the benchmarks share: the sentences, a timing loop, one child process per configuration, and the
original Piper graph as a baseline.

Each configuration runs in its own child process: onnxruntime's idle threads busy-wait, and a pool left
spinning by one configuration would slow down whichever ran next in the same process.  Configurations
alternate over several rounds (A B C A B C ...) so that machine drift hits all of them; per sentence the
median over runs is taken, then the best round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from voxport.synthesis import Scales, SynthesisConfig

SENTENCES = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "Streaming speech synthesis lets an assistant start talking before it has finished thinking.",
    "On a cold winter morning in nineteen ninety-nine, the old lighthouse keeper climbed the stairs once "
    "more, counting every step as his father had taught him, and watched the grey sea for ships.",
    "Is this the right way to the station?",
]

Synthesize = Callable[[list[int]], np.ndarray]

# Noise scales 0: the split bundle and Piper's graph (which draws its noise inside) then produce the same
# audio and do the same work; the length scale stays the voice's own (Engine.scales fills it in).
NOISELESS = SynthesisConfig(noise_scale=0.0, noise_w=0.0)


def time_utterances(run: Synthesize, utterances: Sequence[list[int]], runs: int) -> dict[str, Any]:
    """Median wall time of ``run`` per utterance (after one warm-up call), with the audio's length and a
    sparse sample of it so the parent can check that configurations produced the same audio."""
    medians, samples, checks = [], [], []
    for ids in utterances:
        audio = run(ids)  # warm-up: arenas, kernel selection, shape-specialised compilation
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            run(ids)
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
        samples.append(int(audio.size))
        checks.append(audio[:: max(1, audio.size // 512)].tolist())
    return {"ids": [len(u) for u in utterances], "median_s": medians, "samples": samples, "checks": checks}


def piper_monolith(piper: str, threads: int, spin: bool, scales: Scales) -> Synthesize:
    """The original Piper graph, opened the one way every tool opens it (voxport.tools.piper_monolith:
    voxport's onnxruntime options, spinning threads optional), speaking ids at `scales`."""
    from voxport.tools.piper_monolith import PiperMonolith

    mono = PiperMonolith.open(piper, threads=threads, spinning=spin)
    return partial(mono.synthesize_ids, scales=scales)


def run_configurations(
    script: str, configs: Sequence[str], rounds: int, args: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Run ``script --worker CONFIG *args`` once per configuration and round, alternating; each child
    prints its result as JSON on its last line."""
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    for _ in range(rounds):
        for config in configs:
            cmd = [sys.executable, script, "--worker", config, *args]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"configuration {config!r} failed:\n{done.stderr[-3000:]}")
            results[config].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def best_times(results: dict[str, list[dict[str, Any]]]) -> dict[str, list[float]]:
    """Per configuration and sentence, the best round's median."""
    return {c: [min(r["median_s"][i] for r in rs) for i in range(len(rs[0]["median_s"]))] for c, rs in results.items()}


def max_sampled_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    return max(
        float(np.max(np.abs(np.array(x) - np.array(y)))) for x, y in zip(a["checks"], b["checks"], strict=True)
    )


def parse_worker_args(doc: str, configs: Sequence[str]) -> tuple[argparse.Namespace, int, str, list[str]]:
    """The options every subprocess benchmark takes; returns (args, threads, piper path, child argv).

    The child argv repeats the parent's choices so each worker measures under the same settings.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle directory (default: the default voice)")
    parser.add_argument("--piper", help="the original Piper .onnx (default: the default voice's)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for every runtime (default: cores)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per sentence and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", choices=list(configs), help=argparse.SUPPRESS)
    args = parser.parse_args()

    from voxport.default_voice import default_voice_files
    from voxport.runtimes import physical_core_count

    threads = args.threads or physical_core_count()
    piper = args.piper or str(default_voice_files()[0])
    child = ["--threads", str(threads), "--runs", str(args.runs), "--piper", piper]
    child += ["--bundle", args.bundle] if args.bundle else []
    return args, threads, piper, child
