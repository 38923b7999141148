"""`voxport calibrate`: capture, quantize each stage, gate each on measured quality, keep what passes.

Policy from measurement, not assumption: every stage is quantized and judged alone against fp32; the
stages that pass are then judged together, dropping the worst until the combination passes. A stage
that fails stays fp32, and the report says which stage failed which threshold.
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
from voxport.calibration.quantize_ort import quantize_graph
from voxport.calibration.report import REPORT_SCHEMA, write_reports
from voxport.runtimes import RuntimeOptions, open_session
from voxport.stages import StageSessions
from voxport.voice import Voice

GATED_RUNTIMES = ("cpu", "openvino")
# Convolutions kept in float, from measurement on the default voice (gate MCD, 5 held-out sentences):
# - decoder: the couplings' pre/post 1x1 convs produce the shift subtracted from the latent, so their
#   error lands in the output unattenuated (all int8 2.0 dB; these kept 1.5 dB, 1.3 dB with percentile).
# - vocoder: the waveform-facing edges and upsampling convs were the most sensitive layers one by one
#   (24-26 dB SNR alone vs 27-40 dB for resblock convs); keeping them: 3.3 dB -> 2.5 dB.
# onnxruntime's calibrators hold every intermediate tensor of every sample in memory: 32 vocoder crops
# are ~3 GB; the whole corpus (500+ crops) was killed for memory on a 24 GB machine.
MAX_SAMPLES = {"encoder": 128, "duration": 128, "decoder": 32, "vocoder": 32}
KEEP_FLOAT = {"decoder": ("/pre/", "/post/"), "vocoder": ("conv_pre", "/ups.", "conv_post")}


class CalibrationRefused(RuntimeError):
    """No stage passed the quality gate; the report says why. The bundle keeps its fp32 graphs only."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def _say(progress, message: str) -> None:
    if progress:
        progress(message)


def open_candidate_sessions(
    bundle: Bundle, runtime: str, files: dict[str, Path], threads: int | None
) -> StageSessions:
    """The bundle's stages with `files` (stage -> int8 graph) in place of their fp32 graphs."""
    opened = {}
    for stage in bundle.stages:
        entry = bundle.graph(stage)
        path = files.get(stage, bundle.graph_path(stage, "fp32"))
        precision = "int8" if stage in files else "fp32"
        opened[stage] = open_session(runtime, path, entry.inputs, entry.outputs, precision,
                                     RuntimeOptions(threads=threads), stage)
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
    progress=None,
) -> dict[str, Any]:
    """Write int8 graphs that pass the gate into the bundle, with a JSON + markdown report."""
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
    candidates: dict[str, Path] = {}
    for stage in stages:
        _say(progress, f"quantizing {stage}")
        source = voice.bundle.graph_path(stage)
        keep = [n for n in _conv_nodes(source) if any(p in n for p in KEEP_FLOAT.get(stage, ()))]
        # Histogram methods need one shape per tensor: only the cropped frame-level stages have that;
        # phoneme-level inputs vary with sentence length and use min/max ranges.
        stage_method = method if stage in ("decoder", "vocoder") else "minmax"
        samples = _subsample(captured[stage], MAX_SAMPLES[stage], seed)
        candidates[stage] = quantize_graph(source, work / f"{stage}.onnx", samples, method=stage_method,
                                           exclude_nodes=keep)

    recognizer = None
    if check_wer:
        from voxport.calibration.asr import Recognizer

        recognizer = Recognizer()
    _say(progress, f"fp32 reference on {len(evaluation_sentences)} held-out sentences")
    gate = Gate(voice, evaluation_sentences, seed, thresholds, recognizer)

    evaluations: list[Evaluation] = []
    for stage in stages:
        _say(progress, f"gate: {stage} alone in int8")
        sessions = open_candidate_sessions(voice.bundle, runtime, {stage: candidates[stage]}, threads)
        evaluations.append(gate.evaluate(f"{stage} only", sessions, [stage]))
        sessions.close()
    passing = [e.int8_stages[0] for e in evaluations if e.passed]
    chosen: list[str] = []
    while passing:
        if len(passing) == 1:
            chosen = passing
            break
        _say(progress, f"gate: {', '.join(passing)} together")
        sessions = open_candidate_sessions(voice.bundle, runtime, {s: candidates[s] for s in passing}, threads)
        combined = gate.evaluate("combined", sessions, passing)
        sessions.close()
        evaluations.append(combined)
        if combined.passed:
            chosen = passing
            break
        worst = max(passing, key=lambda s: next(e.mean["mcd_db"] for e in evaluations if e.int8_stages == (s,)))
        passing = [s for s in passing if s != worst]

    # Every candidate is timed, refused ones too: what int8 would have saved is part of its cost.
    speed = {}
    for stage in stages:
        int8_sessions = open_candidate_sessions(voice.bundle, runtime, {stage: candidates[stage]}, threads)
        feeds = captured[stage][:16]
        a, b = _latency_ms(voice.sessions, stage, feeds), _latency_ms(int8_sessions, stage, feeds)
        speed[stage] = {"fp32_ms": a, "int8_ms": b, "ratio": b / a, "accepted": stage in chosen}
        int8_sessions.close()

    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA,
        "bundle": voice.manifest.name,
        "runtime": runtime,
        "seed": seed,
        "method": method,
        "corpus": {"file": corpus_path.name, "sentences": len(sentences), "sha256": sha256_file(corpus_path)},
        "heldout": {"file": heldout_path.name, "sentences": len(evaluation_sentences)},
        "thresholds": asdict(thresholds),
        "evaluations": [e.to_dict() for e in evaluations],
        "result": {"int8_stages": chosen, "fp32_stages": [s for s in voice.bundle.stages if s not in chosen]},
        "speed": speed,
    }
    voice.close()
    write_reports(bundle_dir, runtime, report)
    if not chosen:
        shutil.rmtree(work, ignore_errors=True)
        raise CalibrationRefused("no stage passed the quality gate; see the calibration report", report)
    _install(bundle_dir, {s: candidates[s] for s in chosen}, runtime, report)
    shutil.rmtree(work, ignore_errors=True)
    return report


def _install(bundle_dir: Path, chosen: dict[str, Path], runtime: str, report: dict[str, Any]) -> None:
    """Copy the accepted graphs in and give every stage an "int8" variant (fp32 file where refused).

    `precision="int8"` then means "the configuration the gate accepted", whichever stages that is.
    """
    bundle = Bundle.load(bundle_dir, verify=False)
    manifest = bundle.manifest
    graphs = {}
    for stage, entry in manifest.graphs.items():
        if stage in chosen:
            target = bundle_dir / "int8" / f"{stage}.onnx"
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(chosen[stage], target)
            variant = describe_graph_file(bundle_dir, f"int8/{stage}.onnx")
        else:
            variant = entry.variants["fp32"]
        graphs[stage] = GraphEntry(entry.inputs, entry.outputs, {**entry.variants, "int8": variant})
    calibration = dict(manifest.extra.get("calibration", {}))
    calibration[runtime] = {
        "int8_stages": sorted(chosen),
        "report": f"calibration/report-{runtime}.json",
        "seed": report["seed"],
        "method": report["method"],
    }
    write_manifest(bundle_dir, replace(manifest, graphs=graphs, extra={**manifest.extra, "calibration": calibration}))
