"""The voxport bundle: a directory holding ``manifest.json`` plus the ONNX graph files it lists.

This module only describes, writes, reads and verifies bundles. It deliberately imports nothing
beyond the standard library so that runtimes can load bundles without torch or onnx installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

__all__ = [
    "FORMAT_VERSION", "MANIFEST_NAME", "BundleError", "BundleNotFoundError", "BundleFormatError",
    "BundleVersionError", "BundleIntegrityError", "BundlePathError", "MissingVariantError",
    "MissingStageError", "GraphVariant", "GraphEntry", "Manifest", "Bundle",
    "sha256_file", "write_manifest", "describe_graph_file",
]

from voxport.bundle.errors import (
    BundleError,
    BundleFormatError,
    BundleIntegrityError,
    BundleNotFoundError,
    BundlePathError,
    BundleVersionError,
    MissingStageError,
    MissingVariantError,
)
from voxport.bundle.manifest import FORMAT_VERSION, MANIFEST_NAME, GraphEntry, GraphVariant, Manifest

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
        text = json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
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
        """Graph names in pipeline order, e.g. ("encoder", "duration", "decoder", "vocoder")."""
        return self.manifest.stages

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
