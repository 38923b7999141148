"""Torch models, importers and the split ONNX export (needs the `export` extra)."""
