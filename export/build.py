"""Build a voxport bundle: export every graph of a model, validate it, hash it, write the manifest."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from voxport import __version__
from voxport.bundle import GraphEntry, Manifest, describe_graph_file, sha256_file, write_manifest

from .onnx_export import export_graph
from .vits.graphs import vits_graph_specs
from .vits.model import Vits

Progress = Callable[[str], None]

PIPER_MARKERS = {"pad": "_", "bos": "^", "eos": "$", "pad_after_bos": True}


def build_vits_bundle(
    model: Vits,
    out_dir: str | Path,
    *,
    name: str,
    phoneme_id_map: dict[str, list[int]],
    phonemizer: dict[str, Any],
    inference: dict[str, float],
    source: dict[str, Any],
    speaker_id_map: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the four VITS graphs and a manifest into `out_dir` (replaced atomically when done).

    The bundle is assembled in a sibling temporary directory so that an interrupted build never
    leaves a half-written bundle where a previous good one stood.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    model = model.eval()
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as tmp:
        work = Path(tmp) / "bundle"
        work.mkdir()
        graphs: dict[str, GraphEntry] = {}
        validation: dict[str, float] = {}
        specs = vits_graph_specs(model)
        for i, (stage, spec) in enumerate(specs.items(), 1):
            say(f"[{i}/{len(specs)}] exporting and validating {stage}")
            path = work / f"{stage}.onnx"
            validation[stage] = export_graph(spec, path)
            graphs[stage] = GraphEntry(
                inputs=spec.inputs,
                outputs=spec.outputs,
                variants={"fp32": describe_graph_file(work, path.name)},
            )
        manifest = Manifest(
            family="vits",
            name=name,
            sample_rate=model.config.sample_rate,
            hop_length=model.config.hop_length,
            graphs=graphs,
            phoneme_id_map={k: list(v) for k, v in phoneme_id_map.items()},
            phonemizer=dict(phonemizer),
            inference={k: float(v) for k, v in inference.items()},
            num_speakers=model.config.n_speakers,
            speaker_id_map=dict(speaker_id_map or {}),
            source=dict(source),
            extra={
                "created_by": f"voxport {__version__}",
                "model_config": model.config.to_dict(),
                "max_abs_diff_vs_torch": validation,
            },
        )
        write_manifest(work, manifest)
        say("measuring the decoder and vocoder receptive fields for streaming")
        streaming = _measure_streaming_context(work)
        write_manifest(work, replace(manifest, extra={**manifest.extra, "streaming": streaming}))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    say(f"bundle written to {out_dir}")
    return out_dir


def _measure_streaming_context(bundle_dir: Path) -> dict[str, int]:
    """Receptive fields of the exported graphs as run by the SDK (onnxruntime CPU fp32)."""
    from voxport.bundle import Bundle
    from voxport.receptive_field import measure_reach
    from voxport.runtimes import RuntimeOptions
    from voxport.stages import StageSessions

    bundle = Bundle.load(bundle_dir, verify=False)
    sessions = StageSessions.open(bundle, "cpu", "fp32", RuntimeOptions())
    try:
        return measure_reach(sessions, bundle.manifest.hop_length).to_dict()
    finally:
        sessions.close()


def build_from_piper(
    onnx_path: str | Path,
    out_dir: str | Path,
    *,
    config_path: str | Path | None = None,
    license: str | None = None,
    origin: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Import a Piper voice (`.onnx` + `.onnx.json`) and write its split bundle."""
    from .vits.piper_import import load_piper_voice

    onnx_path = Path(onnx_path)
    say = progress or (lambda _msg: None)
    say(f"importing Piper voice {onnx_path.name}")
    model, piper = load_piper_voice(onnx_path, config_path)
    voice = piper.get("espeak", {}).get("voice", "en-us")
    name = onnx_path.name.removesuffix(".onnx")
    inference = piper.get("inference", {})
    return build_vits_bundle(
        model,
        out_dir,
        name=name,
        phoneme_id_map=piper["phoneme_id_map"],
        phonemizer={"type": piper.get("phoneme_type", "espeak"), "voice": voice, **PIPER_MARKERS},
        inference={
            "noise_scale": inference.get("noise_scale", 0.667),
            "length_scale": inference.get("length_scale", 1.0),
            "noise_w": inference.get("noise_w", 0.8),
        },
        source={
            "kind": "piper",
            "file": onnx_path.name,
            "sha256": sha256_file(onnx_path),
            "license": license or "unknown (see the voice's MODEL_CARD)",
            "origin": origin or str(onnx_path),
        },
        speaker_id_map=piper.get("speaker_id_map") or {},
        progress=say,
    )

