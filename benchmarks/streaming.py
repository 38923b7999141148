"""Time to first audio and RTF: voice.stream() vs voice.synthesize() vs the original Piper graph.

    python benchmarks/streaming.py [--bundle DIR] [--piper VOICE.onnx] [--threads N] [--runs K]

Same sentences (up to 40 words), same seeds and the voice's own scales, one run. For synthesize() and
Piper the first audio is the whole sentence, so their time to first audio is their total time. Piper's
graph (voxport.tools.piper_monolith) runs in a child process with spinning threads, onnxruntime's own
default: a lone graph has no next stage to steal the cores from, but in this process the spinning pool
would distort the SDK's timings.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

SENTENCES = [
    "Hello there.",
    "The quick brown fox jumps over the lazy dog.",
    "Streaming speech synthesis lets an assistant start talking before it has finished thinking.",
    "When the storm finally passed, the villagers walked down to the harbor, counted the boats that had "
    "survived the night, and began, slowly and without a word, to mend the nets that the wind had torn apart.",
]


def _piper_worker(piper: str, threads: int, runs: int, job: dict) -> list[float]:
    """Median time per utterance of Piper's graph; `job` holds the utterances' ids and the scales."""
    from voxport.synthesis import Scales
    from voxport.tools.piper_monolith import PiperMonolith

    scales = Scales(**job["scales"])
    medians = []
    with PiperMonolith.open(piper, threads=threads, spinning=True) as mono:
        for ids in job["utterances"]:
            mono.synthesize_ids(ids, scales)  # warm-up
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                mono.synthesize_ids(ids, scales)
                times.append(time.perf_counter() - t)
            medians.append(statistics.median(times))
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle")
    parser.add_argument("--piper")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--piper-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from voxport.default_voice import default_voice_files
    from voxport.runtimes import physical_core_count

    threads = args.threads or physical_core_count()
    piper = args.piper or str(default_voice_files()[0])
    if args.piper_worker:
        print(json.dumps(_piper_worker(piper, threads, args.runs, json.loads(args.piper_worker))))
        return 0

    from voxport import Voice

    voice = Voice.load(args.bundle, threads=threads)
    rows = []
    for text in SENTENCES:
        [(_, _, ids)] = list(voice.frontend.text_to_ids(text))
        voice.synthesize(text, seed=0), list(voice.stream(text, seed=0))  # warm-up
        synth, ttfa, total = [], [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            audio = voice.synthesize(text, seed=0)
            synth.append(time.perf_counter() - t)
            t = time.perf_counter()
            first = None
            for _chunk in voice.stream(text, seed=0):
                first = first if first is not None else time.perf_counter() - t
            total.append(time.perf_counter() - t)
            ttfa.append(first)
        rows.append((text, ids, audio.size / voice.sample_rate, statistics.median(synth), statistics.median(ttfa),
                     statistics.median(total)))

    # The voice's default scales (what synthesize() and stream() used above), for Piper too.
    job = {"utterances": [r[1] for r in rows], "scales": voice.manifest.inference.to_dict()}
    cmd = [sys.executable, __file__, "--piper", piper, "--threads", str(threads), "--runs", str(args.runs),
           "--piper-worker", json.dumps(job)]
    piper_s = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())

    print(f"threads={threads} runs={args.runs}; times in ms, median; RTF = compute / audio duration")
    print(f"{'words':>5} {'audio s':>7} {'stream TTFA':>11} {'synth TTFA':>10} {'Piper TTFA':>10} "
          f"{'stream RTF':>10} {'synth RTF':>9} {'Piper RTF':>9}")
    for (text, _ids, seconds, s, first, tot), p in zip(rows, piper_s, strict=True):
        print(f"{len(text.split()):5d} {seconds:7.2f} {1000 * first:11.1f} {1000 * s:10.1f} {1000 * p:10.1f} "
              f"{tot / seconds:10.4f} {s / seconds:9.4f} {p / seconds:9.4f}")
    audio = sum(r[2] for r in rows)
    stream_rtf, synth_rtf = sum(r[5] for r in rows) / audio, sum(r[3] for r in rows) / audio
    print(f"overall RTF: stream {stream_rtf:.4f}, synthesize {synth_rtf:.4f} (stream/synthesize "
          f"{stream_rtf / synth_rtf:.3f}, goal <= 1.10), Piper {sum(piper_s) / audio:.4f}")
    print(f"worst time to first audio: {1000 * max(r[4] for r in rows):.1f} ms (goal <= 25 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
