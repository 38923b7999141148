"""Cross-calibration: gate on this machine the precisions of a device class it is not, by emulation.

The edge workflow is to build and calibrate on a desktop and copy the bundle to the board, whose runtime
lists other precisions (OpenVINO on an ARMv8.2 board: FP32/FP16/INT8, no BF16). `voxport calibrate
--target arm64-fp16` judges each stage at the target's float precisions with the host's numerical
emulation of them (voxport.calibration.emulate) through the same gate and search as a calibration on the
device, and records the result for that class as "quality-checked, speed unmeasured": the device uses it
(with a warning) and `voxport calibrate --time-only` there times it and keeps what is faster.

int8 is not cross-calibrated: its graphs are quantized for one runtime's kernels, so they are made and
gated on the device itself (a plain `voxport calibrate` there).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import onnx

from voxport.bundle import Bundle
from voxport.calibration.calibrate import (
    CalibrationRefused,
    Say,
    build_report,
    read_texts,
    recognizer_for,
)
from voxport.calibration.emulate import EMULATED, emulate_precision
from voxport.calibration.gate import Evaluation, Gate, GateThresholds
from voxport.calibration.install import install
from voxport.calibration.plan import plan_of
from voxport.calibration.report import report_file, write_reports
from voxport.calibration.search import PolicySearch, passed_alone
from voxport.pipeline.sessions import StageSessions
from voxport.runtimes import RuntimeOptions
from voxport.runtimes.device_class import DeviceClass, parse_device_class
from voxport.voice import Voice

__all__ = ["TARGETS", "Target", "cross_calibrate", "target_named"]


@dataclass(frozen=True)
class Target:
    """A device class to calibrate for, the runtime it will run, and the precisions gated for it."""

    name: str
    runtime: str
    device: DeviceClass
    precisions: tuple[str, ...]


TARGETS = {
    # ARMv8.2-A and later (Cortex-A76/A78, Raspberry Pi 5, Jetson Orin's CPU, Graviton2): fp16 arithmetic and
    # int8 dot products; OpenVINO lists FP32/FP16/INT8 there and defaults to f16.
    "arm64-fp16": Target("arm64-fp16", "openvino",
                         DeviceClass("arm64", ("fp16", "dotprod"), ("fp32", "fp16", "int8")), ("fp16",)),
    # x86 with AVX512-BF16 (Cooper Lake, Zen 4+): OpenVINO lists BF16 beside FP32/INT8.
    "x86_64-bf16": Target("x86_64-bf16", "openvino",
                          DeviceClass("x86_64", ("avx512-bf16", "avx512-vnni", "avx512", "avx2"),
                                      ("fp32", "bf16", "int8", "int8-bf16")), ("bf16",)),
}


def target_named(name: str, runtime: str = "openvino") -> Target:
    """A named target, or `ARCH:FEATURES:PRECISIONS` for any other class (its fp16/bf16 are gated)."""
    if name in TARGETS:
        return TARGETS[name]
    if ":" not in name:
        raise ValueError(f"unknown target {name!r}: known {sorted(TARGETS)}, or ARCH:FEATURE,...:PRECISION,... "
                         "(e.g. arm64:fp16,dotprod:fp32,fp16,int8)")
    device = parse_device_class(name)
    gated = tuple(p for p in device.precisions if p in EMULATED)
    if not gated:
        raise ValueError(f"target {name!r} lists no precision this machine can emulate ({sorted(EMULATED)})")
    return Target(name, runtime, device, gated)


class EmulatedCandidates:
    """Each stage's emulated graphs, run as fp32 graphs on onnxruntime (they carry their own rounding)."""

    def __init__(self, bundle: Bundle, files: Mapping[str, Mapping[str, Path]], threads: int | None) -> None:
        self.bundle, self.files, self.threads = bundle, files, threads

    def open(self, chosen: Mapping[str, str]) -> StageSessions:
        files = {stage: self.files[stage][c] for stage, c in chosen.items()}
        return StageSessions.open(self.bundle, "onnxruntime", "fp32", RuntimeOptions(threads=self.threads),
                                  files=files)


