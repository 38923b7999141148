"""The mel spectrogram a mel-decoding model produces, as its manifest's `mel` block describes it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from voxport.bundle.fields import JsonObject, ManifestPath, fail


@dataclass(frozen=True)
class MelNormalization:
    """Coqui's spectrogram normalization: "none", or "range" (dB shifted by ref_level_db, scaled from
    [min_level_db, 0] to [0, max_norm] or, symmetric, [-max_norm, max_norm], clipped if `clip`)."""

    kind: str = "none"
    symmetric: bool = True
    max_norm: float = 4.0
    min_level_db: float = -100.0
    ref_level_db: float = 20.0
    clip: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} if self.kind != "none" else {"kind": "none"}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "normalization") -> MelNormalization:
        o = JsonObject(d, field, manifest_path, {f.name for f in fields(cls)})
        if o.choice("kind", ("none", "range")) == "none":
            return cls()
        return cls(kind="range", symmetric=o.boolean("symmetric"), max_norm=o.number("max_norm", above=0.0),
                   min_level_db=o.number("min_level_db", below=0.0), ref_level_db=o.number("ref_level_db"),
                   clip=o.boolean("clip"))


@dataclass(frozen=True)
class MelParams:
    """The mel spectrogram a mel-decoding model produces (frames at the manifest's hop_length and
    sample_rate): what a mel vocoder must have been trained on, and what Griffin-Lim inverts.

    Magnitudes are slaney-scale, slaney-normalized mel filters (librosa's default, which Coqui uses)
    over a Hann-windowed STFT; dB = spec_gain * log_base(magnitude), then `normalization`.
    """

    n_fft: int
    win_length: int
    n_mels: int
    fmin: float = 0.0
    fmax: float | None = None  # None: sample_rate / 2
    log_base: float = 10.0
    spec_gain: float = 20.0
    power: float = 1.5  # Griffin-Lim sharpens magnitudes by this power, as Coqui does
    griffin_lim_iters: int = 60
    pad_mode: str = "reflect"
    normalization: MelNormalization = field(default_factory=MelNormalization)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["normalization"] = self.normalization.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "mel",
                  sample_rate: int | None = None) -> MelParams:
        o = JsonObject(d, field, manifest_path, {f.name for f in fields(cls)})
        n_fft = o.integer("n_fft", 1)
        win_length = o.integer("win_length", 1)
        if win_length > n_fft:
            fail(o.mp, o.name("win_length"), f"is {win_length}, larger than n_fft {n_fft}")
        fmin = o.number("fmin", 0.0, at_least=0.0)
        fmax = None if o.get("fmax", None) is None else o.number("fmax", above=fmin)
        if fmax is not None and sample_rate is not None and fmax > sample_rate / 2:
            fail(o.mp, o.name("fmax"), f"is {fmax}, above the Nyquist frequency {sample_rate / 2}")
        if (base := o.number("log_base", 10.0, above=0.0)) == 1.0:
            fail(o.mp, o.name("log_base"), "must not be 1")
        return cls(n_fft=n_fft, win_length=win_length, n_mels=o.integer("n_mels", 1), fmin=fmin, fmax=fmax,
                   log_base=base, spec_gain=o.number("spec_gain", 20.0, above=0.0),
                   power=o.number("power", 1.5, above=0.0),
                   griffin_lim_iters=o.integer("griffin_lim_iters", 0, default=60),
                   pad_mode=o.choice("pad_mode", ("reflect", "constant"), "reflect"),
                   normalization=MelNormalization.from_dict(o.get("normalization", {"kind": "none"}), o.mp,
                                                            o.name("normalization")))
