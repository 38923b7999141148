"""Kokoro-82M (StyleTTS2-style, iSTFTNet decoder): torch modules with the `kokoro` package's parameter names,
the checkpoint and monolith-ONNX importers, the encoder / prosody / decoder graphs and the bundle build."""
