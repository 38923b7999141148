"""voxport: split neural TTS graphs for edge runtimes.

    from voxport import Voice
    voice = Voice.load()            # the default voice, Piper en_US-joe-medium
    audio = voice.synthesize("Hello there.")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voxport import _moved

_moved.install()  # voxport 0.1's flat module names (voxport.engine, ...) still import, with a warning

__version__ = "0.1.0"
__all__ = ["SynthesisConfig", "Voice", "normalize_text", "__version__"]

if TYPE_CHECKING:
    from voxport.synthesis import SynthesisConfig
    from voxport.text.normalize import normalize_text
    from voxport.voice import Voice


def __getattr__(name: str) -> Any:
    # Lazy so that `import voxport.runtimes` or `voxport.bundle` does not pull in espeak and onnxruntime.
    if name == "Voice":
        from voxport.voice import Voice

        return Voice
    if name == "SynthesisConfig":
        from voxport.synthesis import SynthesisConfig

        return SynthesisConfig
    if name == "normalize_text":
        from voxport.text.normalize import normalize_text

        return normalize_text
    raise AttributeError(f"module 'voxport' has no attribute {name!r}")
