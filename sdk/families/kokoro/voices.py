"""Which voice pack(s) an utterance speaks with: a name, an index, or a blend "a:0.6,b:0.4" (or "a,b", equal
parts), as the weights the style graph takes. Kokoro picks the pack's row by the utterance's length."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["openai_voices", "speaker_spec", "style_row", "voice_weights"]


def _unknown(name: str, voices: Sequence[str]) -> ValueError:
    return ValueError(f"unknown Kokoro voice {name!r} (known: {', '.join(voices)})")


def _parts(spec: str, voices: Sequence[str]) -> list[tuple[str, float]]:
    parts = []
    for item in spec.split(","):
        name, sep, weight = item.strip().partition(":")
        if name not in voices:
            raise _unknown(name, voices)
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise ValueError(f"voice blend {spec!r}: weight {weight!r} of {name!r} is not a number") from None
        if not w > 0:
            raise ValueError(f"voice blend {spec!r}: weight of {name!r} must be > 0, got {weight}")
        parts.append((name, w))
    return parts


def voice_weights(speaker: int | str | Mapping[str, float] | None, voices: Sequence[str], default: str
                  ) -> np.ndarray:
    """float32 [1, V] summing to 1. `speaker`: None (the default voice), an index, a name, "a:0.6,b:0.4",
    or a mapping name -> weight. Weights are normalised to sum to 1 (kokoro averages a plain "a,b")."""
    if speaker is None:
        speaker = default
    if isinstance(speaker, (int, np.integer)) and not isinstance(speaker, bool):
        if not 0 <= speaker < len(voices):
            raise ValueError(f"Kokoro voice index {speaker} is out of range 0..{len(voices) - 1} "
                             f"(voices: {', '.join(voices)})")
        parts = [(voices[int(speaker)], 1.0)]
    elif isinstance(speaker, str):
        parts = _parts(speaker, voices)
    elif isinstance(speaker, Mapping):
        parts = _parts(",".join(f"{k}:{v}" for k, v in speaker.items()), voices)
    else:
        raise ValueError(f"a Kokoro voice is a name, an index or a blend 'a:0.6,b:0.4', got {speaker!r}")
    w = np.zeros((1, len(voices)), np.float64)
    for name, weight in parts:
        w[0, voices.index(name)] += weight
    return (w / w.sum()).astype(np.float32)


def style_row(n_ids: int, rows: int) -> np.ndarray:
    """Kokoro's row: the number of phonemes (ids without the two pads) minus one, kept inside the pack."""
    return np.array([min(max(n_ids - 3, 0), rows - 1)], np.int64)


def describe(params: Mapping[str, Any]) -> str:
    return ", ".join(params["voices"])


def speaker_spec(manifest: Any, spec: str) -> bool:
    """Whether `spec` (a pack name or a blend "a:0.6,b:0.4") names only this bundle's packs; a blend of its
    packs with a bad weight is a ValueError (a server answers 400 with it, not "unknown voice")."""
    voices = manifest.params["voices"]
    if not all(item.strip().partition(":")[0] in voices for item in spec.split(",")):
        return False
    voice_weights(spec, voices, manifest.params["default_voice"])
    return True


def _register(pack: str) -> str | None:
    """Kokoro's pack names say the register in their second letter: af_heart, jm_kumo (f: female, m: male)."""
    if len(pack) > 2 and pack[2] == "_":
        return {"f": "female", "m": "male"}.get(pack[1])
    return None


def openai_voices(manifest: Any) -> dict[str, str]:
    """OpenAI's voice names -> packs: alloy the default pack, the others by register in turn
    (voxport.families.openai_voices.by_register)."""
    from voxport.families.openai_voices import by_register

    p = manifest.params
    return by_register(p["voices"], p["default_voice"], _register)
