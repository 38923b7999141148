"""The tiny Kokoro model as a kokoro-onnx-style monolith: voxport.export.kokoro.write_monolith (moved there
so that benchmarks/kokoro.py can write the real weights' fp32 monolith the same way)."""

from voxport.export.kokoro.write_monolith import Monolith, export_monolith

__all__ = ["Monolith", "export_monolith"]
