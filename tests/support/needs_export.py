"""`from support.needs_export import onnx, torch` in a test module that exports graphs: without the export
extra (torch, onnx) the whole module is skipped with the reason, instead of failing to import. This is how
the torch-free run (`make test-sdk-no-torch`) collects tests/ as a whole."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="exporting graphs needs the export extra (torch)")
onnx = pytest.importorskip("onnx", reason="exporting graphs needs the export extra (onnx)")

__all__ = ["onnx", "torch"]
