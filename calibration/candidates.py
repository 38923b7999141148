"""Each stage's candidate graphs (quantized per runtime), opening them, and timing them.

onnxruntime runs int8 only from its own QDQ layout (quantized conv outputs); OpenVINO runs int8 convs
with float outputs and compiles bf16 from a float graph, so each runtime gets its own candidates.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxport import contract as c
from voxport.bundle import Bundle
from voxport.calibration.capture import Captured
from voxport.calibration.quantize_openvino import quantize_for_openvino
from voxport.calibration.quantize_ort import quantize_graph
from voxport.calibration.rewrite import polyphase_upsampling
from voxport.runtimes import RuntimeOptions
from voxport.runtimes.errors import UnsupportedPrecisionError
from voxport.stages import StageSessions

# Candidate precisions per runtime besides fp32, in no particular order (timing orders them).
CANDIDATES = {"onnxruntime": ("int8",), "openvino": ("int8-bf16", "int8", "bf16")}
# onnxruntime's calibrators hold every intermediate tensor of every sample in memory: 32 vocoder crops
# are ~3 GB; the whole corpus (500+ crops) was killed for memory on a 24 GB machine.
MAX_SAMPLES = {c.ENCODER: 128, c.DURATION: 128, c.DECODER: 32, c.VOCODER: 32}
# Convolutions kept in float, from measurement on the default voice (gate MCD, 5 held-out sentences):
# - decoder: the couplings' pre/post 1x1 convs produce the shift subtracted from the latent, so their
#   error lands in the output unattenuated (all int8 2.0 dB; these kept 1.5 dB, 1.3 dB with percentile).
# - vocoder: the waveform-facing edges and upsampling convs were the most sensitive layers one by one
#   (24-26 dB SNR alone vs 27-40 dB for resblock convs); keeping them: 3.3 dB -> 2.5 dB.
# On OpenVINO the upsampling convs ("/ups.", polyphase there) stay float too: alone they cost the most
# MCD of any layer (0.36-0.44 dB each) for 12 % of the vocoder's multiply-adds.
KEEP_FLOAT = {c.DECODER: ("/pre/", "/post/"), c.VOCODER: ("conv_pre", "/ups.", "conv_post")}
TIMED_FEEDS = 16


@dataclass
class CandidateSet:
    """The candidate graph files of one runtime: stage -> precision -> file (fp32 not included)."""

    bundle: Bundle
    runtime: str
    threads: int | None
    files: dict[str, dict[str, Path]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why a candidate is missing or was not run

    def open(self, precisions: Mapping[str, str]) -> StageSessions:
        """The bundle's sessions with the stages in `precisions` on their candidate, the others fp32."""
        files = {stage: self.files[stage][p] for stage, p in precisions.items()}
        return StageSessions.open(self.bundle, self.runtime, {**precisions, "default": "fp32"},
                                  RuntimeOptions(threads=self.threads), files=files)


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


def _onnxruntime_candidates(source: Path, stage: str, samples: list, method: str, work: Path) -> dict[str, Path]:
    keep = [n for n in _conv_nodes(source) if any(p in n for p in KEEP_FLOAT.get(stage, ()))]
    # Histogram methods need one shape per tensor: only the cropped frame-level stages have that;
    # phoneme-level inputs vary with sentence length and use min/max ranges.
    stage_method = method if stage in (c.DECODER, c.VOCODER) else "minmax"
    return {"int8": quantize_graph(source, work / f"{stage}.int8.onnx", samples, method=stage_method,
                                   exclude_nodes=keep)}


def _openvino_candidates(source: Path, stage: str, samples: list, seed: int, work: Path,
                         notes: list[str]) -> dict[str, Path]:
    import onnx

    files: dict[str, Path] = {}
    try:
        int8 = quantize_for_openvino(source, work / f"{stage}.int8.onnx", samples,
                                     keep_float=KEEP_FLOAT.get(stage, ()), seed=seed)
        files["int8-bf16"] = files["int8"] = int8
    except ValueError as exc:
        notes.append(f"{stage}: no int8 candidate ({exc})")
    # bf16 is compiled from a float graph: the polyphase one when the stage upsamples (OpenVINO runs
    # ConvTranspose as an f32 GEMM whatever the hint).
    original = onnx.load(str(source))
    rewritten = polyphase_upsampling(original)
    files["bf16"] = source
    if len(rewritten.graph.node) != len(original.graph.node):
        files["bf16"] = work / f"{stage}.float.onnx"
        onnx.save(rewritten, str(files["bf16"]))
    return files


def quantize_candidates(bundle: Bundle, runtime: str, stages: tuple[str, ...], captured: Captured, *,
                        method: str, seed: int, threads: int | None, work: Path,
                        say: Callable[[str], None]) -> CandidateSet:
    """The candidates step: each stage quantized from its captured inputs for `runtime`, into `work`."""
    candidates = CandidateSet(bundle, runtime, threads)
    work.mkdir(parents=True, exist_ok=True)
    for stage in stages:
        say(f"quantizing {stage}")
        source = bundle.graph_path(stage)
        samples = _subsample(captured[stage], MAX_SAMPLES[stage], seed)
        if runtime == "onnxruntime":
            files = _onnxruntime_candidates(source, stage, samples, method, work)
        else:
            files = _openvino_candidates(source, stage, samples, seed, work, candidates.notes)
        candidates.files[stage] = {p: f for p, f in files.items() if p in CANDIDATES[runtime]}
    return candidates


def latency_ms(sessions: StageSessions, stage: str, feeds: list[dict[str, np.ndarray]], runs: int = 3) -> float:
    """Median over `runs` passes of the session's own mean call time on `feeds` (after two warm-up calls)."""
    for f in feeds[:2]:
        sessions.run(stage, f)
    stats, passes = sessions[stage].stats, []
    for _ in range(runs):
        stats.reset()
        for f in feeds:
            sessions.run(stage, f)
        passes.append(stats.total_s / stats.count)
    return 1000.0 * statistics.median(passes)


def time_candidates(fp32: StageSessions, candidates: CandidateSet, captured: Captured) -> dict[str, dict]:
    """The timing step: per stage, fp32's and each candidate's latency on the same captured inputs.

    Every candidate is timed, the gate's refusals too: what it would have saved is part of its cost.
    One this machine cannot run is left out, with a note.
    """
    speed: dict[str, dict] = {}
    for stage, files in candidates.files.items():
        feeds = captured[stage][:TIMED_FEEDS]
        fp32_ms, timed = latency_ms(fp32, stage, feeds), {}
        for precision in files:
            try:
                with candidates.open({stage: precision}) as sessions:
                    timed[precision] = latency_ms(sessions, stage, feeds)
            except UnsupportedPrecisionError as exc:
                candidates.notes.append(f"{stage} {precision}: not run on this device ({exc})")
        speed[stage] = {"fp32_ms": fp32_ms, "candidates_ms": timed}
    return speed
