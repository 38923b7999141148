"""The install step: copy the accepted graphs into the bundle and record the policy in its manifest."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from voxport.bundle import Bundle, GraphEntry, describe_graph_file, write_manifest
from voxport.bundle.manifest import CalibrationPolicy, Manifest
from voxport.calibration.report import report_file

# int8 graphs are made for one runtime: an earlier calibration's are dropped before installing anew.
# Float variants (bf16/fp16: exact rewrites such as polyphase upsampling, written by the build or by an
# earlier calibration) compute the fp32 function on any runtime, so they stay unless replaced.
CALIBRATED_VARIANTS = ("int8",)


def variant_of(precision: str) -> str:
    """The file variant a precision runs from: int8 with a bf16 remainder runs the int8 graph."""
    return "int8" if precision.startswith("int8") else precision


def _install_graph(bundle: Bundle, stage: str, source: Path | None, precision: str) -> GraphEntry:
    entry = bundle.graph(stage)
    variants = {k: v for k, v in entry.variants.items() if k not in CALIBRATED_VARIANTS}
    if source is None:
        return replace(entry, variants=variants)
    variant = variant_of(precision)
    if variant == "fp32":
        return replace(entry, variants=variants)
    if source.resolve() == bundle.graph_path(stage, "fp32").resolve():
        # The candidate was the fp32 file itself, compiled at `precision`: run it as it was timed, from
        # the fp32 file the runtime falls back to, not from a rewrite the build left under this name.
        variants.pop(variant, None)
    else:
        relative = f"{variant}/{stage}.onnx"
        target = bundle.root / relative
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
        variants[variant] = describe_graph_file(bundle.root, relative)
    return replace(entry, variants=variants)


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
