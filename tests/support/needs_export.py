"""`from support.needs_export import onnx, torch` in a test module that exports graphs: without the export
extra (torch, onnx) the whole module is skipped with the reason, instead of failing to import. This is how
the torch-free run (`make test-sdk-no-torch`) collects tests/ as a whole.

A failed import is not cached, so each importing module runs this again and is named in its own reason."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest


def _importer() -> str:
    """The test module being imported (the skip is reported at this file's line, so name it)."""
    for frame in inspect.stack()[1:]:
        if Path(frame.filename).name.startswith("test_"):
            return Path(frame.filename).name
    return "this test module"


torch = pytest.importorskip("torch", reason=f"{_importer()} exports graphs: needs the export extra (torch)")
onnx = pytest.importorskip("onnx", reason=f"{_importer()} exports graphs: needs the export extra (onnx)")

__all__ = ["onnx", "torch"]
