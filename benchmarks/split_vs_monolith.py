"""Split bundle vs the original monolithic Piper graph: RTF on the same sentences and threads, one run.

    python benchmarks/split_vs_monolith.py [--bundle DIR] [--piper VOICE.onnx] [--threads N] [--runs K]

Both sides get the same phoneme ids (from voxport's front-end, so phonemization is excluded from
both) and noise scales of 0, so they produce the same audio and do the same work.

Each configuration runs in its own child process: onnxruntime's idle threads busy-wait, and a pool left
spinning by one configuration would slow down whichever ran next in the same process. Configurations
alternate over several rounds (A B C A B C …) so that machine drift hits all of them; per sentence the
median over runs is taken, then the best round. The monolith runs with onnxruntime's default options
(spinning threads) and with those of voxport's CPU backend (no spinning); the ratio is taken against
the faster of the two.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

SENTENCES = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "Streaming speech synthesis lets an assistant start talking before it has finished thinking.",
    "On a cold winter morning in nineteen ninety-nine, the old lighthouse keeper climbed the stairs once "
    "more, counting every step as his father had taught him, and watched the grey sea for ships.",
    "Is this the right way to the station?",
]
CONFIGS = ("split", "mono(spin)", "mono(nospin)")


def _worker(config: str, bundle: str | None, piper: str, threads: int, runs: int) -> dict:
    import onnxruntime as ort

    from voxport import Voice

    voice = Voice.load(bundle, threads=threads)
    utterances = [ids for s in SENTENCES for _, _, ids in voice.frontend.text_to_ids(s)]
    if config == "split":

        def run(ids: list[int]) -> np.ndarray:
            return voice.synthesize_ids(ids, noise_scale=0.0, noise_w=0.0)
    else:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        spin = "1" if config == "mono(spin)" else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        mono = ort.InferenceSession(piper, options, providers=["CPUExecutionProvider"])

        def run(ids: list[int]) -> np.ndarray:
            feeds = {
                "input": np.array([ids], np.int64),
                "input_lengths": np.array([len(ids)], np.int64),
                "scales": np.array([0.0, 1.0, 0.0], np.float32),
            }
            return mono.run(None, feeds)[0].reshape(-1)

    medians, samples, checks = [], [], []
    for ids in utterances:
        audio = run(ids)  # warm-up: arenas, kernel selection
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            run(ids)
            times.append(time.perf_counter() - t)
        medians.append(statistics.median(times))
        samples.append(int(audio.size))
        checks.append(audio[:: max(1, audio.size // 512)].tolist())
    return {"ids": [len(u) for u in utterances], "median_s": medians, "samples": samples, "checks": checks,
            "sample_rate": voice.sample_rate}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle directory (default: the default voice)")
    parser.add_argument("--piper", help="the original Piper .onnx (default: the default voice's)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for both (default: cores)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per sentence and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    from voxport.default_voice import default_voice_files
    from voxport.runtimes import physical_core_count

    threads = args.threads or physical_core_count()
    piper = args.piper or str(default_voice_files()[0])
    if args.worker:
        print(json.dumps(_worker(args.worker, args.bundle, piper, threads, args.runs)))
        return 0

    results: dict[str, list[dict]] = {c: [] for c in CONFIGS}
    for _ in range(args.rounds):
        for config in CONFIGS:
            cmd = [sys.executable, __file__, "--worker", config, "--threads", str(threads), "--runs", str(args.runs),
                   "--piper", piper] + (["--bundle", args.bundle] if args.bundle else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[config].append(json.loads(out.strip().splitlines()[-1]))

    first = results["split"][0]
    rate = first["sample_rate"]
    audio_s = [n / rate for n in first["samples"]]
    best = {c: [min(r["median_s"][i] for r in results[c]) for i in range(len(audio_s))] for c in CONFIGS}
    for c in CONFIGS[1:]:
        if results[c][0]["samples"] != first["samples"]:
            raise SystemExit(f"{c} produced a different audio length: {results[c][0]['samples']} vs {first['samples']}")
    diff = max(
        float(np.max(np.abs(np.array(a) - np.array(b))))
        for a, b in zip(first["checks"], results["mono(spin)"][0]["checks"], strict=True)
    )

    print(f"threads={threads} runs={args.runs} rounds={args.rounds}; RTF = compute time / audio duration")
    print(f"{'ids':>5} {'audio s':>8} " + " ".join(f"{c:>13}" for c in CONFIGS))
    for i, n in enumerate(first["ids"]):
        print(f"{n:5d} {audio_s[i]:8.2f} " + " ".join(f"{best[c][i] / audio_s[i]:13.4f}" for c in CONFIGS))
    total = sum(audio_s)
    rtf = {c: sum(best[c]) / total for c in CONFIGS}
    best_mono = min(rtf["mono(spin)"], rtf["mono(nospin)"])
    print("overall RTF: " + ", ".join(f"{c} {v:.4f}" for c, v in rtf.items()))
    print(f"ratio split / best monolith: {rtf['split'] / best_mono:.3f} (target <= 1.05); "
          f"max |split - monolith| on sampled points: {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
