"""`voxport calibrate`: capture, quantize each stage, gate each on measured quality, keep what passes.

Policy from measurement, not assumption: each stage's candidate precisions (int8 and, on OpenVINO,
int8 with a bf16 remainder and plain bf16) are timed, then judged alone against fp32 from the fastest
down; a stage keeps the fastest candidate that passes, or fp32. The chosen stages are then judged
together, demoting the worst until the combination passes. The report says which candidate failed
which threshold, and what each would have saved.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from voxport.bundle import Bundle, GraphEntry, describe_graph_file, sha256_file, write_manifest
from voxport.calibration.capture import STAGES, capture_stage_inputs, corpus_key, load_capture, save_capture
from voxport.calibration.corpus import CORPUS, HELDOUT, read_sentences
from voxport.calibration.gate import Evaluation, Gate, GateThresholds
from voxport.calibration.quantize_openvino import quantize_for_openvino
from voxport.calibration.quantize_ort import quantize_graph
from voxport.calibration.report import REPORT_SCHEMA, write_reports
from voxport.calibration.rewrite import polyphase_upsampling
from voxport.runtimes import RuntimeOptions, open_session
from voxport.runtimes.errors import UnsupportedPrecisionError
from voxport.stages import StageSessions
from voxport.voice import Voice

GATED_RUNTIMES = ("cpu", "openvino")
# Candidates per runtime besides fp32. onnxruntime runs int8 only from its own QDQ layout (quantized
# conv outputs); OpenVINO runs int8 convs with float outputs and compiles bf16 from a float graph.
CANDIDATES = {"cpu": ("int8",), "openvino": ("int8-bf16", "int8", "bf16")}
# Convolutions kept in float, from measurement on the default voice (gate MCD, 5 held-out sentences):
# - decoder: the couplings' pre/post 1x1 convs produce the shift subtracted from the latent, so their
#   error lands in the output unattenuated (all int8 2.0 dB; these kept 1.5 dB, 1.3 dB with percentile).
# - vocoder: the waveform-facing edges and upsampling convs were the most sensitive layers one by one
#   (24-26 dB SNR alone vs 27-40 dB for resblock convs); keeping them: 3.3 dB -> 2.5 dB.
# onnxruntime's calibrators hold every intermediate tensor of every sample in memory: 32 vocoder crops
# are ~3 GB; the whole corpus (500+ crops) was killed for memory on a 24 GB machine.
MAX_SAMPLES = {"encoder": 128, "duration": 128, "decoder": 32, "vocoder": 32}
KEEP_FLOAT = {"decoder": ("/pre/", "/post/"), "vocoder": ("conv_pre", "/ups.", "conv_post")}
# On OpenVINO the upsampling convs ("/ups.", polyphase there) stay float too: alone they cost the most
# MCD of any layer (0.36-0.44 dB each) for 12 % of the vocoder's multiply-adds.


class CalibrationRefused(RuntimeError):
    """No stage passed the quality gate; the report says why. The bundle keeps its fp32 graphs only."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def _say(progress, message: str) -> None:
    if progress:
        progress(message)


def open_candidate_sessions(
    bundle: Bundle, runtime: str, files: dict[str, Path], threads: int | None,
    precisions: dict[str, str] | None = None,
) -> StageSessions:
    """The bundle's stages with `files` (stage -> graph) in place of their fp32 graphs.

    A stage in `files` runs at `precisions[stage]` (default int8), the others at fp32.
    """
    opened = {}
    try:
        for stage in bundle.stages:
            entry = bundle.graph(stage)
            path = files.get(stage, bundle.graph_path(stage, "fp32"))
            precision = (precisions or {}).get(stage, "int8") if stage in files else "fp32"
            opened[stage] = open_session(runtime, path, entry.inputs, entry.outputs, precision,
                                         RuntimeOptions(threads=threads), stage)
    except Exception:
        for session in opened.values():
            session.close()
        raise
    return StageSessions(opened)


def _subsample(items: list, limit: int, seed: int) -> list:
    """A seeded, order-preserving sample, so the corpus is spread over but memory stays bounded."""
    if len(items) <= limit:
        return items
    picked = np.random.default_rng(seed).choice(len(items), size=limit, replace=False)
    return [items[i] for i in sorted(picked)]


def _conv_nodes(path: Path) -> list[str]:
    import onnx

    return [n.name for n in onnx.load(str(path), load_external_data=False).graph.node
            if n.op_type in ("Conv", "ConvTranspose")]


def _latency_ms(sessions: StageSessions, stage: str, feeds: list[dict[str, np.ndarray]], runs: int = 3) -> float:
    for f in feeds[:2]:
        sessions.run(stage, f)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for f in feeds:
            sessions.run(stage, f)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times)) / len(feeds)


