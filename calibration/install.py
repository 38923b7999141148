"""The install step: copy the accepted graphs into the bundle and record the policy in its manifest."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from voxport.bundle import Bundle, GraphEntry, describe_graph_file, write_manifest
from voxport.calibration.report import report_file
from voxport.manifest import CalibrationPolicy, Manifest

# Variants a calibration writes (int8 graphs; float graphs rewritten for bf16/fp16, such as polyphase
# upsampling); one from an earlier calibration is dropped before installing anew.
CALIBRATED_VARIANTS = ("int8", "bf16", "fp16")


def variant_of(precision: str) -> str:
    """The file variant a precision runs from: int8 with a bf16 remainder runs the int8 graph."""
    return "int8" if precision.startswith("int8") else precision


def _install_graph(bundle: Bundle, stage: str, source: Path | None, precision: str) -> GraphEntry:
    entry = bundle.graph(stage)
    variants = {k: v for k, v in entry.variants.items() if k not in CALIBRATED_VARIANTS}
    # A candidate that is the fp32 file itself (OpenVINO compiles bf16 from it) needs no copy:
    # the runtime falls back to the fp32 file for a precision it compiles.
    if source is not None and source.resolve() != bundle.graph_path(stage, "fp32").resolve():
        variant = variant_of(precision)
        relative = f"{variant}/{stage}.onnx"
        target = bundle.root / relative
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
        variants[variant] = describe_graph_file(bundle.root, relative)
    return GraphEntry(entry.inputs, entry.outputs, variants)


def install(bundle_dir: Path, runtime: str, files: Mapping[str, Path], precisions: Mapping[str, str], *,
            seed: int, method: str) -> Manifest:
    """Copy `files` (stage -> accepted graph) in and record `precisions` for `precision="calibrated"` (or
    its older name "int8") on `runtime`.

    A bundle holds one calibrated set: the int8 (and rewritten bf16) graphs of the runtime calibrated
    last, since the runtimes need different graphs; another runtime's record is dropped with them.
    """
    bundle = Bundle.load(bundle_dir, verify=False)
    graphs = {stage: _install_graph(bundle, stage, files.get(stage), precisions.get(stage, "fp32"))
              for stage in bundle.manifest.graphs}
    policy = CalibrationPolicy(precisions=dict(precisions), report=report_file(runtime), seed=seed, method=method)
    manifest = replace(bundle.manifest, graphs=graphs, calibration={runtime: policy})
    write_manifest(bundle_dir, manifest)
    return manifest
