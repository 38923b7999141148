"""Write a voxport bundle from any model family: export and validate each graph, hash it, record the
streaming reach and write the manifest, then move the finished bundle into place."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from voxport import __version__, progress
from voxport.bundle import contract as c
from voxport.bundle import describe_graph_file, write_manifest
from voxport.bundle.manifest import GraphEntry, Manifest, unmasked_variant
from voxport.pipeline.reach import measure_bundle_reach

from .onnx_export import export_graph
from .spec import GraphSpec

Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """A Progress that reports nothing."""


def _with_polyphase_variants(work: Path, entry: GraphEntry) -> GraphEntry:
    """The vocoder's bf16/fp16 variants: its upsampling ConvTranspose rewritten as an exact polyphase Conv.

    Compiled at bf16, OpenVINO runs ConvTranspose as a slow GEMM: the rewrite ran the bf16 vocoder in
    0.59x the time on a 2-core AVX-512 VNNI/BF16 CPU and 0.64x on a 2-core AMD EPYC (AVX-512 BF16, no AMX).
    onnxruntime keeps the fp32 file, where the rewrite measured slower.
    """
    import onnx

    from voxport.calibration.rewrite import polyphase_upsampling

    original = onnx.load(str(work / entry.variants["fp32"].file))
    rewritten = polyphase_upsampling(original)
    if len(rewritten.graph.node) == len(original.graph.node):
        return entry
    (work / "polyphase").mkdir(exist_ok=True)
    onnx.save(rewritten, str(work / "polyphase" / "vocoder.onnx"))
    variant = describe_graph_file(work, "polyphase/vocoder.onnx")
    return replace(entry, variants={**entry.variants, "bf16": variant, "fp16": variant})


def _unmasked_copy(work: Path, stage: str, spec: GraphSpec, entry: GraphEntry) -> tuple[GraphEntry, float]:
    """Export `spec` (the stage's module without frame_mask) as the entry's unmasked fp32 variant.

    The copy is opened in place of the masked file, declaring the entry's inputs minus frame_mask, so
    its signature must be exactly that; it is validated against torch like every graph.
    """
    expected = tuple(t for t in entry.inputs if t.name != c.FRAME_MASK)
    if len(expected) == len(entry.inputs) or spec.inputs != expected or spec.outputs != entry.outputs:
        raise ValueError(f"{stage}: an unmasked copy must take the masked graph's inputs minus {c.FRAME_MASK!r} "
                         f"and give its outputs; got {[t.name for t in spec.inputs]} -> "
                         f"{[t.name for t in spec.outputs]}, masked {[t.name for t in entry.inputs]}")
    (work / "unmasked").mkdir(exist_ok=True)
    file = f"unmasked/{stage}.onnx"
    diff = export_graph(spec, work / file)
    variants = {**entry.variants, unmasked_variant("fp32"): describe_graph_file(work, file)}
    return replace(entry, variants=variants), diff


def write_bundle(specs: dict[str, GraphSpec], out_dir: str | Path, manifest: Manifest,
                 say: Progress = quiet, *, unmasked: Mapping[str, GraphSpec] | None = None) -> Path:
    """Export and validate every graph, then write `manifest` (its graphs and streaming reach filled in)
    into `out_dir`. `unmasked` maps a stage whose graph takes frame_mask to the same module without it:
    written as that stage's `unmasked_variant("fp32")`, for calls that are never padded.

    The bundle is assembled in a sibling temporary directory and renamed into place when complete, so
    an interrupted build never leaves a half-written bundle where a previous good one stood.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as tmp:
        work = Path(tmp) / "bundle"
        work.mkdir()
        graphs: dict[str, GraphEntry] = {}
        validation: dict[str, float] = {}
        # One step per graph exported and validated, one for the reach: the steps of the bundle's progress.
        total = len(specs) + len(unmasked or {}) + 1
        progress.stage(say, "writing the bundle", total)
        for i, (stage, spec) in enumerate(specs.items()):
            progress.step(say, i, total, f"exporting and validating {stage}")
            path = work / f"{stage}.onnx"
            validation[stage] = export_graph(spec, path)
            graphs[stage] = GraphEntry(inputs=spec.inputs, outputs=spec.outputs,
                                       variants={"fp32": describe_graph_file(work, path.name)}, hints=dict(spec.hints))
        for j, (stage, spec) in enumerate((unmasked or {}).items(), len(specs)):
            progress.step(say, j, total, f"exporting and validating the {stage}'s unmasked copy")
            graphs[stage], validation[f"{stage}:unmasked"] = _unmasked_copy(work, stage, spec, graphs[stage])
        if c.VOCODER in graphs:
            graphs[c.VOCODER] = _with_polyphase_variants(work, graphs[c.VOCODER])
        extra = {"created_by": f"voxport {__version__}", **manifest.extra, "max_abs_diff_vs_torch": validation}
        manifest = replace(manifest, graphs=graphs, extra=extra)
        # The reach is measured on the bundle as the SDK loads it, so the manifest must be on disk first.
        write_manifest(work, manifest)
        progress.step(say, total - 1, total, "measuring the decoder (or postnet) and vocoder receptive fields")
        write_manifest(work, replace(manifest, streaming=measure_bundle_reach(work)))
        progress.step(say, total, total)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    say(f"bundle written to {out_dir}")
    return out_dir
