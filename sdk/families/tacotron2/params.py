"""What an autoregressive (Tacotron2) bundle's manifest says about running it: the decoder loop's stop
rule and prenet dropout (`decoder_loop`), and the vocoder's noise and denoiser (`vocoder_noise`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from voxport.bundle.fields import JsonObject, ManifestPath, fail


@dataclass(frozen=True)
class DecoderLoop:
    """The host side of Tacotron2's decoder: it stops after the first frame whose sigmoid(gate_logit)
    exceeds `gate_threshold`, or after `max_steps` frames (with a warning). Prenet dropout stays on at
    inference, as the model was trained: each step's mask keeps a unit with probability 1 - p and scales
    it by 1 / (1 - p); the SDK draws the masks from the seed."""

    gate_threshold: float = 0.5
    max_steps: int = 2000
    prenet_dropout: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.gate_threshold < 1.0:
            raise ValueError(f"gate_threshold must lie in (0, 1), got {self.gate_threshold}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if not 0.0 <= self.prenet_dropout < 1.0:
            raise ValueError(f"prenet_dropout must lie in [0, 1), got {self.prenet_dropout}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "decoder_loop") -> DecoderLoop:
        o = JsonObject(d, field, manifest_path, {f.name for f in fields(cls)})
        try:
            return cls(gate_threshold=o.number("gate_threshold", 0.5), max_steps=o.integer("max_steps", 1, 2000),
                       prenet_dropout=o.number("prenet_dropout", 0.5))
        except ValueError as exc:
            fail(manifest_path, field, str(exc))


@dataclass(frozen=True)
class VocoderNoise:
    """A vocoder that samples (WaveGlow): z has `z_channels` x `steps_per_frame` standard normal values per
    mel frame, drawn frame by frame so any window's z is a slice of the utterance's, scaled by `sigma`.
    `denoiser_strength` times the vocoder's bias spectrum is subtracted inside the graph (0: off)."""

    sigma: float = 0.6
    z_channels: int = 8
    steps_per_frame: int = 32
    denoiser_strength: float = 0.01

    def __post_init__(self) -> None:
        if self.sigma < 0 or self.denoiser_strength < 0:
            raise ValueError(f"sigma and denoiser_strength must be >= 0, got {self.sigma}, {self.denoiser_strength}")
        if self.z_channels < 1 or self.steps_per_frame < 1:
            raise ValueError("z_channels and steps_per_frame must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "vocoder_noise") -> VocoderNoise:
        o = JsonObject(d, field, manifest_path, {f.name for f in fields(cls)})
        try:
            return cls(sigma=o.number("sigma", 0.6), z_channels=o.integer("z_channels", 1, 8),
                       steps_per_frame=o.integer("steps_per_frame", 1, 32),
                       denoiser_strength=o.number("denoiser_strength", 0.01))
        except ValueError as exc:
            fail(manifest_path, field, str(exc))
