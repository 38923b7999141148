"""OpenAI's text-to-speech voice names, which OpenAI clients send as `voice` (`/v1/audio/speech`), and a
mapping of them onto a family's own speakers by the voice's register, so that a client written for OpenAI
gets a fitting voice without configuration. `voxport serve --voice-map NAME=VOICE` overrides any of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["OPENAI_VOICES", "by_register"]

# Name -> register as OpenAI describes its voices ("neutral": alloy, its default, goes to the default speaker).
OPENAI_VOICES: dict[str, str] = {
    "alloy": "neutral", "ash": "male", "ballad": "male", "cedar": "male", "coral": "female", "echo": "male",
    "fable": "male", "marin": "female", "nova": "female", "onyx": "male", "sage": "female", "shimmer": "female",
    "verse": "male",
}


def by_register(speakers: Sequence[str], default: str, register: Callable[[str], str | None]) -> dict[str, str]:
    """Each OpenAI name -> one of `speakers`: "neutral" names -> `default`; the others in turn (alphabetical
    order of the names, the speakers' own order) over the speakers of the same register, or over all
    speakers when none has it. `register(speaker)` is "female", "male" or None (unknown)."""
    pools = {r: [s for s in speakers if register(s) == r] for r in ("female", "male")}
    turns = dict.fromkeys(pools, 0)
    mapping = {}
    for name, reg in sorted(OPENAI_VOICES.items()):
        if reg == "neutral":
            mapping[name] = default
            continue
        pool = pools[reg] or list(speakers)
        mapping[name] = pool[turns[reg] % len(pool)]
        turns[reg] += 1
    return mapping
