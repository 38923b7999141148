"""The text -> phonemes -> ids path for one voice."""

from __future__ import annotations

import json
import os
import threading
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from voxport.errors import FrontendError, UnknownSymbolWarning
from voxport.text.languages import normalizer_for
from voxport.text.phoneme_ids import (
    ESPEAK,
    TEXT,
    PhonemeIdMapper,
    text_phonemes,
    unsupported_phoneme_type,
)
from voxport.text.phonemize import EspeakPhonemizer
from voxport.text.sentences import split_sentences

__all__ = ["CodepointFrontend", "CodepointPhonemizer", "PiperConfig", "TextFrontend", "strip_unspeakable"]

PiperConfig = Mapping[str, Any] | str | os.PathLike[str]  # a parsed .onnx.json, or its path

_RAW_OPEN, _RAW_CLOSE = "[[", "]]"
# Symbols, surrogates, private-use, unassigned: espeak either skips them or reads out their
# Unicode names ("grinning face"), neither of which belongs in speech.
_UNSPEAKABLE_CATEGORIES = frozenset({"So", "Sk", "Cs", "Co", "Cn"})
# Invisible glue inside emoji sequences (ZWJ, variation selectors); dropped next to a removed symbol.
_EMOJI_GLUE = frozenset("\u200d\ufe0e\ufe0f")
_CLOSING_PUNCT = frozenset(".,;:!?)]}")