def _emulated_files(bundle: Bundle, stages: tuple[str, ...], precisions: tuple[str, ...],
                    work: Path) -> dict[str, dict[str, Path]]:
    """Each of `stages` (the family plan's, where the bundle has them) at each emulated precision."""
    work.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Path]] = {}
    for stage in (s for s in stages if s in bundle.stages):
        model = onnx.load(str(bundle.graph_path(stage, "fp32")))
        for precision in precisions:
            path = work / f"{stage}.{precision}.onnx"
            onnx.save(emulate_precision(model, precision), str(path))
            files.setdefault(stage, {})[precision] = path
    return files


def cross_calibrate(bundle_dir: str | Path, target: str, *, corpus: str | Path | None = None, seed: int = 0,
                    max_sentences: int | None = None, check_wer: bool = True, threads: int | None = None,
                    thresholds: GateThresholds | None = None, allow_duration_shift: bool = False,
                    progress: Say | None = None) -> dict[str, Any]:
    """Gate `target`'s float precisions by emulation and record the passing policy for its class, untimed.
    Raises CalibrationRefused (report attached) when no stage passes."""
    chosen_target = target_named(target)
    thresholds = thresholds or GateThresholds()
    if allow_duration_shift:
        thresholds = replace(thresholds, allow_duration_shift=True)
    say = progress or (lambda message: None)
    bundle_dir = Path(bundle_dir)
    key = f"{chosen_target.runtime}-{chosen_target.name.replace(':', '_').replace(',', '+')}"
    work = bundle_dir / "calibration" / f"emulated-{key}"
    method = f"emulated {'/'.join(chosen_target.precisions)} (rounded weights and tensors, fp32 accumulation)"
    try:
        with Voice.load(bundle_dir, threads=threads) as voice:
            plan = plan_of(voice)
            texts = read_texts(corpus, None, max_sentences, voice.manifest.language())
            say(f"emulating {', '.join(chosen_target.precisions)} for {chosen_target.device.name}")
            candidates = EmulatedCandidates(voice.bundle, _emulated_files(voice.bundle, plan.stages,
                                                                           chosen_target.precisions, work), threads)
            chosen, evaluations = _search(voice, candidates, texts.evaluation, seed, thresholds, check_wer, say)
            report = build_report(voice, chosen_target.runtime, texts, chosen, evaluations, {}, [], seed=seed,
                                  method=method, thresholds=thresholds)
        report.update(target=chosen_target.name, device=chosen_target.device.to_dict(), timed=False, emulated=True)
        write_reports(bundle_dir, key, report)
        if not report["result"]["reduced_stages"]:
            raise CalibrationRefused("no stage passed the quality gate at the target's precisions "
                                     f"({len(evaluations)} judged, emulated); see the calibration report", report)
        install(bundle_dir, chosen_target.runtime, {}, report["result"]["precisions"], seed=seed, method=method,
                device=chosen_target.device, passed=passed_alone(evaluations), timed=False, emulated=True,
                report=report_file(key))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _search(voice: Voice, candidates: EmulatedCandidates, sentences: list[str], seed: int,
            thresholds: GateThresholds, check_wer: bool, say: Say) -> tuple[dict[str, str], list[Evaluation]]:
    recognizer = recognizer_for(voice, check_wer, say)
    say(f"fp32 reference on {len(sentences)} held-out sentences")
    gate = Gate(voice, sentences, seed, thresholds, recognizer)

    def evaluate(name: str, chosen: dict[str, str]) -> Evaluation:
        with candidates.open(chosen) as sessions:
            return gate.evaluate(name, sessions, chosen)

    # No timing here (the host is not the device): every stage tries its precisions in the target's order.
    search = PolicySearch({stage: list(files) for stage, files in candidates.files.items()}, evaluate, say)
    return search.run(), search.evaluations
