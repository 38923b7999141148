"""Phoneme strings to the integer ids a Piper VITS model reads.

Piper's convention (piper-tts 1.8.0, ``piper.phoneme_ids.phonemes_to_ids``)::

    BOS, PAD, (phoneme, PAD) for every phoneme, EOS

e.g. "hə" -> ``^ _ h _ ə _ $``. Each phoneme is one Unicode codepoint of the (NFD-decomposed)
phoneme string; a symbol may map to several ids, which are emitted in order.

Which "phonemes" a voice reads is its ``phoneme_type`` (Piper's ``.onnx.json``, the manifest's
``phonemizer.type``): espeak-ng IPA, or the text's own code points for ``"text"`` voices. The other
types piper-tts knows need phonemizers voxport does not have; :func:`unsupported_phoneme_type` says
which, so that such a voice is refused instead of being fed English espeak phonemes.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Mapping, Sequence

from voxport.errors import FrontendError, UnknownSymbolWarning

__all__ = [
    "ESPEAK",
    "SUPPORTED_PHONEME_TYPES",
    "TACOTRON2_TEXT",
    "TEXT",
    "PhonemeIdMapper",
    "text_phonemes",
    "unsupported_phoneme_type",
]

ESPEAK = "espeak"  # espeak-ng IPA; also what a config or manifest that names no type means
TEXT = "text"  # no phonemizer: the code points of the text are the symbols
SUPPORTED_PHONEME_TYPES = (ESPEAK, TEXT)
# Not a Piper type: NVIDIA Tacotron2's cleaned characters and ARPAbet (voxport.families.tacotron2.text). Only a
# bundle's manifest names it, so Piper configs are still checked against the Piper types alone.
TACOTRON2_TEXT = "tacotron2_text"
# The other types piper-tts 1.8 knows (piper.config.PhonemeType), with what phonemizes them there:
# named in the refusal so that the user learns what the voice needs.
_PIPER_ONLY_PHONEME_TYPES = {
    "pinyin": "Chinese G2P with g2pW and pinyin-group padding (piper.phonemize_chinese)",
    "japanese": "OpenJTalk with pitch accent (piper.phonemize_japanese)",
    "hebrew": "Nakdimon niqqud and a Hebrew IPA G2P (piper.phonemize_hebrew)",
    "thai": "TLTK word segmentation and G2P with tone digits (piper.phonemize_thai)",
}


def unsupported_phoneme_type(phoneme_type: object) -> str | None:
    """Why voxport cannot turn text into ids for a voice of ``phoneme_type``; None when it can.

    The caller raises its own typed error with this message (the importer at build time, the
    front-end at load time).
    """
    if phoneme_type in SUPPORTED_PHONEME_TYPES:
        return None
    supported = " and ".join(repr(t) for t in SUPPORTED_PHONEME_TYPES)
    needed = _PIPER_ONLY_PHONEME_TYPES.get(phoneme_type) if isinstance(phoneme_type, str) else None
    if needed is None:
        known = ", ".join([*SUPPORTED_PHONEME_TYPES, *_PIPER_ONLY_PHONEME_TYPES])
        return (
            f"The voice's phoneme_type {phoneme_type!r} is unknown (piper-tts 1.8 knows {known}); it would need "
            f"a phonemizer for that type. voxport phonemizes only {supported} voices."
        )
    return (
        f"The voice's phoneme_type {phoneme_type!r} cannot be phonemized by voxport: it needs {needed}, "
        f"which only piper-tts has. voxport phonemizes only {supported} voices."
    )


def text_phonemes(text: str) -> str:
    """The symbols of a ``"text"`` voice: the text's code points after NFD decomposition.

    Exactly piper-tts 1.8 (``PiperVoice.phonemize`` and its training data set both take
    ``list(unicodedata.normalize("NFD", text))``): no normalization, no case folding, no espeak.
    """
    return unicodedata.normalize("NFD", text)


class PhonemeIdMapper:
    """Map phoneme strings to ids with a Piper ``phoneme_id_map``.

    ``pad_after_bos=True`` (the default) matches piper-tts 1.8.0, which puts a PAD right after
    BOS; set it to False only for models trained without that PAD.
    """

    def __init__(
        self,
        phoneme_id_map: Mapping[str, Sequence[int]],
        pad: str = "_",
        bos: str = "^",
        eos: str = "$",
        pad_after_bos: bool = True,
    ) -> None:
        if not phoneme_id_map:
            raise FrontendError("phoneme_id_map is empty.")
        id_map: dict[str, tuple[int, ...]] = {}
        for symbol, ids in phoneme_id_map.items():
            if isinstance(ids, int):  # tolerate hand-written maps with bare ints
                ids = (ids,)
            try:
                id_map[symbol] = tuple(int(i) for i in ids)
            except (TypeError, ValueError) as exc:
                raise FrontendError(f"phoneme_id_map[{symbol!r}] is not a list of ints: {ids!r}") from exc
        markers = {"pad": pad, "bos": bos, "eos": eos}
        missing = [name for name, marker in markers.items() if marker not in id_map]
        if missing:
            raise FrontendError(
                f"phoneme_id_map has no entry for the {', '.join(missing)} marker(s) "
                f"(pad={pad!r}, bos={bos!r}, eos={eos!r})."
            )
        self._map = id_map
        self.pad, self.bos, self.eos = pad, bos, eos
        self.pad_after_bos = pad_after_bos
        self._pad_ids = id_map[pad]
        self._head = id_map[bos] + (self._pad_ids if pad_after_bos else ())
        self._tail = id_map[eos]

    @property
    def phoneme_id_map(self) -> dict[str, list[int]]:
        """A copy of the symbol -> ids map."""
        return {symbol: list(ids) for symbol, ids in self._map.items()}

    @property
    def num_marker_ids(self) -> int:
        """How many ids :meth:`to_ids` emits for an empty phoneme string (BOS, PAD, EOS)."""
        return len(self._head) + len(self._tail)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._map

    def symbol_ids(self, symbol: str) -> tuple[int, ...] | None:
        """Ids of one phoneme symbol (its decomposition if only that is known), None if unknown."""
        symbol_ids = self._map.get(symbol)
        if symbol_ids is not None:
            return symbol_ids
        parts = unicodedata.normalize("NFD", symbol)
        if parts != symbol and all(part in self._map for part in parts):
            return tuple(i for part in parts for i in (*self._map[part], *self._pad_ids))[: -len(self._pad_ids) or None]
        return None

    def spans(self, phonemes: str) -> list[tuple[str, int, int]]:
        """(symbol, first id index, end id index incl. its trailing PAD) for each known symbol.

        Indices refer to the list :meth:`to_ids` returns for the same string, so durations predicted
        per id can be summed per symbol (timestamps).
        """
        out: list[tuple[str, int, int]] = []
        pos = len(self._head)
        for symbol in phonemes:
            symbol_ids = self.symbol_ids(symbol)
            if symbol_ids is None:
                continue
            end = pos + len(symbol_ids) + len(self._pad_ids)
            out.append((symbol, pos, end))
            pos = end
        return out

    def to_ids(self, phonemes: str) -> list[int]:
        """Ids for ``phonemes``: BOS, [PAD], then each symbol's ids followed by PAD, then EOS.

        Symbols missing from the map are skipped with a single :class:`UnknownSymbolWarning`
        listing them. A precomposed character that is missing but whose NFD decomposition is
        fully known is emitted as that decomposition (Piper NFD-decomposes espeak output, so the
        maps only carry decomposed forms).
        """
        ids: list[int] = list(self._head)
        unknown: dict[str, None] = {}  # ordered set: report in order of first appearance
        for symbol in phonemes:
            symbol_ids = self.symbol_ids(symbol)
            if symbol_ids is None:
                unknown[symbol] = None
                continue
            ids.extend(symbol_ids)
            ids.extend(self._pad_ids)
        ids.extend(self._tail)
        if unknown:
            listed = ", ".join(f"{s!r} (U+{ord(s):04X})" for s in unknown)
            warnings.warn(
                f"Skipped {len(unknown)} phoneme symbol(s) not in the voice's phoneme_id_map: {listed}",
                UnknownSymbolWarning,
                stacklevel=2,
            )
        return ids
