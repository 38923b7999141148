"""Time to first audio and RTF: voice.stream() vs voice.synthesize() vs the original Piper graph.

    python benchmarks/streaming.py [--bundle DIR] [--piper VOICE.onnx] [--threads N] [--runs K]
                                   [--rounds R] [--cold N] [--timeout SECONDS]

Warm: the same sentences (up to 40 words), same seeds and the voice's own scales, repeated `--runs`
times (median). Cold: `--cold` short corpus sentences (8-10 words) that the process has never spoken,
each streamed once: what a user sees on real text. For synthesize() and Piper the first audio is the
whole (first) sentence, so their time to first audio is that sentence's time.

Each side runs in its own child process under `--timeout`, `--rounds` times, the sides alternating
(benchmarks/_common.py); each round is a fresh process, so its cold sentences are new to it again. Per
sentence the round with the shortest time to first audio is kept (with that round's other figures):
time to first audio is what this benchmark is about. Piper's graph
(voxport.tools.piper_monolith) runs with spinning threads, onnxruntime's own default: a lone graph has
no next stage to steal the cores from.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from _common import (
    Summary,
    cell,
    cold_sets,
    load_or_skip,
    machine_lines,
    parse_worker_args,
    ratio,
    run_configurations,
    summarize,
    time_first_audio,
    time_texts_first_audio,
    worker_main,
)

from voxport.tools.profiling.child import Recorder
from voxport.tools.timing import percentile

SENTENCES = [
    "Hello there.",
    "The quick brown fox jumps over the lazy dog.",
    "Streaming speech synthesis lets an assistant start talking before it has finished thinking.",
    "When the storm finally passed, the villagers walked down to the harbor, counted the boats that had "
    "survived the night, and began, slowly and without a word, to mend the nets that the wind had torn apart.",
]
CONFIGS = ("voxport", "piper-graph")


def _piper_stream(piper: str, threads: int, voice: Any) -> Any:
    """text -> the original graph's audio per sentence, lazily: its first audio is the first sentence."""
    from voxport.tools.piper_monolith import PiperMonolith

    mono = PiperMonolith.open(piper, threads=threads, spinning=True)
    scales = voice.manifest.inference  # the voice's defaults, as synthesize() and stream() use them

    def stream(text: str) -> Iterator[np.ndarray]:
        for _, _, ids in voice.frontend.text_to_ids(text):
            yield mono.synthesize_ids(ids, scales)

    return stream


def _worker(config: str, args: Any, piper: str, threads: int, rec: Recorder) -> None:
    from voxport import Voice

    voice = load_or_skip(Voice.load, args.bundle, threads=threads)
    _, cold = cold_sets(0, args.cold)
    rec.set(planned={"cold": len(cold), "warm": len(SENTENCES)})
    if config == "voxport":
        stream = lambda text: voice.stream(text, seed=0)  # noqa: E731
        synthesize = lambda text: [voice.synthesize(text, seed=0)]  # noqa: E731
    else:
        stream = synthesize = _piper_stream(piper, threads, voice)
    time_first_audio(stream(SENTENCES[1]))  # the process's one-off costs, before anything is timed
    time_texts_first_audio(stream, cold, voice.sample_rate, rec, "cold")
    for index, text in enumerate(SENTENCES):
        time_first_audio(stream(text))  # warm-up
        first, total, synth, samples = [], [], [], 0
        for _ in range(args.runs):
            start = time.perf_counter()
            samples = sum(a.size for a in synthesize(text))
            synth.append(time.perf_counter() - start)
            f, t, _ = time_first_audio(stream(text))
            first.append(f)
            total.append(t)
        rec.add("warm", {"text": index, "words": len(text.split()), "audio_s": samples / voice.sample_rate,
                         "s": statistics.median(total), "ttfa_s": statistics.median(first),
                         "synth_s": statistics.median(synth)})


def _print_warm(sdk: Summary, piper: Summary) -> None:
    print(f"{'words':>5} {'audio s':>7} {'stream TTFA':>11} {'synth TTFA':>10} {'Piper TTFA':>10} "
          f"{'stream RTF':>10} {'synth RTF':>9} {'Piper RTF':>9}")
    for row, p in zip(sdk.entries("warm"), piper.entries("warm"), strict=False):
        seconds = row["audio_s"]
        print(f"{row['words']:5d} {seconds:7.2f} {1000 * row['ttfa_s']:11.1f} {1000 * row['synth_s']:10.1f} "
              f"{1000 * p['ttfa_s']:10.1f} {row['s'] / seconds:10.4f} {row['synth_s'] / seconds:9.4f} "
              f"{p['s'] / seconds:9.4f}")
    audio = sdk.total("warm", "audio_s")
    if audio:
        stream_rtf, synth_rtf = sdk.total("warm") / audio, sdk.total("warm", "synth_s") / audio
        print(f"overall warm RTF: stream {stream_rtf:.4f}, synthesize {synth_rtf:.4f} (stream/synthesize "
              f"{stream_rtf / synth_rtf:.3f}, goal <= 1.10), Piper {cell(piper.rtf('warm'), 4)}")
        print(f"worst warm time to first audio: {1000 * max(e['ttfa_s'] for e in sdk.entries('warm')):.1f} ms "
              "(goal <= 25 ms)")


def _print_cold(sdk: Summary, piper: Summary) -> None:
    first = [1000 * e["ttfa_s"] for e in sdk.entries("cold")]
    whole = [1000 * e["ttfa_s"] for e in piper.entries("cold")]
    p50 = percentile(first, 50)
    print(f"cold, {len(first)} short sentences new to the process: stream TTFA median {cell(p50, 1)} ms, "
          f"p90 {cell(percentile(first, 90), 1)} ms; Piper whole sentence median {cell(percentile(whole, 50), 1)} ms "
          f"(ratio {cell(ratio(p50, percentile(whole, 50)))}, goal <= 0.2); cold RTF: stream "
          f"{cell(sdk.rtf('cold'), 4)}, Piper {cell(piper.rtf('cold'), 4)}")


def main() -> int:
    args, threads, piper, child = parse_worker_args(__doc__, CONFIGS)
    if args.worker:
        return worker_main(lambda rec: _worker(args.worker, args, piper, threads, rec))
    outcomes = run_configurations(__file__, CONFIGS, args.rounds, child, args.timeout or None)
    sdk, mono = (summarize(outcomes[c], time_key="ttfa_s") for c in CONFIGS)
    print("\n".join(machine_lines(threads)))
    print(f"runs={args.runs} rounds={args.rounds} (per sentence the round with the best time to first audio); "
          "times in ms, median; RTF = compute / audio duration")
    _print_warm(sdk, mono)
    _print_cold(sdk, mono)
    for config, s in zip(CONFIGS, (sdk, mono), strict=True):
        if s.note():
            print(f"{config}: {s.note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
