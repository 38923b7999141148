"""Static-shape copies of a bundle's graphs, one per bucket, for devices that compile nothing else
(OpenVINO NPU and most edge NPUs). Each copy is the fp32 graph with every dynamic dimension fixed:
batch 1, the time axis at the bucket, audio samples at bucket x hop."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import onnx
from onnx.tools.update_model_dims import update_inputs_outputs_dims

from voxport.bundle import Bundle, describe_graph_file, write_manifest
from voxport.bundle import contract as c
from voxport.bundle.manifest import GraphEntry, static_variant
from voxport.runtimes import ShapePlan
from voxport.runtimes.specs import TensorSpec

PHONEME_STAGES = (c.ENCODER, c.DURATION)


def _static_dims(spec: TensorSpec, size: int, hop: int) -> list[int]:
    fixed = {c.BATCH: 1, c.PHONEMES: size, c.FRAMES: size, c.SAMPLES: size * hop}
    return [fixed[d] if isinstance(d, str) else d for d in spec.shape]


def static_graph(path: Path, entry: GraphEntry, size: int, hop: int) -> onnx.ModelProto:
    """The graph at `path` with its inputs and outputs fixed at `size` along their time axis."""
    model = onnx.load(str(path))
    model = update_inputs_outputs_dims(model, {t.name: _static_dims(t, size, hop) for t in entry.inputs},
                                       {t.name: _static_dims(t, size, hop) for t in entry.outputs})
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def add_static_graphs(bundle_dir: str | Path, plan: ShapePlan | None = None) -> dict[str, list[int]]:
    """Write static graphs for every bucket of `plan` (default: ShapePlan()) into the bundle and record
    them as variants ``fp32@<size>`` with the plan as the bundle's `shapes`; stage -> sizes written.

    A vocoder without a frame_mask input cannot be padded, so it gets no static copies.
    """
    bundle_dir = Path(bundle_dir)
    bundle = Bundle.load(bundle_dir)
    manifest, plan = bundle.manifest, plan or ShapePlan()
    graphs, written = {}, {}
    for stage, entry in manifest.graphs.items():
        variants = {k: v for k, v in entry.variants.items() if "@" not in k}
        if stage == c.VOCODER and c.FRAME_MASK not in {t.name for t in entry.inputs}:
            graphs[stage] = replace(entry, variants=variants)
            continue
        sizes = plan.phoneme_buckets if stage in PHONEME_STAGES else plan.frame_buckets
        sizes = [s for s in sizes if s % (manifest.frame_multiple if stage == c.DECODER else 1) == 0]
        for size in sizes:
            file = f"static/{stage}.{size}.onnx"
            (bundle_dir / "static").mkdir(exist_ok=True)
            onnx.save(static_graph(bundle.graph_path(stage), entry, size, manifest.hop_length), str(bundle_dir / file))
            variants[static_variant("fp32", size)] = describe_graph_file(bundle_dir, file)
        graphs[stage] = replace(entry, variants=variants)
        written[stage] = sizes
    write_manifest(bundle_dir, replace(manifest, graphs=graphs, shapes=plan))
    return written
