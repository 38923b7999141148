"""Tacotron2 bundles: from a torch Tacotron2, or imported from NVIDIA DeepLearningExamples checkpoints
with, optionally, a WaveGlow or a DLE HiFi-GAN as the vocoder (without one the SDK vocodes the mel with
Griffin-Lim)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from voxport.bundle import contract as c_
from voxport.bundle import sha256_file
from voxport.bundle.manifest import Manifest
from voxport.bundle.mel_params import MelParams
from voxport.families.tacotron2.params import DecoderLoop, VocoderNoise

from ..bundle_writer import Progress, quiet, write_bundle
from ..errors import UnsupportedConfigError
from ..spec import GraphSpec
from .checkpoint_import import load_tacotron2_checkpoint
from .graphs import PRENET_KEEP_P, tacotron2_graph_specs
from .hifigan_dle import dle_hifigan_vocoder_spec, load_dle_hifigan
from .model import Tacotron2
from .symbols import SYMBOLS, phoneme_id_map, phonemizer_settings

# NVIDIA's audio (DLE's data arguments; the Tacotron2 checkpoint does not record them): 22050 Hz, an STFT
# of 1024 with hop 256 and a Hann window of 1024, 80 slaney mel bands over 0-8000 Hz, ln(clamp(mag, 1e-5)).
SAMPLE_RATE, HOP_LENGTH = 22050, 256
NVIDIA_MEL = MelParams(n_fft=1024, win_length=1024, n_mels=80, fmin=0.0, fmax=8000.0, log_base=math.e,
                       spec_gain=1.0)
# The same audio under the names of DLE HiFi-GAN's train_setup, to check a vocoder against.
DLE_AUDIO = {"sampling_rate": SAMPLE_RATE, "hop_length": HOP_LENGTH, "num_mels": 80, "filter_length": 1024,
             "win_length": 1024, "mel_fmin": 0.0, "mel_fmax": 8000.0}


def build_tacotron2_bundle(
    model: Tacotron2,
    out_dir: str | Path,
    *,
    name: str,
    source: dict[str, Any],
    vocoder: GraphSpec | None = None,
    vocoder_noise: VocoderNoise | None = None,
    decoder_loop: DecoderLoop | None = None,
    mel: MelParams = NVIDIA_MEL,
    extra: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the encoder, decoder_step and postnet graphs (and `vocoder`'s) with a manifest into `out_dir`.

    The manifest carries what the SDK's decoder loop needs: the stop gate's threshold and the step cap
    (by default the model's gate_threshold and max_decoder_steps), NVIDIA's prenet dropout probability,
    the vocoder's noise for a WaveGlow, the symbol table and the mel (for Griffin-Lim without a vocoder).
    """
    c = model.eval().config
    if c.n_symbols != len(SYMBOLS):
        raise UnsupportedConfigError(f"the embedding has {c.n_symbols} rows; NVIDIA's symbol set has {len(SYMBOLS)}")
    if mel.n_mels != c.n_mel_channels:
        raise UnsupportedConfigError(f"the mel has {mel.n_mels} bands, the model {c.n_mel_channels}")
    if (vocoder_noise is not None) != (vocoder is not None and any(t.name == c_.Z for t in vocoder.inputs)):
        raise ValueError("vocoder_noise goes with a vocoder that takes z (WaveGlow), and only with one")
    loop = decoder_loop or DecoderLoop(gate_threshold=c.gate_threshold, max_steps=c.max_decoder_steps,
                                       prenet_dropout=PRENET_KEEP_P)
    manifest = Manifest(
        family="tacotron2",
        name=name,
        sample_rate=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        graphs={},
        n_vocab=c.n_symbols,
        phoneme_id_map=phoneme_id_map(),
        phonemizer=phonemizer_settings(),
        source=dict(source),
        extra={"model_config": c.to_dict(), **(extra or {})},
        mel=mel,
        decoder_loop=loop,
        vocoder_noise=vocoder_noise,
    )
    return write_bundle(tacotron2_graph_specs(model, vocoder), out_dir, manifest, progress or quiet)


def _file_info(path: Path) -> dict[str, Any]:
    return {"file": path.name, "sha256": sha256_file(path)}


def _import_hifigan(path: Path, n_mel: int, say: Progress) -> tuple[Any, dict[str, Any]]:
    """A DLE HiFi-GAN's vocoder spec and what the manifest records of it."""
    say(f"importing DLE HiFi-GAN {path}")
    generator, config, _ = load_dle_hifigan(path, n_mel=n_mel, mel=DLE_AUDIO)
    if config.hop_length != HOP_LENGTH:
        raise UnsupportedConfigError(f"the HiFi-GAN upsamples by {config.hop_length}, the mel's hop is {HOP_LENGTH}")
    info = {"kind": "hifigan", "layout": "nvidia-dle", "config": config.to_dict(), **_file_info(path)}
    return dle_hifigan_vocoder_spec(generator, n_mel), info


def build_from_nvidia(
    tacotron2: str | Path,
    out_dir: str | Path,
    *,
    waveglow: str | Path | None = None,
    hifigan: str | Path | None = None,
    sigma: float | None = None,
    denoiser_strength: float | None = None,
    max_decoder_steps: int | None = None,
    name: str | None = None,
    license: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Import a DLE Tacotron2 checkpoint and, optionally, a DLE WaveGlow or HiFi-GAN (not both), then write
    the bundle. `sigma`, `denoiser_strength` (WaveGlow) and `max_decoder_steps` override the defaults."""
    say = progress or quiet
    if waveglow is not None and hifigan is not None:
        raise ValueError("give one vocoder: a WaveGlow or a HiFi-GAN, not both")
    tacotron2 = Path(tacotron2)
    say(f"importing NVIDIA Tacotron2 {tacotron2}")
    model, _ = load_tacotron2_checkpoint(tacotron2)
    n_mel = model.config.n_mel_channels
    vocoder, noise, info = None, None, {"kind": "griffin-lim"}
    if hifigan is not None:
        vocoder, info = _import_hifigan(Path(hifigan), n_mel, say)
    elif waveglow is not None:
        from ..waveglow import default_vocoder_noise, load_waveglow, waveglow_graph_spec

        waveglow = Path(waveglow)
        say(f"importing NVIDIA WaveGlow {waveglow}")
        module = load_waveglow(waveglow)
        vocoder = waveglow_graph_spec(module, n_mel)
        noise = default_vocoder_noise(module)
        overrides = {k: v for k, v in (("sigma", sigma), ("denoiser_strength", denoiser_strength)) if v is not None}
        noise = replace(noise, **overrides)
        info = {"kind": "waveglow", "layout": "nvidia-dle", **_file_info(waveglow)}
    if (sigma is not None or denoiser_strength is not None) and waveglow is None:
        raise ValueError("sigma and denoiser_strength are WaveGlow settings: they need a WaveGlow vocoder")
    loop = None
    if max_decoder_steps is not None:
        c = model.config
        loop = DecoderLoop(gate_threshold=c.gate_threshold, max_steps=max_decoder_steps, prenet_dropout=PRENET_KEEP_P)
    return build_tacotron2_bundle(
        model,
        out_dir,
        name=name or tacotron2.stem or "tacotron2",
        source={"kind": "nvidia-dle", **_file_info(tacotron2),
                "license": license or "unknown (see the checkpoint's license)", "origin": str(tacotron2)},
        vocoder=vocoder,
        vocoder_noise=noise,
        decoder_loop=loop,
        extra={"vocoder": info},
        progress=say,
    )
