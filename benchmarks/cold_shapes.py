"""Real text never repeats a sentence: RTF cold and warm, and cold time to first audio, against piper-tts;
and what each shape plan costs to load: seconds and RSS after load, first start and second start.

    python benchmarks/cold_shapes.py [--bundle DIR] [--threads N] [--sentences 12] [--short 10] [--runs 2]
                                     [--rounds 1] [--timeout 300] [--configs ort-fp32,ov-fp32,...] [--json OUT]
                                     [--load-only]

Every plan (dynamic, the default buckets, small, latency, static) on onnxruntime and OpenVINO is a
configuration. A first start compiles without the compile cache (`compile_cache=False`); a "2nd-start"
configuration first loads the voice once in another process with a fresh cache directory, then loads it
with that cache, as a device's second start would. `--load-only` stops after the load (memory and load
time of every plan in a minute or two).

Every configuration runs in its own process (benchmarks/_common.py) and speaks, after one warm-up
sentence that absorbs the process's one-off costs (espeak, thread pools, the streaming reach):

1. cold: `--sentences` corpus sentences (voxport.tools.profiling.cold, the same for every configuration,
   none repeated), each for the first time in this process: every one a new input shape;
2. time to first audio: `--short` other corpus sentences of 8-10 words, each streamed once (cold);
   piper-tts has no streaming, so its first audio is the whole sentence;
3. warm: the sentences of 1 again, `--runs` times each (median).

The baseline is piper-tts (the `piper-tts==1.8.0` dev dependency) through its own API with its default
settings: `PiperVoice.load(model)`, `voice.synthesize(text)`, sentence by sentence. It has no thread
option: onnxruntime's default pool (one thread per physical core) is what it gets. voxport speaks with
its defaults too (`Voice.iter_sentences`: the same sentence split, no silence between sentences), so
both sides do the same work per sentence. Each configuration runs under `--timeout`: one that exceeds
it, or fails, is reported with what it measured before, and the table still prints.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from _common import (
    WARMUP_TEXT,
    Summary,
    cell,
    cold_sets,
    load_or_skip,
    machine_lines,
    parse_worker_args,
    ratio,
    rtf_ratio,
    run_configurations,
    summarize,
    time_first_audio,
    time_texts_first_audio,
    worker_main,
)

from voxport.tools.profiling.child import Recorder
from voxport.tools.timing import percentile

PIPER = "piper-tts"
DEC_VOC_BF16 = {"decoder": "bf16", "vocoder": "bf16", "default": "fp32"}
# Voice.load keywords per configuration. OpenVINO's default is now fixed shapes, so the dynamic rows say
# "dynamic" explicitly; `shapes` is passed only where set, so an SDK without it fails those rows alone.
CONFIGS: dict[str, dict[str, Any] | None] = {
    PIPER: None,
    "ort-fp32": {"runtime": "onnxruntime", "precision": "fp32"},
    "ort-small-fp32": {"runtime": "onnxruntime", "precision": "fp32", "shapes": "small"},
    "ov-fp32": {"runtime": "openvino", "precision": "fp32", "shapes": "dynamic"},
    "ov-bf16-dec+voc": {"runtime": "openvino", "precision": DEC_VOC_BF16, "shapes": "dynamic"},
    "ov-bf16-all": {"runtime": "openvino", "precision": "bf16", "shapes": "dynamic"},
    "ov-fixed-fp32": {"runtime": "openvino", "precision": "fp32", "shapes": "fixed"},
    "ov-fixed-fp32-2nd-start": {"runtime": "openvino", "precision": "fp32", "shapes": "fixed", "start": 2},
    "ov-small-fp32": {"runtime": "openvino", "precision": "fp32", "shapes": "small"},
    "ov-small-fp32-2nd-start": {"runtime": "openvino", "precision": "fp32", "shapes": "small", "start": 2},
    "ov-latency-fp32": {"runtime": "openvino", "precision": "fp32", "shapes": "latency"},
    # The bundle's static-shape graphs (`voxport build --static`): a bundle without them is reported failed.
    "ov-static-fp32": {"runtime": "openvino", "precision": "fp32", "static": True},
    "ov-fixed-bf16-dec+voc": {"runtime": "openvino", "precision": DEC_VOC_BF16, "shapes": "fixed"},
    "ov-fixed-bf16-all": {"runtime": "openvino", "precision": "bf16", "shapes": "fixed"},
    # The policy `voxport calibrate` installed, on the runtime's default shapes.
    "calibrated": {"runtime": "openvino", "precision": "calibrated"},
    # The same with the encoder and duration predictor compiled per bucket too: more memory, faster start.
    "calibrated-latency": {"runtime": "openvino", "precision": "calibrated", "shapes": "latency"},
    # The small-device plan with the policy's int8 graphs (their weights a quarter of fp32's).
    "calibrated-small": {"runtime": "openvino", "precision": "calibrated", "shapes": "small"},
}
TARGETS = ("targets (issue 12): calibrated <= 0.5x Piper cold (aim 0.3x); every OpenVINO configuration "
           "cold/warm <= 1.1; onnxruntime fp32 <= 1.0x Piper; TTFA median <= 25 ms and <= 0.2x Piper's whole "
           "sentence with the fastest passing policy.\ntargets (issue 24): OpenVINO fixed shapes <= 250 MB RSS "
           "after load and <= 1.5 s load with cold/warm <= 1.1; onnxruntime fp32 <= 150 MB RSS after load")


def _options(parser: Any) -> None:
    parser.add_argument("--sentences", type=int, default=12, help="cold sentences for RTF (default: 12)")
    parser.add_argument("--short", type=int, default=10, help="short cold sentences for time to first audio")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, from: " + ", ".join(CONFIGS))
    parser.add_argument("--calibrated-runtime", default="openvino", help="runtime of the calibrated policy")
    parser.add_argument("--json", metavar="OUT", help="also write every measurement as JSON")
    parser.add_argument("--load-only", action="store_true", help="measure the load (seconds, RSS) and stop")
    # Cold figures are one-shot per process; a second round is a second fresh process, rarely worth it.
    parser.set_defaults(rounds=1, runs=2)


def _measure(speak: Any, stream: Any, sample_rate: int, args: Any, rec: Recorder, size: Any = None) -> None:
    """The three phases of the module docstring; `speak(text)` and `stream(text)` yield audio lazily,
    `size(chunk)` counts a chunk's samples (None: voxport's chunks)."""
    texts, short = cold_sets(args.sentences, args.short)
    sized = {"size": size} if size else {}
    rec.set(planned={"cold": len(texts), "ttfa": len(short), "warm": len(texts)}, sample_rate=sample_rate)
    first_call, _, _ = time_first_audio(speak(WARMUP_TEXT), **sized)
    time_first_audio(stream(WARMUP_TEXT), **sized)
    rec.set(first_call_s=first_call)
    for index, text in enumerate(texts):
        _, seconds, samples = time_first_audio(speak(text), **sized)
        rec.add("cold", {"text": index, "s": seconds, "audio_s": samples / sample_rate})
    time_texts_first_audio(stream, short, sample_rate, rec, "ttfa", **sized)
    for index, text in enumerate(texts):
        runs = [time_first_audio(speak(text), **sized) for _ in range(args.runs)]
        rec.add("warm", {"text": index, "s": statistics.median(r[1] for r in runs),
                         "audio_s": runs[0][2] / sample_rate})


def _rss_mb() -> float | None:
    """This process's resident memory now (Linux), in MB; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return None


