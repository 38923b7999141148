"""int8 against fp32 on the same sentences: the calibrated policy of a bundle, per runtime.

    voxport calibrate --bundle DIR --runtime openvino     # once: writes the int8 graphs and the policy
    python benchmarks/int8.py --bundle DIR [--threads N] [--runs K] [--rounds R] [--cold N] [--timeout SECONDS]

Configurations (benchmarks/_common.py: one child process each, alternating rounds, best-of medians,
time limits): ort-fp32 and ov-fp32 (the bundle's fp32 graphs), ov-bf16 (decoder and vocoder compiled
bf16 from the fp32 graphs), ov-int8 and ort-int8 (`Voice.load(precision="int8")`: the per-stage
precisions the quality gate accepted, reported as skipped when the bundle is not calibrated for that
runtime). Noise scales are 0 and the policy keeps the encoder and duration predictor fp32, so every
configuration produces the same lengths. The decoder+vocoder time comes from a StageTimes hook on the
engine (`Engine.watch`) over the same calls. Warm: the benchmark sentences repeated; cold: `--cold`
corpus sentences new to the process, spoken once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import (
    NOISELESS,
    SENTENCES,
    Summary,
    cell,
    cold_texts,
    load_or_skip,
    machine_lines,
    parse_worker_args,
    ratio,
    rtf_ratio,
    run_configurations,
    summarize,
    time_ids,
    utterances,
    worker_main,
)

from voxport.tools.profiling.child import Recorder

CONFIGS = ("ort-fp32", "ov-fp32", "ov-bf16", "ov-int8", "ort-int8")
BASELINE = {"ort-fp32": "ort-fp32", "ort-int8": "ort-fp32", "ov-fp32": "ov-fp32", "ov-bf16": "ov-fp32",
            "ov-int8": "ov-fp32"}


def _load(config: str, bundle: str | None, threads: int) -> Any:
    from voxport import Voice

    runtime = "openvino" if config.startswith("ov-") else "onnxruntime"
    precision: Any = config.split("-")[1]
    if precision == "bf16":
        precision = {"decoder": "bf16", "vocoder": "bf16", "default": "fp32"}
    return load_or_skip(Voice.load, bundle, runtime=runtime, precision=precision, threads=threads, progress=False)


def _worker(config: str, args: Any, threads: int, rec: Recorder) -> None:
    from voxport.pipeline.engine import StageTimes

    voice = _load(config, args.bundle, threads)
    rec.set(sample_rate=voice.sample_rate, precisions={s: voice.sessions[s].precision for s in voice.bundle.stages})
    last: dict[str, float] = {}

    def run(ids: list[int]) -> np.ndarray:
        with voice.engine.watch(StageTimes()) as stage_times:
            audio = voice.synthesize_ids(ids, NOISELESS)
        last["dec_voc_s"] = stage_times.totals["decoder"] + stage_times.totals["vocoder"]
        return audio

    with voice:
        time_ids(run, utterances(voice.frontend, SENTENCES), utterances(voice.frontend, cold_texts(args.cold)),
                 args.runs, rec, probe=lambda: dict(last))


def _dec_voc_ratio(s: Summary, base: Summary, key: str) -> float | None:
    common = min(len(s.entries(key)), len(base.entries(key)))
    return ratio(sum(e["dec_voc_s"] for e in s.entries(key)[:common]),
                 sum(e["dec_voc_s"] for e in base.entries(key)[:common])) if common else None


def main() -> int:
    args, threads, _, child = parse_worker_args(__doc__, CONFIGS)
    if args.worker:
        return worker_main(lambda rec: _worker(args.worker, args, threads, rec))
    results = {c: summarize(o) for c, o in
               run_configurations(__file__, CONFIGS, args.rounds, child, args.timeout or None).items()}
    print("\n".join(machine_lines(threads)))
    print(f"runs={args.runs} rounds={args.rounds}; ratios against fp32 on the same runtime; warm: {len(SENTENCES)} "
          f"sentences repeated; cold: {args.cold} corpus sentences new to the process, spoken once")
    print(f"{'configuration':<13} {'warm RTF':>8} {'ratio':>6} {'dec+voc ms':>11} {'ratio':>6} {'cold RTF':>8} "
          f"{'ratio':>6} {'cold dec+voc':>12} {'ratio':>6}  precisions")
    for config, s in results.items():
        base = results[BASELINE[config]]
        if not (s.entries("warm") or s.entries("cold")):
            print(f"{config:<13} {s.note()}")
            continue
        precisions = ", ".join(f"{st} {p}" for st, p in s.info.get("precisions", {}).items())
        print(f"{config:<13} {cell(s.rtf('warm'), 4, 8)} {cell(rtf_ratio(s, 'warm', base), 3, 6)} "
              f"{1000 * s.total('warm', 'dec_voc_s'):11.1f} {cell(_dec_voc_ratio(s, base, 'warm'), 3, 6)} "
              f"{cell(s.rtf('cold'), 4, 8)} {cell(rtf_ratio(s, 'cold', base), 3, 6)} "
              f"{1000 * s.total('cold', 'dec_voc_s'):12.1f} {cell(_dec_voc_ratio(s, base, 'cold'), 3, 6)}  "
              f"{precisions} {s.note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
