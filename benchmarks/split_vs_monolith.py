"""Split bundle vs the original monolithic Piper graph: RTF on the same sentences and threads, one run.

    python benchmarks/split_vs_monolith.py [--bundle DIR] [--piper VOICE.onnx] [--threads N] [--runs K]
                                           [--cold N] [--timeout SECONDS]

Both sides get the same phoneme ids (from voxport's front-end, so phonemization is excluded from
both) and the same scales with noise 0 (_common.NOISELESS), so they produce the same audio and do the
same work.

Child processes, rounds, best-of medians, time limits, and the cold figure (corpus sentences new to the
process, beside the warm benchmark sentences): see benchmarks/_common.py. The monolith runs with
voxport's onnxruntime options, once with spinning threads (onnxruntime's own default) and once without
(voxport's); the ratio is taken against the faster of the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import (
    NOISELESS,
    SENTENCES,
    cell,
    cold_texts,
    load_or_skip,
    machine_lines,
    max_sampled_diff,
    parse_worker_args,
    piper_monolith,
    rtf_ratio,
    run_configurations,
    summarize,
    time_ids,
    utterances,
    worker_main,
)

from voxport.tools.profiling.child import Recorder

CONFIGS = ("split", "mono(spin)", "mono(nospin)")


def _worker(config: str, args: Any, piper: str, threads: int, rec: Recorder) -> None:
    from voxport import Voice

    voice = load_or_skip(Voice.load, args.bundle, threads=threads)
    warm = utterances(voice.frontend, SENTENCES)
    cold = utterances(voice.frontend, cold_texts(args.cold))
    rec.set(sample_rate=voice.sample_rate)
    if config == "split":

        def run(ids: list[int]) -> np.ndarray:
            return voice.synthesize_ids(ids, NOISELESS)
    else:
        run = piper_monolith(piper, threads, config == "mono(spin)", voice.engine.scales(NOISELESS))
    time_ids(run, warm, cold, args.runs, rec)


def main() -> int:
    args, threads, piper, child = parse_worker_args(__doc__, CONFIGS)
    if args.worker:
        return worker_main(lambda rec: _worker(args.worker, args, piper, threads, rec))

    results = {c: summarize(o) for c, o in
               run_configurations(__file__, CONFIGS, args.rounds, child, args.timeout or None).items()}
    split = results["split"]
    print("\n".join(machine_lines(threads)))
    print(f"runs={args.runs} rounds={args.rounds}; RTF = compute time / audio duration; warm: {len(SENTENCES)} "
          f"sentences repeated; cold: {args.cold} corpus sentences new to the process, spoken once")
    print(f"{'ids':>5} {'audio s':>8} " + " ".join(f"{c:>13}" for c in CONFIGS))
    for i, entry in enumerate(split.entries("warm")):
        audio_s = entry["samples"] / split.info["sample_rate"]
        rtfs = [s.entries("warm")[i]["s"] / audio_s if i < len(s.entries("warm")) else None for s in results.values()]
        print(f"{entry['ids']:5d} {audio_s:8.2f} " + " ".join(cell(r, 4, 13) for r in rtfs))
    for c, s in results.items():
        if [e["samples"] for e in s.entries("warm")] != [e["samples"] for e in split.entries("warm")]:
            print(f"{c}: other audio lengths than split, or stopped early")
    print(f"\n{'':<13} {'warm RTF':>8} {'cold RTF':>8} {'cold/warm':>9}  note")
    for c, s in results.items():
        print(f"{c:<13} {cell(s.rtf('warm'), 4, 8)} {cell(s.rtf('cold'), 4, 8)} "
              f"{cell(rtf_ratio(s, 'cold', s, 'cold_warm'), 3, 9)}  {s.note()}")
    mono = min((results[c] for c in CONFIGS[1:] if results[c].rtf("warm")), key=lambda s: s.rtf("warm") or 0.0,
               default=None)
    if mono is not None:
        diff = max_sampled_diff(split, results["mono(spin)"])
        print(f"ratio split / best monolith: warm {cell(rtf_ratio(split, 'warm', mono))} (target <= 1.05), "
              f"cold {cell(rtf_ratio(split, 'cold', mono))}; max |split - monolith| on sampled points: "
              f"{'–' if diff is None else f'{diff:.2e}'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
