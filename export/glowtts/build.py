"""GlowTTS bundles: from a torch GlowTTS, or imported from a Coqui TTS checkpoint with, optionally, a
Coqui HiFi-GAN as the vocoder (without one the SDK vocodes with Griffin-Lim)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voxport.bundle import sha256_file
from voxport.bundle.manifest import DurationRule, Manifest
from voxport.bundle.mel_params import MelParams
from voxport.synthesis import Scales

from ..bundle_writer import Progress, quiet, write_bundle
from ..coqui_config import MelRenormalize, audio_config, check_vocoder_matches, mel_params
from ..errors import UnsupportedConfigError
from ..hifigan import MelVocoder, load_hifigan_checkpoint
from .checkpoint_import import load_glowtts_checkpoint
from .graphs import glowtts_graph_specs
from .model import GlowTTS
from .vocabulary import phoneme_inputs


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
    parameters (for Griffin-Lim when there is no vocoder graph). `extra` is informational only.
    """
    c = model.eval().config
    manifest = Manifest(
        family="glowtts",
        name=name,
        sample_rate=c.sample_rate,
        hop_length=c.hop_length,
        graphs={},
        n_vocab=c.n_vocab,
        phoneme_id_map={k: list(v) for k, v in phoneme_id_map.items()},
        phonemizer=dict(phonemizer),
        inference=Scales(length_scale=c.length_scale, noise_scale=c.inference_noise_scale),
        num_speakers=c.n_speakers,
        speaker_id_map=dict(speaker_id_map or {}),
        source=dict(source),
        extra={"model_config": c.to_dict(), **(extra or {})},
        durations=DurationRule(offset=-1.0, min_frames=1),
        frame_multiple=c.num_squeeze,
        mel=mel,
    )
    return write_bundle(glowtts_graph_specs(model, vocoder), out_dir, manifest, progress or quiet)


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
    say = progress or quiet
    config_path, checkpoint_path = Path(config_path), Path(checkpoint_path)
    say(f"importing Coqui GlowTTS {checkpoint_path}")
    model, coqui = load_glowtts_checkpoint(config_path, checkpoint_path)
    mel = mel_params(audio_config(coqui))
    if mel.n_mels != model.config.out_channels:
        raise UnsupportedConfigError(f"audio.num_mels {mel.n_mels} != out_channels {model.config.out_channels}")
    phoneme_id_map, phonemizer = phoneme_inputs(coqui, model.config.n_vocab)
    mel_vocoder, vocoder_info = None, {"kind": "griffin-lim"}
    if vocoder is not None:
        mel_vocoder, vocoder_info = _coqui_vocoder(*vocoder, model=model, coqui=coqui, say=say)
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


def _coqui_vocoder(config_path: str | Path, checkpoint_path: str | Path, *, model: GlowTTS,
                   coqui: dict[str, Any], say: Progress) -> tuple[MelVocoder, dict[str, Any]]:
    """A Coqui HiFi-GAN wrapped to take the model's mel (renormalized if it was trained on another
    normalization), and its description for the manifest's informational `extra`."""
    checkpoint_path = Path(checkpoint_path)
    say(f"importing Coqui HiFi-GAN {checkpoint_path}")
    generator, hifigan, voc_coqui = load_hifigan_checkpoint(Path(config_path), checkpoint_path)
    audio, voc_audio = audio_config(coqui), audio_config(voc_coqui)
    check_vocoder_matches(audio, voc_audio)
    mel = mel_params(audio)
    if hifigan.hop_length != model.config.hop_length or hifigan.in_channels != mel.n_mels:
        raise UnsupportedConfigError("the vocoder's upsampling or input channels do not fit the model's mel")
    renormalize = MelRenormalize(mel.normalization, mel_params(voc_audio).normalization)
    info = {"kind": "hifigan", "config": hifigan.to_dict(), "file": checkpoint_path.name,
            "sha256": sha256_file(checkpoint_path)}
    return MelVocoder(generator, hifigan, renormalize), info


def _coqui_speakers(coqui: dict[str, Any], n_speakers: int) -> dict[str, int]:
    """Speaker names from the config's `speakers` list (Coqui numbers them in order), if it fits the table."""
    names = coqui.get("speakers") or []
    return {str(name): i for i, name in enumerate(names)} if len(names) == n_speakers > 1 else {}