def _candidate_files(voice: Voice, runtime: str, stage: str, samples: list, method: str, seed: int,
                     work: Path, notes: list[str]) -> dict[str, Path]:
    """precision -> graph file of each candidate for one stage (fp32 excluded)."""
    source = voice.bundle.graph_path(stage)
    target = work / f"{stage}.int8.onnx"
    if runtime == "cpu":
        keep = [n for n in _conv_nodes(source) if any(p in n for p in KEEP_FLOAT.get(stage, ()))]
        # Histogram methods need one shape per tensor: only the cropped frame-level stages have that;
        # phoneme-level inputs vary with sentence length and use min/max ranges.
        stage_method = method if stage in ("decoder", "vocoder") else "minmax"
        return {"int8": quantize_graph(source, target, samples, method=stage_method, exclude_nodes=keep)}
    import onnx

    files: dict[str, Path] = {}
    try:
        int8 = quantize_for_openvino(source, target, samples, keep_float=KEEP_FLOAT.get(stage, ()), seed=seed)
        files["int8-bf16"] = files["int8"] = int8
    except ValueError as exc:
        notes.append(f"{stage}: no int8 candidate ({exc})")
    # bf16 is compiled from a float graph: the polyphase one when the stage upsamples (OpenVINO runs
    # ConvTranspose as an f32 GEMM whatever the hint).
    original = onnx.load(str(source))
    rewritten = polyphase_upsampling(original)
    if len(rewritten.graph.node) != len(original.graph.node):
        files["bf16"] = work / f"{stage}.float.onnx"
        onnx.save(rewritten, str(files["bf16"]))
    else:
        files["bf16"] = source
    return {p: f for p, f in files.items() if p in CANDIDATES[runtime]}