class TextFrontend:
    """Normalize, split, phonemize and map text to phoneme ids for one Piper-style voice.

    The espeak-ng phonemizer is created on first use and then reused for every call. Front-ends are
    cheap to create and drop: every phonemizer of one espeak voice shares the process's one loaded
    espeak-ng (voxport.text.phonemize), so none of them holds memory of its own.
    """

    def __init__(
        self,
        phoneme_id_map: Mapping[str, Sequence[int]],
        *,
        espeak_voice: str | None = "en-us",
        pad: str = "_",
        bos: str = "^",
        eos: str = "$",
        pad_after_bos: bool = True,
        max_sentence_chars: int = 400,
        phonemizer: EspeakPhonemizer | None = None,
    ) -> None:
        if max_sentence_chars < 1:
            raise FrontendError(f"max_sentence_chars must be positive, got {max_sentence_chars}.")
        self.mapper = PhonemeIdMapper(phoneme_id_map, pad=pad, bos=bos, eos=eos, pad_after_bos=pad_after_bos)
        self.espeak_voice = espeak_voice or "en-us"
        self.max_sentence_chars = max_sentence_chars
        self._phonemizer = phonemizer
        self._phonemizer_lock = threading.Lock()
        self._normalizer: Callable[[str], str] | None = None  # chosen by language on first use
        # Sentences whose ids exceed this are split at a word break (fixed-shape graphs hold no more).
        self.max_ids: int | None = None

    @classmethod
    def from_piper_config(cls, config: PiperConfig, **overrides: Any) -> TextFrontend:
        """Build a frontend from a Piper ``.onnx.json`` config (a dict, or the path to the file).

        Uses ``phoneme_id_map``, ``phoneme_type`` and ``espeak.voice``; keyword ``overrides`` go to the
        constructor. A ``"text"`` voice gets a :class:`CodepointFrontend`; a type voxport cannot
        phonemize raises :class:`FrontendError`.
        """
        if isinstance(config, (str, os.PathLike)):
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        frontend_cls = cls._for_phoneme_type(config.get("phoneme_type", ESPEAK))
        if "phoneme_id_map" not in config:
            raise FrontendError("The Piper config has no phoneme_id_map.")
        espeak = config.get("espeak") or {}
        overrides.setdefault("espeak_voice", espeak.get("voice", "en-us"))
        return frontend_cls(config["phoneme_id_map"], **overrides)

    @classmethod
    def from_manifest(cls, manifest: Any) -> TextFrontend:
        """The front-end a bundle's manifest describes (its phoneme type, id map, espeak voice and markers).

        A type voxport cannot phonemize raises :class:`FrontendError` naming it (never espeak English).
        """
        ph = manifest.phonemizer
        # Bundles written before the type was checked all say "espeak"; a missing type means the same.
        frontend_cls = cls._for_phoneme_type(ph.get("type", ESPEAK))
        markers = {k: ph[k] for k in ("pad", "bos", "eos", "pad_after_bos") if k in ph}
        return frontend_cls(manifest.phoneme_id_map, espeak_voice=ph.get("voice") or "en-us", **markers)

    @classmethod
    def _for_phoneme_type(cls, phoneme_type: object) -> type[TextFrontend]:
        """The front-end class that reads a voice of ``phoneme_type``; FrontendError if none does."""
        reason = unsupported_phoneme_type(phoneme_type)
        if reason is not None:
            raise FrontendError(reason)
        return CodepointFrontend if phoneme_type == TEXT else cls

    @property
    def normalizer(self) -> Callable[[str], str]:
        """The text normalizer of the voice's language (English rules, num2words, or none: see README)."""
        if self._normalizer is None:
            with self._phonemizer_lock:  # so that an uncovered language is logged once per front-end
                if self._normalizer is None:
                    self._normalizer = normalizer_for(self.espeak_voice)
        return self._normalizer

    @property
    def phonemizer(self) -> EspeakPhonemizer:
        """The espeak-ng phonemizer, created once (loading espeak is slow)."""
        if self._phonemizer is None:
            with self._phonemizer_lock:
                if self._phonemizer is None:
                    self._phonemizer = EspeakPhonemizer(self.espeak_voice)
        return self._phonemizer

    def sentences(self, text: str) -> Iterator[str]:
        """Normalized sentences of ``text``, with unspeakable symbols (emoji...) removed.

        Removed characters are reported once per call with an :class:`UnknownSymbolWarning`.
        """
        normalized = self.normalizer(text)
        if not normalized.strip():
            return
        cleaned, removed = strip_unspeakable(normalized)
        if removed:
            listed = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in removed)
            warnings.warn(
                f"Removed {len(removed)} character(s) that cannot be spoken: {listed}",
                UnknownSymbolWarning,
                stacklevel=2,
            )
        for sentence in split_sentences(cleaned, max_chars=self.max_sentence_chars):
            if sentence.strip():
                yield sentence

    def phonemes(self, sentence: str) -> str:
        """IPA phonemes for one sentence; ``[[ ... ]]`` segments are taken as phonemes verbatim."""
        out = ""
        pos = 0
        for start, end in _raw_spans(sentence):
            out += self._phonemize_text(sentence[pos:start])
            # Like Piper, keep the word breaks the text had around a raw block.
            if start > 0 and sentence[start - 1].isspace():
                out = _with_space(out)
            out += sentence[start + len(_RAW_OPEN) : end - len(_RAW_CLOSE)].strip()
            if end < len(sentence) and sentence[end].isspace():
                out = _with_space(out)
            pos = end
        return out + self._phonemize_text(sentence[pos:])

    def ids(self, phonemes: str) -> list[int]:
        """Phoneme ids for a phoneme string (BOS/PAD/EOS included)."""
        return self.mapper.to_ids(phonemes)

    def text_to_ids(self, text: str) -> Iterator[tuple[str, str, list[int]]]:
        """Yield ``(sentence, phonemes, ids)`` lazily, one sentence at a time.

        Sentences with nothing to say are skipped; empty text yields nothing.
        """
        for sentence in self.sentences(text):
            yield from self._sentence_to_ids(sentence)

    def _sentence_to_ids(self, sentence: str) -> Iterator[tuple[str, str, list[int]]]:
        phonemes = self.phonemes(sentence)
        if not phonemes.strip():
            return
        ids = self.ids(phonemes)
        if len(ids) <= self.mapper.num_marker_ids:
            return  # every symbol was unknown (already warned): nothing to speak
        halves = self.halves(sentence) if self.max_ids and len(ids) > self.max_ids else None
        if halves is None:
            yield sentence, phonemes, ids
            return
        for half in halves:
            yield from self._sentence_to_ids(half)

    def halves(self, sentence: str) -> tuple[str, str] | None:
        """Where a sentence too long for the model (`max_ids`) is cut in two: the space nearest its middle;
        None when it has none (it is then spoken whole, and a model with a hard limit refuses it)."""
        return _split_at_middle_space(sentence)

    def _phonemize_text(self, text: str) -> str:
        if not text.strip():
            return ""
        return self.phonemizer.phonemize(text)


