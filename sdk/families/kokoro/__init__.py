"""Kokoro-82M: the torch-free side (stages, host-side regulation and source, voice packs, front-end)."""
