"""What a caller may set per synthesis, and the defaults it falls back to, in one place.

`SynthesisConfig` leaves every field None by default: None means "the voice's own value", which comes
from the bundle's manifest (`inference`), and only when a voice records none from `DEFAULT_SCALES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEFAULT_SENTENCE_SILENCE = 0.2  # seconds between sentences, as Piper


@dataclass(frozen=True)
class Scales:
    """The three inference scales of a VITS-like model (GlowTTS uses length and noise only)."""

    length_scale: float = 1.0
    noise_scale: float = 0.667
    noise_w: float = 0.8

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{f.name} must be a finite number, got {v!r}")
            object.__setattr__(self, f.name, float(v))
        if not self.length_scale > 0:
            raise ValueError(f"length_scale must be > 0, got {self.length_scale}")
        if self.noise_scale < 0 or self.noise_w < 0:
            raise ValueError("noise_scale and noise_w must be >= 0")

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_SCALES = Scales()


@dataclass(frozen=True)
class SynthesisConfig:
    """Per-call settings; None = the voice's default. Reusable across calls and threads (immutable).

    `seed` fixes the random draws (same seed, same audio); `speaker` is a name or an id of a
    multi-speaker voice; `volume` is a fixed gain (audio is never peak-normalized).

    Which knobs a voice reads depends on its family. VITS and GlowTTS: the three scales. Tacotron2
    (autoregressive, voxport.families.tacotron2.loop) has no duration predictor and no prior noise, so the
    scales do nothing there (a voice warns once if they are set); its random draws are the prenet
    dropout masks and WaveGlow's z, both from `seed`. `sigma` scales WaveGlow's z (None: the manifest's
    vocoder_noise.sigma; NVIDIA's scripts use 0.6-0.9); `decoder_steps` runs exactly that many decoder
    steps per sentence with the stop gate ignored (benchmarks of random-weight models, replays).
    """

    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    seed: int | None = None
    speaker: int | str | None = None
    volume: float = 1.0
    sigma: float | None = None
    decoder_steps: int | None = None
    # A family's own settings, by the names it declares (`Family.options`): a voice blend, a voice prompt,
    # sampling parameters. Voice methods take them as keywords like the fields above.
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.volume, bool) or not isinstance(self.volume, (int, float)) or not (
                math.isfinite(self.volume) and self.volume >= 0):
            raise ValueError(f"volume must be a finite number >= 0, got {self.volume!r}")
        if self.sigma is not None and (isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float))
                                       or not (math.isfinite(self.sigma) and self.sigma >= 0)):
            raise ValueError(f"sigma must be a finite number >= 0, got {self.sigma!r}")
        if self.decoder_steps is not None and (isinstance(self.decoder_steps, bool)
                                               or not isinstance(self.decoder_steps, int) or self.decoder_steps < 1):
            raise ValueError(f"decoder_steps must be a whole number >= 1, got {self.decoder_steps!r}")

    @classmethod
    def of(cls, config: SynthesisConfig | None = None, *, family_options: frozenset[str] = frozenset(),
           **overrides: Any) -> SynthesisConfig:
        """`config` (or the defaults) with keyword overrides; None-valued overrides are ignored, so a
        caller can pass its own optional arguments straight through. Keywords named in `family_options`
        (the voice's family's own settings) go to `options`."""
        known = {f.name for f in fields(cls)} - {"options"}
        unknown = sorted(set(overrides) - known - family_options)
        if unknown:
            raise TypeError(f"unknown synthesis setting(s) {unknown}; known: {sorted(known | family_options)}")
        base = config if config is not None else cls()
        given = {k: v for k, v in overrides.items() if v is not None}
        options = {k: given.pop(k) for k in list(given) if k in family_options}
        if options:
            given["options"] = {**base.options, **options}
        return replace(base, **given)

    def scales(self, defaults: Scales) -> Scales:
        """The scales to run with: this config's where set, else the voice's `defaults`."""
        return Scales(*(getattr(defaults, f.name) if getattr(self, f.name) is None else getattr(self, f.name)
                        for f in fields(Scales)))