class CodepointPhonemizer:
    """The "phonemizer" of a ``"text"`` voice: a word's symbols are its own code points (NFD)."""

    def phonemize(self, text: str) -> str:
        return text_phonemes(text)


class CodepointFrontend(TextFrontend):
    """Front-end of a Piper voice with ``phoneme_type`` ``"text"``: ids straight from the text's code points.

    Reproduces piper-tts 1.8, which trains and speaks such voices on the NFD-decomposed text as is:
    no normalization (digits and abbreviations are read however the voice learned them), no espeak,
    no ``[[ ]]`` phoneme blocks. One difference is kept on purpose: piper-tts speaks the whole text
    as one id sequence, while this front-end still cuts it into sentences (streaming, bucket limits);
    each sentence's ids are exactly piper-tts's ids for that sentence.
    """

    @property
    def phonemizer(self) -> CodepointPhonemizer:  # type: ignore[override]
        """What word timestamps re-phonemize words with: the code points again, never espeak."""
        return CodepointPhonemizer()

    def sentences(self, text: str) -> Iterator[str]:
        """The text's sentences, unnormalized: the voice was trained on raw text."""
        for sentence in split_sentences(text, max_chars=self.max_sentence_chars):
            if sentence.strip():
                yield sentence

    def phonemes(self, sentence: str) -> str:
        """The sentence's NFD code points (``[[`` is plain text, as in piper-tts)."""
        return text_phonemes(sentence)


def strip_unspeakable(text: str) -> tuple[str, list[str]]:
    """Remove emoji and other characters espeak cannot speak, outside ``[[ ... ]]`` segments.

    Returns the cleaned text and the distinct removed characters in order of appearance.
    Removed are Unicode categories So, Sk, Cs, Co, Cn and control characters other than
    whitespace, plus emoji joiners/variation selectors next to a removed character.
    """
    removed: dict[str, None] = {}
    pieces: list[str] = []
    pos = 0
    for start, end in [*_raw_spans(text), (len(text), len(text))]:
        pieces.append(_strip_plain(text[pos:start], removed))
        pieces.append(text[start:end])
        pos = end
    if not removed:
        return text, []
    # Close the gaps left behind ("Hi 👋 there" -> "Hi there"), as normalization would have.
    return "".join(pieces).strip(), list(removed)


def _strip_plain(text: str, removed: dict[str, None]) -> str:
    kept: list[str] = []
    after_removed = False
    for i, ch in enumerate(text):
        if _unspeakable(ch):
            removed[ch] = None
            after_removed = True
            continue
        if ch in _EMOJI_GLUE and (after_removed or (i + 1 < len(text) and _unspeakable(text[i + 1]))):
            continue  # keeps after_removed: glue can chain ("👩\u200d💻")
        if after_removed and ch in " \t" and (not kept or kept[-1] in " \t\n"):
            continue  # the removed symbol stood between two spaces (or at a line start)
        if after_removed and ch in _CLOSING_PUNCT and kept and kept[-1] in " \t":
            kept.pop()  # "tea 😀." -> "tea."
        kept.append(ch)
        after_removed = False
    return "".join(kept)


def _unspeakable(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in _UNSPEAKABLE_CATEGORIES or (category == "Cc" and not ch.isspace())


def _raw_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each ``[[ ... ]]`` segment; an unclosed ``[[`` is plain text."""
    pos = 0
    while (start := text.find(_RAW_OPEN, pos)) >= 0:
        end = text.find(_RAW_CLOSE, start + len(_RAW_OPEN))
        if end < 0:
            return
        pos = end + len(_RAW_CLOSE)
        yield start, pos


def _split_at_middle_space(sentence: str) -> tuple[str, str] | None:
    """The sentence cut at the space nearest its middle, outside `[[ ]]` blocks; None without one."""
    raw = [range(a, b) for a, b in _raw_spans(sentence)]
    spaces = [i for i, ch in enumerate(sentence) if ch == " " and not any(i in r for r in raw)]
    if not spaces:
        return None
    cut = min(spaces, key=lambda i: abs(i - len(sentence) // 2))
    return sentence[:cut].strip(), sentence[cut + 1:].strip()


def _with_space(phonemes: str) -> str:
    """``phonemes`` ending in exactly one space (none if empty)."""
    return phonemes + " " if phonemes and not phonemes.endswith(" ") else phonemes
