"""Each stage's candidate graphs (quantized or rewritten per runtime), and opening them.

onnxruntime runs int8 only from its own QDQ layout (quantized conv outputs); OpenVINO runs int8 convs
with float outputs and compiles bf16 / fp16 from a float graph, so each runtime gets its own candidates.
A candidate is named by its precision, plus "+polyphase" for a float graph whose upsampling was
rewritten (calibration/search.py `precision_of`): both float graphs are timed, since which one is
faster depends on the device's kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxport import progress
from voxport.bundle import Bundle
from voxport.calibration.capture import Captured
from voxport.calibration.plan import CalibrationPlan
from voxport.calibration.quantize_openvino import quantize_for_openvino
from voxport.calibration.quantize_ort import quantize_graph
from voxport.calibration.rewrite import polyphase_upsampling
from voxport.calibration.search import precision_of
from voxport.pipeline.sessions import StageSessions
from voxport.runtimes import RuntimeOptions, Session, open_session

# Candidate precisions per runtime besides fp32, in no particular order (timing orders them). fp16 is
# refused at open where the device lacks it or emulates it (voxport.runtimes.openvino_probe).
CANDIDATES = {"onnxruntime": ("int8",), "openvino": ("int8-bf16", "int8", "bf16", "fp16")}
FLOAT_PRECISIONS = ("bf16", "fp16")
POLYPHASE = "+polyphase"
POLICY_SUFFIX = "+"  # "int8+name": an int8 variant of the family plan's (CalibrationPlan.int8_variants)


@dataclass
class CandidateSet:
    """The candidate graph files of one runtime: stage -> precision -> file (fp32 not included)."""

    bundle: Bundle
    runtime: str
    threads: int | None
    files: dict[str, dict[str, Path]] = field(default_factory=dict)  # stage -> candidate -> graph
    notes: list[str] = field(default_factory=list)  # why a candidate is missing or was not run

    def open(self, chosen: Mapping[str, str]) -> StageSessions:
        """The bundle's sessions with the stages in `chosen` (stage -> candidate) on their candidate,
        the others fp32."""
        files = {stage: self.files[stage][c] for stage, c in chosen.items()}
        precisions = {stage: precision_of(c) for stage, c in chosen.items()}
        return StageSessions.open(self.bundle, self.runtime, {**precisions, "default": "fp32"},
                                  RuntimeOptions(threads=self.threads), files=files)

    def open_stage(self, stage: str, candidate: str | None = None) -> Session:
        """One stage's session on `candidate`, or on its fp32 graph, on the runtime being calibrated."""
        entry = self.bundle.graph(stage)
        path = self.files[stage][candidate] if candidate else self.bundle.graph_path(stage, "fp32")
        return open_session(self.runtime, path, entry.inputs, entry.outputs,
                            precision_of(candidate) if candidate else "fp32", RuntimeOptions(threads=self.threads),
                            stage)


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


def _int8_variants(stage: str, plan: CalibrationPlan) -> dict[str, tuple[str, ...]]:
    """Candidate label suffix ("" for plain "int8") -> the conv-name patterns it keeps float."""
    return {"": plan.keep_float.get(stage, ()),
            **{POLICY_SUFFIX + name: keep for name, keep in plan.int8_variants.get(stage, {}).items()}}


def _onnxruntime_candidates(source: Path, stage: str, samples: list, method: str, work: Path,
                            plan: CalibrationPlan) -> dict[str, Path]:
    # Histogram methods need one shape per tensor: only the cropped frame-level stages have that;
    # inputs captured whole vary with sentence length and use min/max ranges.
    stage_method = method if stage in plan.frame_inputs else "minmax"
    files, convs = {}, _conv_nodes(source)
    for suffix, patterns in _int8_variants(stage, plan).items():
        keep = [n for n in convs if any(p in n for p in patterns)]
        files["int8" + suffix] = quantize_graph(source, work / f"{stage}.int8{suffix}.onnx", samples,
                                                method=stage_method, exclude_nodes=keep)
    return files


def _openvino_candidates(source: Path, stage: str, samples: list, seed: int, work: Path,
                         notes: list[str], plan: CalibrationPlan) -> dict[str, Path]:
    import onnx

    files: dict[str, Path] = {}
    for suffix, patterns in _int8_variants(stage, plan).items():
        try:
            int8 = quantize_for_openvino(source, work / f"{stage}.int8{suffix}.onnx", samples, keep_float=patterns,
                                         seed=seed)
            files["int8-bf16" + suffix] = files["int8" + suffix] = int8
        except ValueError as exc:
            notes.append(f"{stage}: no int8{suffix} candidate ({exc})")
    # bf16 / fp16 are compiled from a float graph: the one as exported, and where the stage upsamples
    # the polyphase one too. OpenVINO runs ConvTranspose as a gemm whatever the hint; measured on an
    # AMD EPYC (AVX-512 BF16) a bf16 one feeding a conv ran 5-17x slower than at f32.
    original = onnx.load(str(source))
    rewritten = polyphase_upsampling(original)
    polyphase = None
    if len(rewritten.graph.node) != len(original.graph.node):
        polyphase = work / f"{stage}.polyphase.onnx"
        onnx.save(rewritten, str(polyphase))
    for precision in FLOAT_PRECISIONS:
        files[precision] = source
        if polyphase is not None:
            files[precision + POLYPHASE] = polyphase
    return files


def quantize_candidates(bundle: Bundle, runtime: str, stages: tuple[str, ...], captured: Captured, *,
                        method: str, seed: int, threads: int | None, work: Path,
                        say: Callable[[str], None], plan: CalibrationPlan) -> CandidateSet:
    """The candidates step: each stage quantized from its captured inputs for `runtime`, into `work`
    (which samples and which convolutions stay float: the family's `plan`)."""
    candidates = CandidateSet(bundle, runtime, threads)
    work.mkdir(parents=True, exist_ok=True)
    progress.stage(say, f"quantizing {len(stages)} stages", len(stages))
    for i, stage in enumerate(stages):
        progress.step(say, i, len(stages), f"quantizing {stage}")
        source = bundle.graph_path(stage)
        samples = _subsample(captured.get(stage, []), plan.max_samples[stage], seed)
        if not samples:
            candidates.notes.append(f"{stage}: no captured inputs, so no candidate")
            continue
        if runtime == "onnxruntime":
            files = _onnxruntime_candidates(source, stage, samples, method, work, plan)
        else:
            files = _openvino_candidates(source, stage, samples, seed, work, candidates.notes, plan)
        candidates.files[stage] = {c: f for c, f in files.items() if precision_of(c) in CANDIDATES[runtime]}
    progress.step(say, len(stages), len(stages))
    return candidates
