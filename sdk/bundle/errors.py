"""Every way a bundle can be wrong, as one exception family (all ValueErrors)."""

from __future__ import annotations

from pathlib import Path


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
