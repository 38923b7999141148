"""Coqui's phoneme vocabulary as a voxport phoneme id map and phonemizer settings.

Coqui's tokenizer maps each character of the espeak phoneme string to its index in the vocabulary
`[pad, eos, bos, blank] + sorted(phonemes) + punctuations` (markers that are not set are left out),
then optionally puts the blank between and around the characters (`add_blank`) and BOS/EOS around
everything (`enable_eos_bos_chars`). voxport's front-end emits BOS, PAD, (symbol, PAD)..., EOS; with
PAD = blank it gives exactly that sequence, and a marker Coqui does not use maps to no ids ("").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import UnsupportedConfigError

NO_MARKER = ""


def coqui_vocabulary(characters: Mapping[str, Any]) -> list[str]:
    """The vocabulary list of Coqui's IPAPhonemes for a saved `characters` config."""
    chars = characters.get("phonemes") or characters.get("characters") or ""
    symbols = list(chars)
    if characters.get("is_unique", True):
        symbols = list(set(symbols))
    if characters.get("is_sorted", True):
        symbols = sorted(symbols)
    for marker in ("blank", "bos", "eos", "pad"):  # prepended in this order, so pad ends up first
        if characters.get(marker):
            symbols = [characters[marker], *symbols]
    return symbols + list(characters.get("punctuations") or "")


def phoneme_inputs(config: Mapping[str, Any], n_vocab: int) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """(phoneme_id_map, phonemizer settings) for a Coqui GlowTTS config whose embedding has n_vocab rows."""
    if not config.get("use_phonemes", False):
        raise UnsupportedConfigError("character (grapheme) models are not supported: voxport's front-end speaks "
                                     "espeak phonemes, so the config must have use_phonemes true")
    characters = config.get("characters")
    if not characters:
        raise UnsupportedConfigError("the config has no `characters` section to take the vocabulary from")
    cls = str(characters.get("characters_class") or "IPAPhonemes").rsplit(".", 1)[-1]
    if cls != "IPAPhonemes":
        raise UnsupportedConfigError(f"characters_class {cls!r}: only IPAPhonemes vocabularies are supported")
    vocab = coqui_vocabulary(characters)
    if len(vocab) != n_vocab:
        raise UnsupportedConfigError(
            f"the config's characters give a vocabulary of {len(vocab)} symbols, the checkpoint's embedding "
            f"has {n_vocab} rows"
        )
    ids = {symbol: [index] for index, symbol in enumerate(vocab)}  # duplicates: the last index, as in Coqui
    ids[NO_MARKER] = []
    blank = characters.get("blank") if config.get("add_blank") else None
    use_bos_eos = bool(config.get("enable_eos_bos_chars", False))
    bos = characters.get("bos") if use_bos_eos else None
    eos = characters.get("eos") if use_bos_eos else None
    for name, needed, marker in (("add_blank", config.get("add_blank"), blank),
                                 ("enable_eos_bos_chars", use_bos_eos, bos),
                                 ("enable_eos_bos_chars", use_bos_eos, eos)):
        if needed and marker not in ids:
            raise UnsupportedConfigError(f"{name} is set, but the vocabulary has no such marker")
    phonemizer = {
        "type": "espeak",
        "voice": str(config.get("phoneme_language") or "en-us").lower(),
        "pad": blank or NO_MARKER,
        "bos": bos or NO_MARKER,
        "eos": eos or NO_MARKER,
        "pad_after_bos": True,
    }
    return ids, phonemizer
