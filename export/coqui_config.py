"""Reading Coqui TTS configs: the JSON file, its `audio` section as voxport's mel parameters, and the
renormalization in front of a vocoder.

Coqui runs a vocoder on a TTS model's mel by denormalizing it with the model's audio config and
normalizing it again with the vocoder's (Synthesizer._run_vocoder). voxport bakes that step into the
vocoder graph, so the SDK passes the decoder's output to the vocoder unchanged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voxport.bundle.mel_params import MelNormalization, MelParams
from voxport.pipeline.mel import db_affine

from .errors import UnsupportedConfigError

# BaseAudioConfig's defaults, for configs that leave a field out.
DEFAULTS: dict[str, Any] = {
    "fft_size": 1024, "win_length": 1024, "hop_length": 256, "sample_rate": 22050, "num_mels": 80,
    "mel_fmin": 0.0, "mel_fmax": None, "log_func": "np.log10", "spec_gain": 20, "power": 1.5,
    "griffin_lim_iters": 60, "stft_pad_mode": "reflect", "signal_norm": True, "symmetric_norm": True,
    "max_norm": 4.0, "min_level_db": -100, "ref_level_db": 20, "clip_norm": True, "stats_path": None,
    "preemphasis": 0.0, "do_amp_to_db_mel": True,
}
# What a vocoder and the model feeding it must agree on (normalization may differ: it is converted).
MUST_MATCH = ("sample_rate", "hop_length", "fft_size", "win_length", "num_mels", "mel_fmin", "mel_fmax",
              "log_func", "spec_gain")


def read_json(config: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A Coqui `config.json` (path) or an already-parsed one."""
    if isinstance(config, Mapping):
        return dict(config)
    return json.loads(Path(config).read_text(encoding="utf-8"))


def audio_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `audio` section of a Coqui config with BaseAudioConfig's defaults filled in."""
    return {**DEFAULTS, **(config.get("audio") or {})}


def mel_params(audio: Mapping[str, Any]) -> MelParams:
    """voxport's description of the mel a Coqui audio config defines (refusing what it cannot invert)."""
    if audio.get("hop_length") is None:
        raise UnsupportedConfigError("audio.hop_length is not set (frame_shift_ms configs are not supported)")
    if audio["stats_path"] and audio["signal_norm"]:
        # Mean-variance statistics come as a pickled .npy, which voxport does not unpickle.
        raise UnsupportedConfigError("mean-variance normalization (audio.stats_path) is not supported")
    if audio["preemphasis"]:
        raise UnsupportedConfigError("audio.preemphasis is not supported")
    if not audio["do_amp_to_db_mel"]:
        raise UnsupportedConfigError("linear-amplitude mels (audio.do_amp_to_db_mel false) are not supported")
    bases = {"np.log10": 10.0, "np.log": math.e}
    if audio["log_func"] not in bases:
        raise UnsupportedConfigError(f"audio.log_func {audio['log_func']!r} is not one of {list(bases)}")
    norm = MelNormalization()
    if audio["signal_norm"]:
        norm = MelNormalization(
            kind="range", symmetric=bool(audio["symmetric_norm"]), max_norm=float(audio["max_norm"]),
            min_level_db=float(audio["min_level_db"]), ref_level_db=float(audio["ref_level_db"]),
            clip=bool(audio["clip_norm"]),
        )
    return MelParams(
        n_fft=int(audio["fft_size"]),
        win_length=int(audio["win_length"]),
        n_mels=int(audio["num_mels"]),
        fmin=float(audio["mel_fmin"] or 0.0),
        fmax=None if audio["mel_fmax"] is None else float(audio["mel_fmax"]),
        log_base=bases[audio["log_func"]],
        spec_gain=float(audio["spec_gain"]),
        power=float(audio["power"]),
        griffin_lim_iters=int(audio["griffin_lim_iters"]),
        pad_mode=str(audio["stft_pad_mode"]),
        normalization=norm,
    )


def check_vocoder_matches(model_audio: Mapping[str, Any], vocoder_audio: Mapping[str, Any]) -> None:
    """Refuse a vocoder trained on different mels (Coqui would resample; voxport does not)."""
    differ = [k for k in MUST_MATCH if model_audio[k] != vocoder_audio[k]]
    if differ:
        pairs = ", ".join(f"{k}: model {model_audio[k]!r}, vocoder {vocoder_audio[k]!r}" for k in differ)
        raise UnsupportedConfigError(f"the vocoder was trained on different mel spectrograms ({pairs})")


class MelRenormalize(nn.Module):
    """The model's normalized mel -> the vocoder's: denormalize to dB, normalize again (no-op if equal)."""

    def __init__(self, source: MelNormalization, target: MelNormalization) -> None:
        super().__init__()
        self.identity = source == target
        s_in, o_in, self.clip_in = db_affine(source)
        s_out, o_out, self.clip_out = db_affine(target)
        self.scale, self.offset = s_in / s_out, (o_in - o_out) / s_out

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return mel
        if self.clip_in is not None:
            mel = torch.clamp(mel, *self.clip_in)
        mel = mel * self.scale + self.offset
        return mel if self.clip_out is None else torch.clamp(mel, *self.clip_out)
