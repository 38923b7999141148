"""voxport: split neural TTS graphs for edge runtimes."""
