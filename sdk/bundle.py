"""The voxport bundle: a directory holding ``manifest.json`` plus the ONNX graph files it lists.

This module only describes, writes, reads and verifies bundles. It deliberately imports nothing
beyond the standard library so that runtimes can load bundles without torch or onnx installed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, NoReturn

__all__ = [
    "FORMAT_VERSION", "MANIFEST_NAME", "BundleError", "BundleNotFoundError", "BundleFormatError",
    "BundleVersionError", "BundleIntegrityError", "BundlePathError", "MissingVariantError",
    "MissingStageError", "TensorInfo", "GraphVariant", "GraphEntry", "Manifest", "Bundle",
    "sha256_file", "write_manifest", "describe_graph_file",
]

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

    def __init__(self, precision: str, available: list[str], stage: str | None = None):
        self.precision, self.available, self.stage = precision, sorted(available), stage
        where = f"graph {stage!r}" if stage else "this graph"
        present = ", ".join(self.available) or "none"
        super().__init__(f"{where} has no {precision!r} variant; precisions present: {present}")


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


# --------------------------------------------------------------------------- dataclasses

@dataclass(frozen=True)
class TensorInfo:
    """Name, dtype and shape of a graph input/output; ints are fixed dims, strs named dynamic axes."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: _MP = None, field: str = "tensor") -> TensorInfo:
        o = _Obj(d, field, manifest_path, {"name", "dtype", "shape"})
        shape = tuple(dim if isinstance(dim, str) and dim else _int(dim, f"{field}.shape[{i}]", o.mp)
                      for i, dim in enumerate(o.array("shape")))
        return cls(name=o.string("name"), dtype=o.string("dtype"), shape=shape)


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

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
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
        io = {key: tuple(TensorInfo.from_dict(t, o.mp, f"{o.name(key)}[{i}]")
                         for i, t in enumerate(o.array(key))) for key in ("inputs", "outputs")}
        variants = o.obj("variants")
        if not variants.d:
            _fail(o.mp, variants.fld, "must list at least one precision")
        return cls(inputs=io["inputs"], outputs=io["outputs"], variants={
            p: GraphVariant.from_dict(v, o.mp, variants.name(p)) for p, v in variants.d.items()})


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready deep copy; mutating it does not affect the manifest."""
        d = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "graphs"}
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
        )


def _check_version(v: Any, mp: _MP) -> None:
    valid = isinstance(v, int) and not isinstance(v, bool) and v >= 1
    if not valid or v > FORMAT_VERSION:
        has = f"format_version {v}" if valid else f"an invalid format_version {v!r} (must be an integer)"
        raise BundleVersionError(
            f"{mp or '<manifest>'}: the bundle has {has}, but this voxport reads format_version "
            f"{FORMAT_VERSION} at most; upgrade voxport, or rebuild the bundle with this version of voxport"
        )


# --------------------------------------------------------------------------- files

def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte blocks into one reused buffer."""
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _resolve_member(root: Path, file: Any) -> Path:
    """Resolve a manifest file entry against the (already resolved) bundle root, refusing escapes."""
    if not isinstance(file, str) or not file or "\x00" in file:
        raise BundlePathError(f"bundle {root}: invalid file entry {file!r}")
    # Backslashes and drive letters mean different things on POSIX and Windows; refuse both so a
    # bundle resolves identically everywhere.
    if "\\" in file or PureWindowsPath(file).drive:
        raise BundlePathError(f"bundle {root}: file entry {file!r} must be a '/'-separated relative path")
    rel = PurePosixPath(file)
    if rel.is_absolute():
        raise BundlePathError(f"bundle {root}: file entry {file!r} is absolute; it must be relative")
    if ".." in rel.parts:
        raise BundlePathError(f"bundle {root}: file entry {file!r} contains '..'")
    try:
        resolved = (root / rel).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on Python < 3.13
        raise BundlePathError(f"bundle {root}: file entry {file!r} cannot be resolved: {exc}") from exc
    if resolved == root or not resolved.is_relative_to(root):
        raise BundlePathError(
            f"bundle {root}: file entry {file!r} resolves to {resolved}, outside the bundle directory "
            "(via a symlink?)"
        )
    return resolved


def describe_graph_file(bundle_dir: Path, file: str) -> GraphVariant:
    """Hash and size a file already placed inside ``bundle_dir``, for recording in the manifest."""
    root = Path(bundle_dir).resolve()
    path = _resolve_member(root, file)
    if not path.is_file():
        raise BundleIntegrityError(f"graph file {file!r} does not exist at {path}", path=path)
    return GraphVariant(file=PurePosixPath(file).as_posix(), sha256=sha256_file(path),
                        size=path.stat().st_size)