def calibrate(
    bundle_dir: str | Path,
    runtime: str = "cpu",
    *,
    corpus: str | Path | None = None,
    heldout: str | Path | None = None,
    seed: int = 0,
    method: str = "percentile",
    stages: tuple[str, ...] = STAGES,
    thresholds: GateThresholds | None = None,
    max_sentences: int | None = None,
    check_wer: bool = True,
    threads: int | None = None,
    require_speedup: bool = True,
    progress=None,
) -> dict[str, Any]:
    """Write the graphs of the fastest configuration that passes the gate into the bundle, with a report."""
    if runtime == "tensorrt":
        raise NotImplementedError(
            "TensorRT int8 needs explicit Q/DQ engines built and gated on a GPU with TensorRT; voxport cannot run "
            "that gate here. The QDQ graphs from `--runtime cpu` are the starting point for it."
        )
    if runtime not in GATED_RUNTIMES:
        raise ValueError(f"calibrate supports runtimes {GATED_RUNTIMES}, not {runtime!r}")
    thresholds = thresholds or GateThresholds()
    bundle_dir = Path(bundle_dir)
    voice = Voice.load(bundle_dir, threads=threads)
    if voice.manifest.num_speakers > 1:
        raise NotImplementedError("calibration of multi-speaker voices is not supported yet")
    if "vocoder" not in voice.bundle.stages:
        raise NotImplementedError("this bundle vocodes with Griffin-Lim (no vocoder graph); only graphs are quantized "
                                  "and gated, so calibrate a bundle built with a vocoder")
    corpus_path, heldout_path = Path(corpus or CORPUS), Path(heldout or HELDOUT)
    sentences = read_sentences(corpus_path)[:max_sentences]
    evaluation_sentences = read_sentences(heldout_path)[: max_sentences and max(4, max_sentences // 8)]

    cache = bundle_dir / "calibration" / f"capture-{corpus_key(sentences, seed, 64)}.npz"
    if cache.exists():
        _say(progress, f"using captured stage inputs {cache.name}")
        captured = load_capture(cache)
    else:
        _say(progress, f"capturing stage inputs on {len(sentences)} sentences (fp32)")
        captured = capture_stage_inputs(voice, sentences, seed)
        save_capture(cache, captured)

    work = bundle_dir / "calibration" / f"candidates-{runtime}"
    shutil.rmtree(work, ignore_errors=True)
    notes: list[str] = []
    candidates: dict[str, dict[str, Path]] = {}
    for stage in stages:
        _say(progress, f"quantizing {stage}")
        samples = _subsample(captured[stage], MAX_SAMPLES[stage], seed)
        candidates[stage] = _candidate_files(voice, runtime, stage, samples, method, seed, work, notes)

    # Every candidate is timed, refused ones too: what it would have saved is part of its cost.
    speed: dict[str, dict[str, Any]] = {}
    for stage in stages:
        feeds = captured[stage][:16]
        fp32_ms = _latency_ms(voice.sessions, stage, feeds)
        timed = {}
        for precision, path in candidates[stage].items():
            try:
                sessions = open_candidate_sessions(voice.bundle, runtime, {stage: path}, threads, {stage: precision})
            except UnsupportedPrecisionError as exc:
                notes.append(f"{stage} {precision}: not run on this device ({exc})")
                continue
            timed[precision] = _latency_ms(sessions, stage, feeds)
            sessions.close()
        speed[stage] = {"fp32_ms": fp32_ms, "candidates_ms": timed}

    recognizer = None
    if check_wer:
        from voxport.calibration.asr import Recognizer

        recognizer = Recognizer()
    _say(progress, f"fp32 reference on {len(evaluation_sentences)} held-out sentences")
    gate = Gate(voice, evaluation_sentences, seed, thresholds, recognizer)

    evaluations: list[Evaluation] = []
    chosen: dict[str, str] = {}
    solo_mcd: dict[str, float] = {}
    # Fastest first; a candidate no faster than fp32 has no reason to exist (unless told otherwise, as
    # tests of tiny graphs do, where timing says nothing).
    ladders = {stage: [p for _, p in sorted((ms, p) for p, ms in speed[stage]["candidates_ms"].items()
                                            if ms < speed[stage]["fp32_ms"] or not require_speedup)]
               for stage in stages}

    def climb(stage: str) -> None:
        """Gate the stage's next candidates alone until one passes (chosen) or none is left (fp32)."""
        while ladders[stage]:
            precision = ladders[stage].pop(0)
            _say(progress, f"gate: {stage} alone at {precision}")
            sessions = open_candidate_sessions(voice.bundle, runtime, {stage: candidates[stage][precision]}, threads,
                                               {stage: precision})
            result = gate.evaluate(f"{stage} {precision}", sessions, {stage: precision})
            sessions.close()
            evaluations.append(result)
            if result.passed:
                chosen[stage], solo_mcd[stage] = precision, result.mean["mcd_db"]
                return

    for stage in stages:
        climb(stage)
    while len(chosen) > 1:
        _say(progress, f"gate: {', '.join(f'{s} {p}' for s, p in chosen.items())} together")
        sessions = open_candidate_sessions(voice.bundle, runtime, {s: candidates[s][p] for s, p in chosen.items()},
                                           threads, chosen)
        combined = gate.evaluate("combined", sessions, dict(chosen))
        sessions.close()
        evaluations.append(combined)
        if combined.passed:
            break
        worst = max(chosen, key=solo_mcd.__getitem__)  # demoted to its next (slower) candidate, or fp32
        del chosen[worst]
        climb(worst)
    for stage in stages:
        speed[stage]["chosen"] = chosen.get(stage, "fp32")
        speed[stage]["chosen_ms"] = speed[stage]["candidates_ms"].get(chosen.get(stage), speed[stage]["fp32_ms"])

    precisions = {s: chosen.get(s, "fp32") for s in voice.bundle.stages}
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA,
        "bundle": voice.manifest.name,
        "runtime": runtime,
        "seed": seed,
        "method": method if runtime == "cpu" else "equalized, GPTQ weights, least-squares activation ranges",
        "corpus": {"file": corpus_path.name, "sentences": len(sentences), "sha256": sha256_file(corpus_path)},
        "heldout": {"file": heldout_path.name, "sentences": len(evaluation_sentences)},
        "thresholds": asdict(thresholds),
        "evaluations": [e.to_dict() for e in evaluations],
        "result": {
            "precisions": precisions,
            "int8_stages": sorted(s for s, p in precisions.items() if p.startswith("int8")),
            "fp32_stages": [s for s, p in precisions.items() if p == "fp32"],
        },
        "speed": speed,
        "notes": notes,
    }
    voice.close()
    write_reports(bundle_dir, runtime, report)
    if not report["result"]["int8_stages"]:
        shutil.rmtree(work, ignore_errors=True)
        raise CalibrationRefused("no stage passed the quality gate in int8; see the calibration report", report)
    _install(bundle_dir, {s: candidates[s][p] for s, p in chosen.items()}, precisions, runtime, report)
    shutil.rmtree(work, ignore_errors=True)
    return report

def _install(bundle_dir: Path, chosen: dict[str, Path], precisions: dict[str, str], runtime: str,
             report: dict[str, Any]) -> None:
    """Copy the accepted graphs in and record the per-stage precisions for `precision="int8"`.

    A bundle holds one calibrated set: the int8 (and rewritten bf16) graphs of the runtime calibrated
    last, since the two runtimes need different graphs; the other runtime's record is dropped.
    """
    bundle = Bundle.load(bundle_dir, verify=False)
    manifest = bundle.manifest
    graphs = {}
    for stage, entry in manifest.graphs.items():
        variants = {k: v for k, v in entry.variants.items() if k not in ("int8", "bf16")}
        if stage in chosen:
            variant = "int8" if precisions[stage].startswith("int8") else precisions[stage]
            if chosen[stage] != bundle.graph_path(stage, "fp32"):
                target = bundle_dir / variant / f"{stage}.onnx"
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(chosen[stage], target)
                variants[variant] = describe_graph_file(bundle_dir, f"{variant}/{stage}.onnx")
        graphs[stage] = GraphEntry(entry.inputs, entry.outputs, variants)
    calibration = {runtime: {
        "precisions": precisions,
        "int8_stages": report["result"]["int8_stages"],
        "report": f"calibration/report-{runtime}.json",
        "seed": report["seed"],
        "method": report["method"],
    }}
    write_manifest(bundle_dir, replace(manifest, graphs=graphs, extra={**manifest.extra, "calibration": calibration}))
