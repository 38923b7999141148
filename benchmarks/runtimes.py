"""RTF of the split bundle per runtime and precision, against onnxruntime fp32 and the original Piper graph.

    python benchmarks/runtimes.py [--bundle DIR] [--piper VOICE.onnx] [--threads N] [--runs K] [--rounds R]

Same phoneme ids, threads and sentences for every configuration (benchmarks/_common.py: one child
process per configuration, alternating rounds, best-of medians).  Noise scales are 0, so fp32
configurations must reproduce onnxruntime's audio; bf16/fp16 run only the decoder and vocoder at
reduced precision and keep fp32 durations, so every configuration produces the same lengths.

Each OpenVINO configuration tries every stage on OpenVINO first and, if the first call fails, keeps the
encoder on onnxruntime (OpenVINO's CPU plugin rejected an older encoder export; see OPENVINO_STAGES in
tests/test_openvino.py); the table says which.  fp16 runs only where the CPU has fp16
arithmetic; elsewhere the configuration is reported as skipped with the backend's error.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from voxport.stages import StageChoice

CONFIGS = ("ort-fp32", "ov-fp32", "ov-bf16", "ov-fp16", "piper(spin)", "piper(nospin)")
# Reduced precision on the decoder and vocoder only: in the duration predictor it moves frames across
# ceil() boundaries (different lengths, not comparable), and those two stages are where the time goes.
PRECISIONS = {"ov-fp32": "fp32", "ov-bf16": "bf16", "ov-fp16": "fp16"}


def _load(bundle: str | None, runtime: StageChoice, precision: StageChoice, threads: int) -> Any:
    from voxport import Voice

    return Voice.load(bundle, runtime=runtime, precision=precision, threads=threads, progress=False)


def _openvino_voice(bundle: str | None, precision: str, threads: int, probe: list[int]) -> tuple[Any, str]:
    from voxport.runtimes import VoxportRuntimeError

    precisions = {"decoder": precision, "vocoder": precision, "default": "fp32"}
    for runtime, where in (({"default": "openvino"}, "all stages"),
                           ({"encoder": "onnxruntime", "default": "openvino"}, "encoder on onnxruntime")):
        voice = _load(bundle, runtime, precisions, threads)
        try:
            voice.synthesize_ids(probe, NOISELESS)
            return voice, where
        except VoxportRuntimeError:
            voice.close()
    raise SystemExit("OpenVINO failed even with the encoder on onnxruntime")


def _worker(config: str, bundle: str | None, piper: str, threads: int, runs: int) -> dict[str, Any]:
    from voxport.runtimes import DevicePrecisionError

    ref = _load(bundle, "onnxruntime", "fp32", threads)
    utterances = [ids for s in SENTENCES for _, _, ids in ref.frontend.text_to_ids(s)]
    # The voice's scales with noise 0, for the monolith too: every configuration does the same work.
    scales, sample_rate = ref.engine.scales(NOISELESS), ref.sample_rate
    note = ""
    if config == "ort-fp32":
        voice = ref
    elif config in PRECISIONS:
        ref.close()
        try:
            voice, note = _openvino_voice(bundle, PRECISIONS[config], threads, utterances[0])
        except DevicePrecisionError as exc:
            return {"skipped": str(exc)}
    else:
        ref.close()
        run = piper_monolith(piper, threads, config == "piper(spin)", scales)
        return {**time_utterances(run, utterances, runs), "sample_rate": sample_rate, "note": note}
    with voice:
        run = partial(voice.synthesize_ids, config=NOISELESS)
        return {**time_utterances(run, utterances, runs), "sample_rate": sample_rate, "note": note}


def main() -> int:
    args, threads, piper, child = parse_worker_args(__doc__, CONFIGS)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.bundle, piper, threads, args.runs)))
        return 0

    results = run_configurations(__file__, CONFIGS, args.rounds, child)
    skipped = {c: r[0]["skipped"] for c, r in results.items() if "skipped" in r[0]}
    results = {c: r for c, r in results.items() if c not in skipped}

    base = results["ort-fp32"][0]
    audio_s = [n / base["sample_rate"] for n in base["samples"]]
    for config, rounds in results.items():
        if rounds[0]["samples"] != base["samples"]:
            raise SystemExit(f"{config} produced other lengths: {rounds[0]['samples']} vs {base['samples']}")
    best = best_times(results)
    rtf = {c: sum(times) / sum(audio_s) for c, times in best.items()}
    piper_rtf = min(rtf["piper(spin)"], rtf["piper(nospin)"])

    print(f"threads={threads} runs={args.runs} rounds={args.rounds}; RTF = compute time / audio duration; "
          f"{len(audio_s)} utterances, {sum(audio_s):.1f} s of audio")
    print(f"{'ids':>5} {'audio s':>8} " + " ".join(f"{c:>13}" for c in results))
    for i, n in enumerate(base["ids"]):
        print(f"{n:5d} {audio_s[i]:8.2f} " + " ".join(f"{best[c][i] / audio_s[i]:13.4f}" for c in results))
    print(f"\n{'configuration':<15} {'RTF':>7} {'vs ort-fp32':>12} {'vs Piper':>9} {'max |d| vs ort':>15}  note")
    for config in results:
        diff = max_sampled_diff(base, results[config][0])
        print(f"{config:<15} {rtf[config]:7.4f} {rtf[config] / rtf['ort-fp32']:12.3f} {rtf[config] / piper_rtf:9.3f} "
              f"{diff:15.2e}  {results[config][0].get('note', '')}")
    for config, reason in skipped.items():
        print(f"{config:<15} skipped: {reason}")
    print("vs Piper = against the faster of piper(spin) / piper(nospin), the original graph on onnxruntime")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