def _prime_cache(bundle: str | None, spec: dict[str, Any], threads: int, cache: str) -> float:
    """Load the voice once in another process with `cache` as its compile cache: seconds it took."""
    import subprocess
    import sys
    import time

    code = ("import json, sys; from voxport import Voice; "
            "Voice.load(sys.argv[1] or None, threads=int(sys.argv[2]), progress=False, compile_cache=sys.argv[3], "
            "**json.loads(sys.argv[4])).close()")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, bundle or "", str(threads), cache, json.dumps(spec)],
                          capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the first start (priming the compile cache) failed: {last}")
    return time.perf_counter() - start


def _sdk_worker(spec: dict[str, Any], args: Any, threads: int, rec: Recorder) -> None:
    import tempfile

    spec = dict(spec)
    cache: Any = False  # a first start: nothing compiled before, whatever the user's cache holds
    with tempfile.TemporaryDirectory(prefix="voxport-compiled-") as scratch:  # removed with what it holds
        if spec.pop("start", 1) == 2:
            cache = scratch
            rec.set(prime_load_s=_prime_cache(args.bundle, spec, threads, cache))
        _load_and_measure(spec, args, threads, rec, cache)


def _load_and_measure(spec: dict[str, Any], args: Any, threads: int, rec: Recorder, cache: Any) -> None:
    import time

    from voxport import Voice
    from voxport.tools.profiling.measure import peak_rss_mb

    start = time.perf_counter()
    voice = load_or_skip(Voice.load, args.bundle, threads=threads, progress=False, compile_cache=cache, **spec)
    # Memory of the loaded voice, its compiled bucket shapes included: the cost of a bucket set.
    rec.set(load_s=time.perf_counter() - start, load_rss_mb=_rss_mb(), load_peak_rss_mb=peak_rss_mb(),
            precisions={s: voice.sessions[s].precision for s in voice.bundle.stages},
            fixed=list(getattr(voice.engine, "runners", {})),  # stages on bucket shapes, where supported
            buckets={s: len(r.buckets) for s, r in getattr(voice.engine, "runners", {}).items()})
    with voice:
        if not args.load_only:
            _measure(voice.iter_sentences, voice.stream, voice.sample_rate, args, rec)


