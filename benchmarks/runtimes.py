"""RTF of the split bundle per runtime and precision, against onnxruntime fp32 and the original Piper graph.

    python benchmarks/runtimes.py [--bundle DIR] [--piper VOICE.onnx] [--threads N] [--runs K] [--rounds R]
                                  [--cold N] [--timeout SECONDS]

Same phoneme ids, threads and sentences for every configuration (benchmarks/_common.py: one child
process per configuration, alternating rounds, best-of medians).  Noise scales are 0, so fp32
configurations must reproduce onnxruntime's audio; bf16/fp16 run only the decoder and vocoder at
reduced precision and keep fp32 durations, so every configuration produces the same lengths.

Two figures per configuration: warm (the benchmark sentences, repeated) and cold (`--cold` corpus
sentences the process speaks for the first time: every one a new input shape), and their ratio.
Each configuration runs under `--timeout` (OpenVINO fp16 emulated on a CPU without fp16 arithmetic
once ran here for 17 minutes): one that exceeds it is listed with what it measured before.

Each OpenVINO configuration tries every stage on OpenVINO first and, if the first call fails, keeps the
encoder on onnxruntime (OpenVINO's CPU plugin rejected an older encoder export; see OPENVINO_STAGES in
tests/test_openvino.py); the table says which.  fp16 runs only where the CPU has fp16
arithmetic; elsewhere the configuration is reported as skipped with the backend's error.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from _common import (
    NOISELESS,
    SENTENCES,
    Skip,
    Summary,
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

if TYPE_CHECKING:
    from voxport.pipeline.sessions import StageChoice
    from voxport.tools.profiling.child import Recorder

CONFIGS = ("ort-fp32", "ov-fp32", "ov-bf16", "ov-fp16", "piper(spin)", "piper(nospin)")
# Reduced precision on the decoder and vocoder only: in the duration predictor it moves frames across
# ceil() boundaries (different lengths, not comparable), and those two stages are where the time goes.
PRECISIONS = {"ov-fp32": "fp32", "ov-bf16": "bf16", "ov-fp16": "fp16"}


def _load(bundle: str | None, runtime: StageChoice, precision: StageChoice, threads: int) -> Any:
    from voxport import Voice

    return load_or_skip(Voice.load, bundle, runtime=runtime, precision=precision, threads=threads, progress=False)


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
    raise Skip("OpenVINO failed even with the encoder on onnxruntime")


def _worker(config: str, args: Any, piper: str, threads: int, rec: Recorder) -> None:
    ref = _load(args.bundle, "onnxruntime", "fp32", threads)
    warm = utterances(ref.frontend, SENTENCES)
    cold = utterances(ref.frontend, cold_texts(args.cold))
    # The voice's scales with noise 0, for the monolith too: every configuration does the same work.
    scales = ref.engine.scales(NOISELESS)
    rec.set(sample_rate=ref.sample_rate, note="")
    if config == "ort-fp32":
        voice = ref
    elif config in PRECISIONS:
        ref.close()
        voice, note = _openvino_voice(args.bundle, PRECISIONS[config], threads, warm[0])
        rec.set(note=note)
    else:
        ref.close()
        time_ids(piper_monolith(piper, threads, config == "piper(spin)", scales), warm, cold, args.runs, rec)
        return
    with voice:
        time_ids(partial(voice.synthesize_ids, config=NOISELESS), warm, cold, args.runs, rec)


def _lengths(summary: Summary) -> list[int]:
    return [e["samples"] for e in summary.entries("warm")]


def _print(results: dict[str, Summary]) -> None:
    """Per warm utterance RTF, then per configuration warm and cold RTF with their ratios; a configuration
    stopped early shows what it measured and why it stopped."""
    measured = {c: s for c, s in results.items() if s.entries("warm") or s.entries("cold")}
    base = results["ort-fp32"]
    pipers = [s for c, s in measured.items() if c.startswith("piper") and s.rtf("warm") is not None]
    piper = min(pipers, key=lambda s: s.rtf("warm") or 0.0, default=None)
    print(f"{'ids':>5} {'audio s':>8} " + " ".join(f"{c:>13}" for c in measured))
    for i, entry in enumerate(base.entries("warm")):
        audio_s = entry["samples"] / base.info["sample_rate"]
        rtfs = [s.entries("warm")[i]["s"] / audio_s if i < len(s.entries("warm")) else None for s in measured.values()]
        print(f"{entry['ids']:5d} {audio_s:8.2f} " + " ".join(cell(r, 4, 13) for r in rtfs))
    print(f"\n{'configuration':<15} {'warm RTF':>8} {'vs ort':>7} {'vs Piper':>8} {'cold RTF':>8} {'vs ort':>7} "
          f"{'cold/warm':>9} {'max |d| vs ort':>15}  note")
    for config, s in measured.items():
        lengths = _lengths(s)
        same = lengths == _lengths(base)[: len(lengths)]
        diff = max_sampled_diff(base, s)
        cells = [cell(s.rtf("warm"), 4, 8), cell(rtf_ratio(s, "warm", base), 3, 7),
                 cell(rtf_ratio(s, "warm", piper) if piper else None, 3, 8), cell(s.rtf("cold"), 4, 8),
                 cell(rtf_ratio(s, "cold", base), 3, 7), cell(rtf_ratio(s, "cold", s, "cold_warm"), 3, 9),
                 f"{'–' if diff is None else f'{diff:.2e}':>15}"]
        note = f"{s.info.get('note', '')}{'' if same else ' OTHER AUDIO LENGTHS than ort-fp32'} {s.note()}"
        print(f"{config:<15} {' '.join(cells)}  {note.strip()}")
    for config, s in results.items():
        if config not in measured:
            print(f"{config:<15} {s.note()}")
    print("vs Piper = against the faster of piper(spin) / piper(nospin), the original graph on onnxruntime; "
          "cold/warm = cold RTF over the RTF of the same cold sentences spoken again")


def main() -> int:
    args, threads, piper, child = parse_worker_args(__doc__, CONFIGS)
    if args.worker:
        return worker_main(lambda rec: _worker(args.worker, args, piper, threads, rec))

    outcomes = run_configurations(__file__, CONFIGS, args.rounds, child, args.timeout or None)
    results = {c: summarize(o) for c, o in outcomes.items()}
    print("\n".join(machine_lines(threads)))
    print(f"runs={args.runs} rounds={args.rounds}; RTF = compute time / audio duration; warm: {len(SENTENCES)} "
          f"sentences repeated; cold: {args.cold} corpus sentences, each new to the process, spoken once")
    _print(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
