"""The 148 input symbols of NVIDIA's Tacotron2 (keithito's English set), in embedding-row order.

Pad, hyphen, punctuation and space, the ASCII letters, then CMUdict's 84 ARPAbet phones, each with an
'@' in front so that they never collide with a letter. The bundle's manifest carries this table as its
phoneme_id_map; the SDK reads it from there, never from this module.
"""

from __future__ import annotations

PAD = "_"
SPECIAL = "-"
PUNCTUATION = "!'(),.:;? "
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# CMUdict's phone set: vowels with their stress digits (and bare), consonants bare.
_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
_CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
               "TH", "V", "W", "Y", "Z", "ZH")
ARPABET: tuple[str, ...] = tuple(sorted(
    [v + stress for v in _VOWELS for stress in ("", "0", "1", "2")] + list(_CONSONANTS)))

SYMBOLS: tuple[str, ...] = (PAD, SPECIAL, *PUNCTUATION, *LETTERS, *("@" + p for p in ARPABET))
CLEANERS = "english_cleaners"


def phoneme_id_map() -> dict[str, list[int]]:
    """Each symbol -> [its embedding row]; no pad, bos or eos is added around a sentence's ids."""
    return {symbol: [index] for index, symbol in enumerate(SYMBOLS)}


def phonemizer_settings() -> dict[str, str]:
    return {"type": "tacotron2_text", "cleaners": CLEANERS}
