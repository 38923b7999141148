"""VITS bundles: from a torch Vits, or imported from a Piper voice (`voice.onnx` + `voice.onnx.json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voxport.bundle import sha256_file
from voxport.bundle.manifest import Manifest
from voxport.synthesis import Scales
from voxport.text.phoneme_ids import ESPEAK

from ..bundle_writer import Progress, quiet, write_bundle
from .graphs import vits_graph_specs, vits_unmasked_specs
from .model import Vits
from .piper_import import check_phoneme_type, load_piper_voice, piper_scales

# Piper's marker symbols for the SDK's phoneme-id mapping (piper-tts 1.8.0 puts a pad right after bos).
PIPER_MARKERS = {"pad": "_", "bos": "^", "eos": "$", "pad_after_bos": True}


def build_vits_bundle(
    model: Vits,
    out_dir: str | Path,
    *,
    name: str,
    phoneme_id_map: dict[str, list[int]],
    phonemizer: dict[str, Any],
    inference: Scales,
    source: dict[str, Any],
    speaker_id_map: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the four VITS graphs, the vocoder's unmasked copy and a manifest into `out_dir` (replaced
    atomically when done)."""
    # Every VITS bundle passes here, not only imported Piper voices: none may promise a type no front-end reads.
    check_phoneme_type(phonemizer.get("type", ESPEAK), f"the phonemizer of {name!r}")
    model = model.eval()
    c = model.config
    manifest = Manifest(
        family="vits",
        name=name,
        sample_rate=c.sample_rate,
        hop_length=c.hop_length,
        graphs={},
        n_vocab=c.n_vocab,
        phoneme_id_map={k: list(v) for k, v in phoneme_id_map.items()},
        phonemizer=dict(phonemizer),
        inference=inference,
        num_speakers=c.n_speakers,
        speaker_id_map=dict(speaker_id_map or {}),
        source=dict(source),
        extra={"model_config": c.to_dict()},
    )
    return write_bundle(vits_graph_specs(model), out_dir, manifest, progress or quiet,
                        unmasked=vits_unmasked_specs(model))


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
    onnx_path = Path(onnx_path)
    say = progress or quiet
    say(f"importing Piper voice {onnx_path.name}")
    model, piper = load_piper_voice(onnx_path, config_path)
    voice = piper.get("espeak", {}).get("voice", "en-us")
    return build_vits_bundle(
        model,
        out_dir,
        name=onnx_path.name.removesuffix(".onnx"),
        phoneme_id_map=piper["phoneme_id_map"],
        phonemizer={"type": piper.get("phoneme_type", ESPEAK), "voice": voice, **PIPER_MARKERS},
        inference=piper_scales(piper.get("inference", {})),
        source={
            "kind": "piper",
            "file": onnx_path.name,
            "sha256": sha256_file(onnx_path),
            "license": license or "unknown (see the voice's MODEL_CARD)",
            "origin": origin or str(onnx_path),
            **({"quality": q} if (q := (piper.get("audio") or {}).get("quality")) else {}),
        },
        speaker_id_map=piper.get("speaker_id_map") or {},
        progress=say,
    )
