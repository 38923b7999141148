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
from voxport.manifest import DurationRule, MelParams

from .errors import UnsupportedConfigError
from .glowtts.graphs import glowtts_graph_specs
from .glowtts.model import GlowTTS
from .hifigan import MelVocoder
from .onnx_export import export_graph
from .spec import GraphSpec
from .vits.graphs import vits_graph_specs
from .vits.model import Vits

Progress = Callable[[str], None]

PIPER_MARKERS = {"pad": "_", "bos": "^", "eos": "$", "pad_after_bos": True}


def write_bundle(
    specs: dict[str, GraphSpec], out_dir: str | Path, manifest: Manifest, say: Progress
) -> Path:
    """Export and validate every graph, then write `manifest` (its graphs filled in) into `out_dir`.

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
        for i, (stage, spec) in enumerate(specs.items(), 1):
            say(f"[{i}/{len(specs)}] exporting and validating {stage}")
            path = work / f"{stage}.onnx"
            validation[stage] = export_graph(spec, path)
            graphs[stage] = GraphEntry(
                inputs=spec.inputs,
                outputs=spec.outputs,
                variants={"fp32": describe_graph_file(work, path.name)},
            )
        extra = {"created_by": f"voxport {__version__}", **manifest.extra, "max_abs_diff_vs_torch": validation}
        manifest = replace(manifest, graphs=graphs, extra=extra)
        write_manifest(work, manifest)
        say("measuring the decoder and vocoder receptive fields for streaming")
        streaming = _measure_streaming_context(work)
        write_manifest(work, replace(manifest, extra={**manifest.extra, "streaming": streaming}))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    say(f"bundle written to {out_dir}")
    return out_dir


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
    """Write the four VITS graphs and a manifest into `out_dir` (replaced atomically when done)."""
    model = model.eval()
    manifest = Manifest(
        family="vits",
        name=name,
        sample_rate=model.config.sample_rate,
        hop_length=model.config.hop_length,
        graphs={},
        phoneme_id_map={k: list(v) for k, v in phoneme_id_map.items()},
        phonemizer=dict(phonemizer),
        inference={k: float(v) for k, v in inference.items()},
        num_speakers=model.config.n_speakers,
        speaker_id_map=dict(speaker_id_map or {}),
        source=dict(source),
        extra={"model_config": model.config.to_dict()},
    )
    return write_bundle(vits_graph_specs(model), out_dir, manifest, progress or (lambda _msg: None))


def _measure_streaming_context(bundle_dir: Path) -> dict[str, int]:
    """Receptive fields of the exported graphs as run by the SDK (onnxruntime CPU fp32)."""
    from voxport.bundle import Bundle
    from voxport.receptive_field import measure_reach
    from voxport.runtimes import RuntimeOptions
    from voxport.stages import StageSessions

    bundle = Bundle.load(bundle_dir, verify=False)
    sessions = StageSessions.open(bundle, "cpu", "fp32", RuntimeOptions())
    try:
        m = bundle.manifest
        return measure_reach(sessions, m.hop_length, frame_multiple=m.frame_multiple).to_dict()
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



def build_glowtts_bundle(
    model: GlowTTS,
    out_dir: str | Path,
    *,
    name: str,
    phoneme_id_map: dict[str, list[int]],
    phonemizer: dict[str, Any],
    mel: MelParams,
    source: dict[str, Any],
    vocoder: MelVocoder | None = None,
    speaker_id_map: dict[str, int] | None = None,
    extra: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the GlowTTS graphs (and the mel vocoder's, if given) and a manifest into `out_dir`.

    The manifest carries what the SDK needs to run a GlowTTS like any other bundle: the duration rule
    (exp(logw) - 1, at least one frame), the frame multiple of the decoder's squeeze and the mel
    parameters (for Griffin-Lim when there is no vocoder graph).
    """
    c = model.eval().config
    manifest = Manifest(
        family="glowtts",
        name=name,
        sample_rate=c.sample_rate,
        hop_length=c.hop_length,
        graphs={},
        phoneme_id_map={k: list(v) for k, v in phoneme_id_map.items()},
        phonemizer=dict(phonemizer),
        inference={"noise_scale": c.inference_noise_scale, "length_scale": c.length_scale},
        num_speakers=c.n_speakers,
        speaker_id_map=dict(speaker_id_map or {}),
        source=dict(source),
        extra={"model_config": c.to_dict(), **(extra or {})},
        durations=DurationRule(offset=-1.0, min_frames=1),
        frame_multiple=c.num_squeeze,
        mel=mel,
    )
    return write_bundle(glowtts_graph_specs(model, vocoder), out_dir, manifest, progress or (lambda _msg: None))


