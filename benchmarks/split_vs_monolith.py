"""Split bundle vs the original monolithic Piper graph: RTF on the same sentences and threads, one run.

    python benchmarks/split_vs_monolith.py [--bundle DIR] [--piper VOICE.onnx] [--threads N] [--runs K]

Both sides get the same phoneme ids (from voxport's front-end, so phonemization is excluded from
both) and the same scales with noise 0 (_common.NOISELESS), so they produce the same audio and do the
same work.

Child processes, rounds and best-of medians: see benchmarks/_common.py. The monolith runs with voxport's
onnxruntime options, once with spinning threads (onnxruntime's own default) and once without (voxport's);
the ratio is taken against the faster of the two.
"""

from __future__ import annotations

import json

import numpy as np
from _common import (
    NOISELESS,
    SENTENCES,
    best_times,
    max_sampled_diff,
    parse_worker_args,
    piper_monolith,
    run_configurations,
    time_utterances,
)

CONFIGS = ("split", "mono(spin)", "mono(nospin)")


def _worker(config: str, bundle: str | None, piper: str, threads: int, runs: int) -> dict:
    from voxport import Voice

    voice = Voice.load(bundle, threads=threads)
    utterances = [ids for s in SENTENCES for _, _, ids in voice.frontend.text_to_ids(s)]
    if config == "split":

        def run(ids: list[int]) -> np.ndarray:
            return voice.synthesize_ids(ids, NOISELESS)
    else:
        run = piper_monolith(piper, threads, config == "mono(spin)", voice.engine.scales(NOISELESS))
    return {**time_utterances(run, utterances, runs), "sample_rate": voice.sample_rate}


def main() -> int:
    args, threads, piper, child = parse_worker_args(__doc__, CONFIGS)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.bundle, piper, threads, args.runs)))
        return 0

    results = run_configurations(__file__, CONFIGS, args.rounds, child)

    first = results["split"][0]
    rate = first["sample_rate"]
    audio_s = [n / rate for n in first["samples"]]
    best = best_times(results)
    for c in CONFIGS[1:]:
        if results[c][0]["samples"] != first["samples"]:
            raise SystemExit(f"{c} produced a different audio length: {results[c][0]['samples']} vs {first['samples']}")
    diff = max_sampled_diff(first, results["mono(spin)"][0])

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