def _piper_worker(args: Any, piper: str, rec: Recorder) -> None:
    import time

    from piper import PiperVoice

    start = time.perf_counter()
    voice = load_or_skip(PiperVoice.load, piper)
    from voxport.tools.profiling.measure import peak_rss_mb

    rec.set(load_s=time.perf_counter() - start, load_rss_mb=_rss_mb(), load_peak_rss_mb=peak_rss_mb())
    if args.load_only:
        return
    # No streaming in piper-tts: its first audio is the first sentence, so stream = speak.
    _measure(voice.synthesize, voice.synthesize, voice.config.sample_rate, args, rec,
             size=lambda chunk: chunk.audio_float_array.size)


def _worker(config: str, args: Any, piper: str, threads: int, rec: Recorder) -> None:
    spec = CONFIGS[config]
    if spec is None:
        _piper_worker(args, piper, rec)
        return
    if spec["precision"] == "calibrated":
        spec = {**spec, "runtime": args.calibrated_runtime}
    _sdk_worker(spec, args, threads, rec)


# --- the table ----------------------------------------------------------------------------------------

def _ttfa_ms(s: Summary, upto: int | None = None) -> list[float]:
    return [1000 * e["ttfa_s"] for e in s.entries("ttfa")[:upto]]


def _ttfa_vs_piper(s: Summary, piper: Summary) -> float | None:
    """Median time to first audio over piper-tts's median whole-sentence time, on the sentences both did."""
    common = min(len(s.entries("ttfa")), len(piper.entries("ttfa")))
    return ratio(percentile(_ttfa_ms(s, common), 50), percentile(_ttfa_ms(piper, common), 50)) if common else None


def _row(config: str, s: Summary, piper: Summary) -> list[str]:
    ttfa = _ttfa_ms(s)
    return [config, s.status, cell(s.info.get("load_s"), 2), cell(s.info.get("load_rss_mb"), 0),
            cell(s.info.get("load_peak_rss_mb"), 0),
            cell(s.rtf("cold"), 4), cell(s.rtf("warm"), 4),
            cell(rtf_ratio(s, "cold", s, "warm"), 3), cell(rtf_ratio(s, "cold", piper), 3),
            cell(rtf_ratio(s, "warm", piper), 3), cell(percentile(ttfa, 50), 1), cell(percentile(ttfa, 90), 1),
            cell(_ttfa_vs_piper(s, piper), 3), _note(s)]


def _note(s: Summary) -> str:
    parts = []
    if s.info.get("precisions"):
        parts.append(", ".join(f"{stage} {p}" for stage, p in s.info["precisions"].items()))
    if "fixed" in s.info:
        buckets = s.info.get("buckets", {})
        parts.append("fixed shapes: " + (", ".join(f"{st} ({buckets[st]})" if st in buckets else st
                                                   for st in s.info["fixed"]) or "none"))
    if "prime_load_s" in s.info:
        parts.append(f"1st start in another process: {s.info['prime_load_s']:.2f} s")
    if s.note():
        parts.append(s.note().replace("|", "/"))
    return "; ".join(parts)


def _print_table(results: dict[str, Summary]) -> None:
    piper = results.get(PIPER) or Summary("skipped", "not run", {})
    headers = ["configuration", "status", "load s", "RSS after load MB", "peak RSS MB", "cold RTF", "warm RTF",
               "cold/warm", "cold × Piper cold", "warm × Piper warm", "TTFA p50 ms", "TTFA p90 ms",
               "TTFA p50 × Piper sentence", "note"]
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for config, s in results.items():
        print("| " + " | ".join(_row(config, s, piper)) + " |")


def _write_json(path: str, results: dict[str, Summary], header: list[str]) -> None:
    data = {"header": header, "configurations": {c: vars(s) for c, s in results.items()}}
    Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def main() -> int:
    args, threads, piper, child = parse_worker_args(__doc__, list(CONFIGS), _options)
    if args.worker:
        return worker_main(lambda rec: _worker(args.worker, args, piper, threads, rec))
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configurations {unknown}; choose from {list(CONFIGS)}")
    child += ["--sentences", str(args.sentences), "--short", str(args.short),
              "--calibrated-runtime", args.calibrated_runtime] + (["--load-only"] if args.load_only else [])
    header = machine_lines(threads)
    outcomes = run_configurations(__file__, configs, args.rounds, child, args.timeout or None)
    results = {c: summarize(o) for c, o in outcomes.items()}
    from voxport.runtimes import physical_core_count
    from voxport.tools.profiling.machine import load_average

    header += ["--load-only: the load measured, nothing spoken" if args.load_only else
               f"{args.sentences} cold sentences (RTF), {args.short} short cold sentences (TTFA), warm = the same "
               f"{args.sentences} again x {args.runs} (median), rounds={args.rounds}, time limit "
               f"{args.timeout or 'none'} s per configuration; {PIPER}: its defaults, no thread option "
               f"(onnxruntime's pool: {physical_core_count()} threads here); voxport: threads={threads}",
               f"1-min load average at the end: {load_average()}"]
    print("\n".join(header) + "\n")
    _print_table(results)
    print("\n" + TARGETS)
    if args.json:
        _write_json(args.json, results, header)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