def write_manifest(bundle_dir: Path, manifest: Manifest) -> Path:
    """Validate and atomically write ``manifest.json`` into ``bundle_dir``; returns its path."""
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    target = bundle_dir / MANIFEST_NAME
    data = manifest.to_dict()
    # Round-trip through the reader so that a bad manifest fails here, not on a user's device.
    Manifest.from_dict(data, target)
    root = bundle_dir.resolve()
    for graph in manifest.graphs.values():
        for variant in graph.variants.values():
            _resolve_member(root, variant.file)
    try:
        text = json.dumps(data, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise BundleFormatError(f"{target}: manifest is not JSON-serializable: {exc}",
                                manifest_path=target) from exc
    tmp = bundle_dir / f".{MANIFEST_NAME}.{secrets.token_hex(6)}.tmp"
    try:
        # os.open with 0o666 lets the umask decide permissions, unlike mkstemp's fixed 0o600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


# --------------------------------------------------------------------------- loading

class Bundle:
    """A loaded bundle: ``root`` (resolved directory) and its validated ``manifest``."""

    def __init__(self, root: Path, manifest: Manifest):
        self.root = Path(root).resolve()
        self.manifest = manifest
        self._paths: dict[tuple[str, str], Path] = {
            (stage, prec): _resolve_member(self.root, var.file)
            for stage, graph in manifest.graphs.items()
            for prec, var in graph.variants.items()
        }

    @classmethod
    def load(cls, path: str | Path, *, verify: bool = True) -> Bundle:
        """Read and validate a bundle directory (or its manifest.json); ``verify`` checks every file."""
        p = Path(path).expanduser()
        if p.name == MANIFEST_NAME and p.is_file():
            p = p.parent
        if not p.is_dir():
            raise BundleNotFoundError(f"no bundle directory at {p}")
        manifest_path = p / MANIFEST_NAME
        if not manifest_path.is_file():
            raise BundleNotFoundError(f"{p} is not a voxport bundle: it has no {MANIFEST_NAME}")
        try:
            data = json.loads(manifest_path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise BundleFormatError(f"{manifest_path}: not UTF-8 text: {exc}",
                                    manifest_path=manifest_path) from exc
        except json.JSONDecodeError as exc:
            raise BundleFormatError(f"{manifest_path}: invalid JSON: {exc}",
                                    manifest_path=manifest_path) from exc
        bundle = cls(p, Manifest.from_dict(data, manifest_path))
        if verify:
            bundle.verify()
        return bundle

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def stages(self) -> tuple[str, ...]:
        """Graph names in manifest key order (sorted on disk), e.g. ("decoder", "duration", "encoder")."""
        return tuple(self.manifest.graphs)

    def graph(self, stage: str) -> GraphEntry:
        try:
            return self.manifest.graphs[stage]
        except KeyError:
            raise MissingStageError(stage, list(self.manifest.graphs)) from None

    def graph_path(self, stage: str, precision: str = "fp32") -> Path:
        """Absolute path of the ``stage`` graph at ``precision`` (MissingStage/MissingVariantError)."""
        self.graph(stage).variant(precision, stage=stage)
        return self._paths[(stage, precision)]

    def verify(self) -> None:
        """Check every variant file exists with the recorded size, then the recorded sha256."""
        items = [(f"bundle {self.root}: graph file {v.file!r} (stage {s!r}, precision {p!r}) at "
                  f"{self._paths[(s, p)]}", v, self._paths[(s, p)])
                 for s, g in self.manifest.graphs.items() for p, v in g.variants.items()]
        fix = "the bundle is damaged or was changed after export; re-copy or rebuild it"
        # Sizes of all files first: truncation (the common failure of a copy) is reported without hashing.
        for what, var, path in items:
            if not path.is_file():
                raise BundleIntegrityError(f"{what} is missing; {fix}", path=path)
            if (size := path.stat().st_size) != var.size:
                kind = "truncated" if size < var.size else "larger than recorded"
                raise BundleIntegrityError(
                    f"{what} is {kind}: {size} bytes, manifest records {var.size}; {fix}", path=path)
        digests: dict[Path, str] = {}  # variants may share a file; hash it once
        for what, var, path in items:
            if path not in digests:
                digests[path] = sha256_file(path)
            if digests[path] != var.sha256:
                raise BundleIntegrityError(
                    f"{what} was modified: sha256 {digests[path]}, manifest records {var.sha256}; {fix}",
                    path=path)

    def __repr__(self) -> str:
        m = self.manifest
        return f"Bundle({str(self.root)!r}, family={m.family!r}, name={m.name!r}, stages={self.stages})"
