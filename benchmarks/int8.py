"""int8 against fp32 on the same sentences: the calibrated policy of a bundle, per runtime.

    voxport calibrate --bundle DIR --runtime openvino     # once: writes the int8 graphs and the policy
    python benchmarks/int8.py --bundle DIR [--threads N] [--runs K] [--rounds R]

Configurations (benchmarks/_common.py: one child process each, alternating rounds, best-of medians):
ort-fp32 and ov-fp32 (the bundle's fp32 graphs), ov-bf16 (decoder and vocoder compiled bf16 from the
fp32 graphs), ov-int8 and ort-int8 (`Voice.load(precision="int8")`: the per-stage precisions the quality
gate accepted, reported as skipped when the bundle is not calibrated for that runtime). Noise scales
are 0 and the policy keeps the encoder and duration predictor fp32, so every configuration produces
the same lengths. The decoder+vocoder time comes from a StageTimes hook on the engine
(`Engine.watch`) over the same calls.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from _common import NOISELESS, SENTENCES, parse_worker_args, run_configurations

CONFIGS = ("ort-fp32", "ov-fp32", "ov-bf16", "ov-int8", "ort-int8")
BASELINE = {"ort-fp32": "ort-fp32", "ort-int8": "ort-fp32", "ov-fp32": "ov-fp32", "ov-bf16": "ov-fp32",
            "ov-int8": "ov-fp32"}


def _load(config: str, bundle: str | None, threads: int) -> Any:
    from voxport import Voice

    runtime = "openvino" if config.startswith("ov-") else "onnxruntime"
    precision: Any = config.split("-")[1]
    if precision == "bf16":
        precision = {"decoder": "bf16", "vocoder": "bf16", "default": "fp32"}
    return Voice.load(bundle, runtime=runtime, precision=precision, threads=threads, progress=False)


def _worker(config: str, bundle: str | None, threads: int, runs: int) -> dict[str, Any]:
    from voxport.bundle import MissingVariantError
    from voxport.engine import StageTimes

    try:
        voice = _load(config, bundle, threads)
    except MissingVariantError as exc:
        return {"skipped": str(exc)}
    utterances = [ids for s in SENTENCES for _, _, ids in voice.frontend.text_to_ids(s)]
    wall, stages, samples = [], [], []
    for ids in utterances:
        samples.append(int(voice.synthesize_ids(ids, NOISELESS).size))  # warm-up
        times, dec_voc = [], []
        for _ in range(runs):
            with voice.engine.watch(StageTimes()) as stage_times:
                start = time.perf_counter()
                voice.synthesize_ids(ids, NOISELESS)
                times.append(time.perf_counter() - start)
            dec_voc.append(stage_times.totals["decoder"] + stage_times.totals["vocoder"])
        wall.append(statistics.median(times))
        stages.append(statistics.median(dec_voc))
    precisions = {s: voice.sessions[s].precision for s in voice.bundle.stages}
    return {"median_s": wall, "dec_voc_s": stages, "samples": samples, "sample_rate": voice.sample_rate,
            "precisions": precisions}


def main() -> int:
    args, threads, _, child = parse_worker_args(__doc__, CONFIGS)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.bundle, threads, args.runs)))
        return 0
    results = run_configurations(__file__, CONFIGS, args.rounds, child)
    skipped = {c: r[0]["skipped"] for c, r in results.items() if "skipped" in r[0]}
    results = {c: r for c, r in results.items() if c not in skipped}
    base = results["ort-fp32"][0]
    audio_s = sum(base["samples"]) / base["sample_rate"]
    for config, rounds in results.items():
        if rounds[0]["samples"] != base["samples"]:
            raise SystemExit(f"{config} produced other lengths: {rounds[0]['samples']} vs {base['samples']}")
    # Best round per configuration, by total time (machine drift hits every configuration's rounds).
    total = {c: min(sum(r["median_s"]) for r in rs) for c, rs in results.items()}
    dec_voc = {c: min(sum(r["dec_voc_s"]) for r in rs) for c, rs in results.items()}

    print(f"threads={threads} runs={args.runs} rounds={args.rounds}; {len(base['samples'])} utterances, "
          f"{audio_s:.1f} s of audio; ratios against fp32 on the same runtime")
    print(f"{'configuration':<10} {'RTF':>7} {'ratio':>6} {'dec+voc ms':>11} {'ratio':>6}  precisions")
    for config in results:
        b = BASELINE[config]
        if b not in results:
            continue
        precisions = ", ".join(f"{s} {p}" for s, p in results[config][0]["precisions"].items())
        print(f"{config:<10} {total[config] / audio_s:7.4f} {total[config] / total[b]:6.3f} "
              f"{1000 * dec_voc[config]:11.1f} {dec_voc[config] / dec_voc[b]:6.3f}  {precisions}")
    for config, reason in skipped.items():
        print(f"{config:<10} skipped: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