def build_from_coqui(
    config_path: str | Path,
    checkpoint_path: str | Path,
    out_dir: str | Path,
    *,
    vocoder: tuple[str | Path, str | Path] | None = None,
    name: str | None = None,
    license: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Import a Coqui TTS GlowTTS (`config.json`, `model.pth`) and, optionally, a Coqui HiFi-GAN
    (its `config.json`, `model.pth`) and write the split bundle; without a vocoder, Griffin-Lim."""
    from .coqui_config import MelRenormalize, audio_config, check_vocoder_matches, mel_params
    from .glowtts.checkpoint_import import load_glowtts_checkpoint
    from .glowtts.vocabulary import phoneme_inputs
    from .hifigan import load_hifigan_checkpoint

    say = progress or (lambda _msg: None)
    config_path, checkpoint_path = Path(config_path), Path(checkpoint_path)
    say(f"importing Coqui GlowTTS {checkpoint_path}")
    model, coqui = load_glowtts_checkpoint(config_path, checkpoint_path)
    audio = audio_config(coqui)
    mel = mel_params(audio)
    if mel.n_mels != model.config.out_channels:
        raise UnsupportedConfigError(f"audio.num_mels {mel.n_mels} != out_channels {model.config.out_channels}")
    phoneme_id_map, phonemizer = phoneme_inputs(coqui, model.config.n_vocab)
    mel_vocoder, vocoder_info = None, {"kind": "griffin-lim"}
    if vocoder is not None:
        voc_config, voc_checkpoint = (Path(p) for p in vocoder)
        say(f"importing Coqui HiFi-GAN {voc_checkpoint}")
        generator, hifigan, voc_coqui = load_hifigan_checkpoint(voc_config, voc_checkpoint)
        voc_audio = audio_config(voc_coqui)
        check_vocoder_matches(audio, voc_audio)
        if hifigan.hop_length != model.config.hop_length or hifigan.in_channels != mel.n_mels:
            raise UnsupportedConfigError("the vocoder's upsampling or input channels do not fit the model's mel")
        renormalize = MelRenormalize(mel.normalization, mel_params(voc_audio).normalization)
        mel_vocoder = MelVocoder(generator, hifigan, renormalize)
        vocoder_info = {"kind": "hifigan", "config": hifigan.to_dict(), "file": voc_checkpoint.name,
                        "sha256": sha256_file(voc_checkpoint)}
    return build_glowtts_bundle(
        model,
        out_dir,
        name=name or checkpoint_path.parent.name or "glowtts",
        phoneme_id_map=phoneme_id_map,
        phonemizer=phonemizer,
        mel=mel,
        source={
            "kind": "coqui",
            "file": checkpoint_path.name,
            "sha256": sha256_file(checkpoint_path),
            "license": license or "unknown (see the model's license)",
            "origin": str(checkpoint_path),
        },
        vocoder=mel_vocoder,
        speaker_id_map=_coqui_speakers(coqui, model.config.n_speakers),
        extra={"vocoder": vocoder_info},
        progress=say,
    )


def _coqui_speakers(coqui: dict[str, Any], n_speakers: int) -> dict[str, int]:
    """Speaker names from the config's `speakers` list (Coqui numbers them in order), if it fits the table."""
    names = coqui.get("speakers") or []
    return {str(name): i for i, name in enumerate(names)} if len(names) == n_speakers > 1 else {}
