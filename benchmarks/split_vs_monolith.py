"""Split bundle vs the original monolithic Piper graph: RTF on the same sentences, same threads, one run.

    python benchmarks/split_vs_monolith.py [--bundle DIR] [--threads N] [--runs K]

Both sides get the same phoneme ids (from voxport's front-end, so phonemization is excluded from
both) and noise scales of 0, so they produce the same audio and do the same work. Runs are interleaved
so that machine drift hits both equally; the median of K runs per sentence is reported.
"""

from __future__ import annotations

import argparse
import statistics
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle directory (default: the default voice)")
    parser.add_argument("--piper", help="the original Piper .onnx (default: the default voice's)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for both (default: cores)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import onnxruntime as ort

    from voxport import Voice
    from voxport.default_voice import default_voice_files
    from voxport.runtimes import physical_core_count

    threads = args.threads or physical_core_count()
    voice = Voice.load(args.bundle, threads=threads)
    piper_path = args.piper or str(default_voice_files()[0])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    mono = ort.InferenceSession(piper_path, options, providers=["CPUExecutionProvider"])

    utterances = [ids for s in SENTENCES for _, _, ids in voice.frontend.text_to_ids(s)]

    def run_split(ids: list[int]) -> np.ndarray:
        return voice.synthesize_ids(ids, noise_scale=0.0, noise_w=0.0)

    def run_mono(ids: list[int]) -> np.ndarray:
        feeds = {
            "input": np.array([ids], np.int64),
            "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array([0.0, 1.0, 0.0], np.float32),
        }
        return mono.run(None, feeds)[0].reshape(-1)

    for ids in utterances:  # warm-up: first calls allocate arenas and pick kernels
        run_split(ids), run_mono(ids)

    rows = []
    for ids in utterances:
        split_t, mono_t = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            audio = run_split(ids)
            split_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            ref = run_mono(ids)
            mono_t.append(time.perf_counter() - t)
        seconds = audio.size / voice.sample_rate
        diff = float(np.max(np.abs(audio - ref))) if audio.size == ref.size else float("nan")
        rows.append((len(ids), seconds, statistics.median(split_t), statistics.median(mono_t), diff))

    print(f"threads={threads} runs={args.runs} (median per sentence)")
    print(f"{'ids':>5} {'audio s':>8} {'split RTF':>10} {'mono RTF':>9} {'ratio':>6} {'max|diff|':>10}")
    for n, seconds, s, m, diff in rows:
        print(f"{n:5d} {seconds:8.2f} {s / seconds:10.4f} {m / seconds:9.4f} {s / m:6.3f} {diff:10.2e}")
    total_audio = sum(r[1] for r in rows)
    split_rtf = sum(r[2] for r in rows) / total_audio
    mono_rtf = sum(r[3] for r in rows) / total_audio
    print(f"overall: split RTF {split_rtf:.4f}, monolith RTF {mono_rtf:.4f}, ratio split/monolith "
          f"{split_rtf / mono_rtf:.3f} (target <= 1.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
