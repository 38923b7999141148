"""The bundle manifest: its errors, its validation and the dataclasses it parses into.

Validation names the offending field with its dotted path (``graphs.encoder.variants.fp32.sha256``)
so a hand-edited or damaged manifest is fixable from the message alone.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

from voxport.runtimes.base import TensorSpec

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

# --------------------------------------------------------------------------- errors

class BundleError(ValueError):
    """Base class of every bundle problem."""


class BundleNotFoundError(BundleError):
    """The bundle directory or its manifest does not exist."""


class BundleFormatError(BundleError):
    """The manifest is not valid JSON, or a field is missing or has the wrong type."""

    def __init__(self, message: str, *, field: str | None = None, manifest_path: str | Path | None = None):
        super().__init__(message)
        self.field = field
        self.manifest_path = manifest_path


class BundleVersionError(BundleError):
    """The manifest's format_version is not one this voxport can read."""


class BundleIntegrityError(BundleError):
    """A graph file is missing, or its size or sha256 differs from the manifest."""

    def __init__(self, message: str, *, path: Path | None = None):
        super().__init__(message)
        self.path = path


class BundlePathError(BundleError):
    """A file entry is absolute, contains ``..``, or resolves outside the bundle directory."""


class _BundleKeyError(BundleError, KeyError):
    # KeyError.__str__ would repr() the message, wrapping it in quotes.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingVariantError(_BundleKeyError):
    """A graph has no file at the requested precision."""

    def __init__(self, precision: str, available: list[str], stage: str | None = None, advice: str = ""):
        self.precision, self.available, self.stage = precision, sorted(available), stage
        where = f"graph {stage!r}" if stage else "this graph"
        present = ", ".join(self.available) or "none"
        super().__init__(f"{where} has no {precision!r} variant; precisions present: {present}"
                         + (f"; {advice}" if advice else ""))


class MissingStageError(_BundleKeyError):
    """The bundle has no graph for the requested stage."""

    def __init__(self, stage: str, available: list[str]):
        self.stage, self.available = stage, list(available)
        super().__init__(f"bundle has no {stage!r} graph; stages present: {', '.join(available) or 'none'}")


# --------------------------------------------------------------------------- validation

_MP = str | Path | None  # the manifest path, used only to make error messages actionable


def _fail(mp: _MP, fld: str, msg: str) -> NoReturn:
    raise BundleFormatError(f"{mp or '<manifest>'}: field {fld!r} {msg}", field=fld, manifest_path=mp)


def _int(v: Any, fld: str, mp: _MP, minimum: int = 0) -> int:
    # bool is an int subclass; `true` for a sample rate is a bug, not a 1.
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        _fail(mp, fld, f"must be an integer >= {minimum}, got {type(v).__name__} {v!r}")
    return v


class _Obj:
    """A JSON object under validation; knows its dotted field name for error messages."""

    def __init__(self, v: Any, fld: str, mp: _MP, allowed: set[str] | None = None):
        self.fld, self.mp = fld, mp
        if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
            _fail(mp, fld or "<top level>", f"must be an object with string keys, got {type(v).__name__}")
        self.d: dict[str, Any] = dict(v)
        # Rejecting unknown keys catches typos ("hop_lenght") that would otherwise silently use defaults.
        for key in sorted(set(self.d) - (allowed if allowed is not None else set(self.d))):
            _fail(mp, self.name(key), "is not a known manifest field (put free-form data under 'extra')")

    def name(self, key: str) -> str:
        return f"{self.fld}.{key}" if self.fld else key

    def get(self, key: str, default: Any = ...) -> Any:
        if key not in self.d:
            if default is ...:
                _fail(self.mp, self.name(key), "is required but missing")
            return copy.deepcopy(default)
        return self.d[key]

    def string(self, key: str) -> str:
        v = self.get(key)
        if not isinstance(v, str) or not v:
            _fail(self.mp, self.name(key), f"must be a non-empty string, got {type(v).__name__} {v!r}")
        return v

    def integer(self, key: str, minimum: int = 0, default: Any = ...) -> int:
        return _int(self.get(key, default), self.name(key), self.mp, minimum)

    def array(self, key: str) -> list[Any]:
        if not isinstance(v := self.get(key), (list, tuple)):
            _fail(self.mp, self.name(key), f"must be a list, got {type(v).__name__}")
        return list(v)

    def obj(self, key: str, default: Any = ..., allowed: set[str] | None = None) -> _Obj:
        return _Obj(self.get(key, default), self.name(key), self.mp, allowed)

    def number(self, key: str, default: Any = ..., *, above: float | None = None, at_least: float | None = None,
               below: float | None = None) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            _fail(self.mp, self.name(key), f"must be a finite number, got {type(v).__name__} {v!r}")
        for bad, what in ((above is not None and v <= above, f"> {above}"),
                          (at_least is not None and v < at_least, f">= {at_least}"),
                          (below is not None and v >= below, f"< {below}")):
            if bad:
                _fail(self.mp, self.name(key), f"must be {what}, got {v!r}")
        return float(v)

    def boolean(self, key: str, default: Any = ...) -> bool:
        if not isinstance(v := self.get(key, default), bool):
            _fail(self.mp, self.name(key), f"must be true or false, got {type(v).__name__} {v!r}")
        return v

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        if (v := self.get(key, default)) not in options:
            _fail(self.mp, self.name(key), f"must be one of {list(options)}, got {v!r}")
        return v


