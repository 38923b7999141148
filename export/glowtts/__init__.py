"""GlowTTS in Coqui TTS's layout: torch model, checkpoint importer and the three split graphs."""
