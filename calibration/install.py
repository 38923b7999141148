"""The install step: copy the accepted graphs into the bundle and record the policy in its manifest."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from voxport.bundle import Bundle, GraphEntry, describe_graph_file, write_manifest
from voxport.bundle.manifest import Manifest
from voxport.bundle.policy import CalibrationPolicy
from voxport.calibration.report import report_file
from voxport.runtimes.device_class import DeviceClass, cpu_model, this_device

# A graph variant that only calibrated policies run: dropped from the manifest when no policy runs it any
# more. Float variants (bf16/fp16: exact rewrites such as polyphase upsampling, written by the build or by
# an earlier calibration) compute the fp32 function on any runtime, so they stay unless replaced.
CALIBRATED_VARIANTS = ("int8",)


def variant_of(precision: str) -> str:
    """The file variant a precision runs from: int8 with a bf16 remainder runs the int8 graph."""
    return "int8" if precision.startswith("int8") else precision


def _install_graph(bundle: Bundle, stage: str, source: Path | None, precision: str) -> GraphEntry:
    entry = bundle.graph(stage)
    variants = dict(entry.variants)
    variant = variant_of(precision)
    if source is None or variant == "fp32":
        return entry
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


def _kept(old: tuple[CalibrationPolicy, ...], new: CalibrationPolicy, before: Manifest,
          graphs: Mapping[str, GraphEntry]) -> list[CalibrationPolicy]:
    """The earlier policies that still hold beside `new`: not for the same runtime and device class, and
    every file variant they run unchanged by this install (an int8 graph quantized anew is another graph)."""
    def unchanged(policy: CalibrationPolicy) -> bool:
        for stage, precision in policy.precisions.items():
            variant = variant_of(precision)
            if variant != "fp32" and before.graphs[stage].variants.get(variant) != graphs[stage].variants.get(variant):
                return False
        return True

    return [p for p in old if not (p.runtime == new.runtime and p.device == new.device) and unchanged(p)]


def install(bundle_dir: Path, runtime: str, files: Mapping[str, Path], precisions: Mapping[str, str], *,
            seed: int, method: str, device: DeviceClass | None = None, passed: Mapping[str, list[str]] | None = None,
            timed: bool = True, emulated: bool = False, report: str | None = None) -> Manifest:
    """Copy `files` (stage -> accepted graph) in and record `precisions` for `precision="calibrated"` (or
    its older name "int8") on `runtime` and `device` (this machine's class when None).

    Policies for other device classes (and runtimes) stay beside it as long as the graphs they run are
    untouched; a stage's int8 graph is per runtime, so quantizing it anew drops the policies that ran the
    old one, and an int8 graph no remaining policy runs is dropped too.
    """
    bundle = Bundle.load(bundle_dir, verify=False)
    before = bundle.manifest
    device = device or this_device(runtime)
    graphs = {stage: _install_graph(bundle, stage, files.get(stage), precisions.get(stage, "fp32"))
              for stage in before.graphs}
    policy = CalibrationPolicy(precisions=dict(precisions), report=report or report_file(runtime), seed=seed,
                               method=method, runtime=runtime, device=device, machine=cpu_model(), timed=timed,
                               emulated=emulated, passed={s: list(p) for s, p in (passed or {}).items()})
    kept = _kept(before.calibration, policy, before, graphs)
    for stage, entry in graphs.items():  # a calibrated graph no remaining policy runs is dead weight
        used = {variant_of(p.precisions.get(stage, "fp32")) for p in [*kept, policy]}
        dead = [v for v in CALIBRATED_VARIANTS if v in entry.variants and v not in used]
        if dead:
            graphs[stage] = replace(entry, variants={k: v for k, v in entry.variants.items() if k not in dead})
    manifest = replace(before, graphs=graphs, calibration=(*kept, policy))
    write_manifest(bundle_dir, manifest)
    return manifest