# --------------------------------------------------------------------------- dataclasses

def _tensor_from_dict(d: Any, manifest_path: _MP, fld: str) -> TensorSpec:
    o = _Obj(d, fld, manifest_path, {"name", "dtype", "shape"})
    shape = tuple(dim if isinstance(dim, str) and dim else _int(dim, f"{fld}.shape[{i}]", o.mp)
                  for i, dim in enumerate(o.array("shape")))
    try:
        return TensorSpec(name=o.string("name"), dtype=o.string("dtype"), shape=shape)
    except ValueError as exc:  # name and shape are checked above: this is a dtype numpy does not know
        _fail(o.mp, f"{fld}.dtype", str(exc))


@dataclass(frozen=True)
class GraphVariant:
    """One file of a graph at one precision; ``file`` is relative to the bundle, '/'-separated."""

    file: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: _MP = None, field: str = "variant") -> GraphVariant:
        o = _Obj(d, field, manifest_path, {"file", "sha256", "size"})
        digest = o.get("sha256")
        if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            _fail(o.mp, o.name("sha256"), f"must be 64 lowercase hex digits, got {digest!r}")
        return cls(file=o.string("file"), sha256=digest, size=o.integer("size"))


@dataclass(frozen=True)
class GraphEntry:
    """One pipeline stage: its I/O signature and one file per precision ("fp32", "fp16", "int8", ...)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    variants: dict[str, GraphVariant]

    def variant(self, precision: str, *, stage: str | None = None) -> GraphVariant:
        """Return the file at ``precision``; ``stage`` only improves the error message."""
        try:
            return self.variants[precision]
        except KeyError:
            raise MissingVariantError(precision, list(self.variants), stage) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "variants": {p: v.to_dict() for p, v in self.variants.items()},
        }

    @classmethod
    def from_dict(cls, d: Any, manifest_path: _MP = None, field: str = "graph") -> GraphEntry:
        o = _Obj(d, field, manifest_path, {"inputs", "outputs", "variants"})
        io = {key: tuple(_tensor_from_dict(t, o.mp, f"{o.name(key)}[{i}]")
                         for i, t in enumerate(o.array(key))) for key in ("inputs", "outputs")}
        variants = o.obj("variants")
        if not variants.d:
            _fail(o.mp, variants.fld, "must list at least one precision")
        return cls(inputs=io["inputs"], outputs=io["outputs"], variants={
            p: GraphVariant.from_dict(v, o.mp, variants.name(p)) for p, v in variants.d.items()})


@dataclass(frozen=True)
class DurationRule:
    """How predicted log-durations become frames: ceil((exp(logw) + offset) * length_scale), then at least
    `min_frames` per phoneme. VITS: offset 0, min 0; GlowTTS predicts log(1 + frames): offset -1, min 1."""

    offset: float = 0.0
    min_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "min_frames": self.min_frames}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: _MP = None, field: str = "durations") -> DurationRule:
        o = _Obj(d, field, manifest_path, {"offset", "min_frames"})
        return cls(offset=o.number("offset", 0.0), min_frames=o.integer("min_frames", 0, default=0))


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
    def from_dict(cls, d: Any, manifest_path: _MP = None, field: str = "normalization") -> MelNormalization:
        o = _Obj(d, field, manifest_path, {"kind", "symmetric", "max_norm", "min_level_db", "ref_level_db", "clip"})
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
    def from_dict(cls, d: Any, manifest_path: _MP = None, field: str = "mel",
                  sample_rate: int | None = None) -> MelParams:
        o = _Obj(d, field, manifest_path, {f.name for f in fields(cls)})
        n_fft = o.integer("n_fft", 1)
        win_length = o.integer("win_length", 1)
        if win_length > n_fft:
            _fail(o.mp, o.name("win_length"), f"is {win_length}, larger than n_fft {n_fft}")
        fmin = o.number("fmin", 0.0, at_least=0.0)
        fmax = None if o.get("fmax", None) is None else o.number("fmax", above=fmin)
        if fmax is not None and sample_rate is not None and fmax > sample_rate / 2:
            _fail(o.mp, o.name("fmax"), f"is {fmax}, above the Nyquist frequency {sample_rate / 2}")
        if (base := o.number("log_base", 10.0, above=0.0)) == 1.0:
            _fail(o.mp, o.name("log_base"), "must not be 1")
        return cls(n_fft=n_fft, win_length=win_length, n_mels=o.integer("n_mels", 1), fmin=fmin, fmax=fmax,
                   log_base=base, spec_gain=o.number("spec_gain", 20.0, above=0.0),
                   power=o.number("power", 1.5, above=0.0),
                   griffin_lim_iters=o.integer("griffin_lim_iters", 0, default=60),
                   pad_mode=o.choice("pad_mode", ("reflect", "constant"), "reflect"),
                   normalization=MelNormalization.from_dict(o.get("normalization", {"kind": "none"}), o.mp,
                                                            o.name("normalization")))


# Optional fields written only when they differ from these defaults, so that manifests of models that
# do not need them (VITS) stay readable by voxport versions that predate them.
_OPTIONAL_DEFAULTS: dict[str, Any] = {"durations": DurationRule(), "frame_multiple": 1, "mel": None}


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Everything a runtime needs besides the graph files themselves."""

    format_version: int = FORMAT_VERSION
    family: str
    name: str
    sample_rate: int
    hop_length: int
    graphs: dict[str, GraphEntry]
    phoneme_id_map: dict[str, list[int]]
    phonemizer: dict[str, Any]
    inference: dict[str, float]
    num_speakers: int = 1
    speaker_id_map: dict[str, int] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    durations: DurationRule = field(default_factory=DurationRule)
    # The decoder reads frame counts that are a multiple of this (GlowTTS's squeeze); the SDK trims.
    frame_multiple: int = 1
    mel: MelParams | None = None  # for models that decode to a mel spectrogram

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready deep copy; mutating it does not affect the manifest."""
        d = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)
             if f.name != "graphs" and f.name not in _OPTIONAL_DEFAULTS}
        for name, default in _OPTIONAL_DEFAULTS.items():
            value = getattr(self, name)
            if value != default:
                d[name] = value.to_dict() if hasattr(value, "to_dict") else value
        d["graphs"] = {stage: g.to_dict() for stage, g in self.graphs.items()}
        # Write 1.0, not 1, so the file says what the reader will produce (type(v) is int skips bools).
        d["inference"] = {k: float(v) if type(v) is int else v for k, v in self.inference.items()}
        return d

    @classmethod
    def from_dict(cls, d: Any, manifest_path: _MP = None) -> Manifest:
        """Validate ``d`` (parsed manifest JSON); raises BundleFormatError / BundleVersionError."""
        o = _Obj(d, "", manifest_path)
        # Version first: a newer format may legitimately have fields this version does not know.
        _check_version(o.get("format_version"), o.mp)
        o = _Obj(d, "", manifest_path, {f.name for f in fields(cls)})
        graphs = o.obj("graphs")
        if not graphs.d:
            _fail(o.mp, "graphs", "must contain at least one graph")
        id_map = o.obj("phoneme_id_map")
        inference = o.obj("inference")
        for key, val in inference.d.items():
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
                _fail(o.mp, inference.name(key), f"must be a finite number, got {type(val).__name__} {val!r}")
        num_speakers = o.integer("num_speakers", 1, default=1)
        speakers = o.obj("speaker_id_map", default={})
        for spk in speakers.d:
            if speakers.integer(spk) >= num_speakers:
                _fail(o.mp, speakers.name(spk), f"is {speakers.d[spk]}, but num_speakers is {num_speakers}")
        return cls(
            format_version=o.d["format_version"],
            family=o.string("family"),
            name=o.string("name"),
            sample_rate=o.integer("sample_rate", 1),
            hop_length=o.integer("hop_length", 1),
            graphs={s: GraphEntry.from_dict(g, o.mp, graphs.name(s)) for s, g in graphs.d.items()},
            phoneme_id_map={sym: [_int(i, f"{id_map.name(sym)}[{n}]", o.mp)
                                  for n, i in enumerate(id_map.array(sym))] for sym in id_map.d},
            phonemizer=copy.deepcopy(o.obj("phonemizer").d),
            inference={k: float(v) for k, v in inference.d.items()},
            num_speakers=num_speakers,
            speaker_id_map=speakers.d,
            source=copy.deepcopy(o.obj("source", default={}).d),
            extra=copy.deepcopy(o.obj("extra", default={}).d),
            durations=DurationRule.from_dict(o.get("durations", {}), o.mp),
            frame_multiple=o.integer("frame_multiple", 1, default=1),
            mel=None if o.get("mel", None) is None else MelParams.from_dict(
                o.d["mel"], o.mp, sample_rate=o.integer("sample_rate", 1)),
        )


def _check_version(v: Any, mp: _MP) -> None:
    valid = isinstance(v, int) and not isinstance(v, bool) and v >= 1
    if not valid or v > FORMAT_VERSION:
        has = f"format_version {v}" if valid else f"an invalid format_version {v!r} (must be an integer)"
        raise BundleVersionError(
            f"{mp or '<manifest>'}: the bundle has {has}, but this voxport reads format_version "
            f"{FORMAT_VERSION} at most; upgrade voxport, or rebuild the bundle with this version of voxport"
        )


