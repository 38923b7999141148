"""The text front-end of NVIDIA's Tacotron2 (phonemizer type "tacotron2_text"): cleaned characters and
ARPAbet, one id per symbol.

NVIDIA's `english_cleaners` (keithito/tacotron, kept in DeepLearningExamples) transliterate to ASCII,
lowercase, expand numbers and a list of abbreviations, and collapse whitespace; `{HH AW1 S}` in curly
braces is ARPAbet, each symbol looked up as "@HH", "@AW1", ... in the 148-symbol table. Here numbers,
money, dates and the common abbreviations are read by voxport's English normalizer (`voxport.text`,
which speaks them the same way and knows more forms: "$5.50", "3rd", "10:30"), and only the
abbreviations it lacks come from NVIDIA's list. No pad, BOS or EOS is added around the ids.

`[[ ... ]]`, voxport's phoneme passthrough, is ARPAbet here too: `{...}` is rewritten to it before the
normalizer and the sentence splitter run, which both leave such blocks untouched.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from voxport.errors import FrontendError, UnknownSymbolWarning
from voxport.pipeline.timestamps import PhonemeTime, SentenceTiming, WordTime
from voxport.text.common import map_plain, passthrough_spans
from voxport.text.frontend import TextFrontend
from voxport.text.normalize import normalize_text
from voxport.text.sentences import split_sentences

__all__ = ["CLEANERS", "Tacotron2SymbolMapper", "Tacotron2TextFrontend", "clean_text", "symbol_timing",
           "transliterate"]

# NVIDIA's cleaner pipelines by name: what each does besides lowercasing and collapsing whitespace.
CLEANERS = {"english_cleaners": ("ascii", "english"), "transliteration_cleaners": ("ascii",), "basic_cleaners": ()}

_CURLY_RE = re.compile(r"\{([^{}]*)\}")
_PASSTHROUGH_RE = re.compile(r"\[\[(.*?)\]\]")
_WORD_RE = re.compile(r"\{[^{}]*\}|[^\s{}]+")
_WHITESPACE_RE = re.compile(r"\s+")
# NVIDIA's abbreviations that voxport's normalizer does not read (it reads Mr/Mrs/Dr/St/Jr/Ltd itself,
# Dr and St by context). Only with their dot, as NVIDIA's list; "Ft." only capitalized ("5 ft." is feet).
_EXTRA_ABBREVIATIONS = [(re.compile(rf"\b{abbr}\.", re.IGNORECASE), word) for abbr, word in (
    ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"), ("lt", "lieutenant"),
    ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"), ("esq", "esquire"), ("col", "colonel"),
    ("co", "company"))] + [(re.compile(r"\bFt\."), "Fort")]
# What NFKD plus dropping combining marks cannot make ASCII, in the spirit of unidecode (not a dependency).
_ASCII = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"',
    "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"', "\u2010": "-", "\u2011": "-",
    "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ",
    "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE", "\u00f8": "o", "\u00d8": "O",
    "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D", "\u00f0": "d", "\u00d0": "D", "\u00fe": "th",
    "\u00de": "Th", "\u0131": "i",
})


def transliterate(text: str) -> str:
    """Latin text as ASCII: accents dropped, typographic quotes and dashes made plain. Characters of
    other scripts stay and are dropped (with a warning) by the symbol table."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _expand_extra_abbreviations(text: str) -> str:
    for pattern, word in _EXTRA_ABBREVIATIONS:
        text = pattern.sub(lambda m, w=word: w.capitalize() if m.group(0)[0].isupper() else w, text)
    return text


def clean_text(text: str, cleaners: str = "english_cleaners") -> str:
    """One stretch of plain text (no ARPAbet) as NVIDIA's cleaners leave it, numbers read by voxport."""
    steps = CLEANERS[cleaners]
    if "english" in steps:
        text = normalize_text(_expand_extra_abbreviations(text))
    if "ascii" in steps:
        text = transliterate(text)
    return _WHITESPACE_RE.sub(" ", text.lower())


class Tacotron2SymbolMapper:
    """Symbols of a cleaned sentence ("turn {HH AW1} left") to ids by the manifest's phoneme_id_map: one
    symbol per character, ARPAbet in braces as '@'-prefixed symbols. Also serves `voxport.pipeline.timestamps`-style
    callers: `spans` gives each kept symbol's id range."""

    num_marker_ids = 0  # nothing is added around a sentence's ids

    def __init__(self, phoneme_id_map: Mapping[str, Sequence[int]]) -> None:
        if not phoneme_id_map:
            raise FrontendError("phoneme_id_map is empty.")
        self._map: dict[str, tuple[int, ...]] = {}
        for symbol, ids in phoneme_id_map.items():
            try:
                self._map[symbol] = tuple(int(i) for i in ([ids] if isinstance(ids, int) else ids))
            except (TypeError, ValueError) as exc:
                raise FrontendError(f"phoneme_id_map[{symbol!r}] is not a list of ints: {ids!r}") from exc
        self._map.pop("_", None)  # the pad symbol: never spoken (NVIDIA drops it from text too)
        self._spoken = {i for symbol, ids in self._map.items() if symbol.isalpha() or symbol.startswith("@")
                        for i in ids}

    def speaks(self, ids: Sequence[int]) -> bool:
        """Whether ids hold a letter or an ARPAbet symbol (not only spaces and punctuation)."""
        return any(i in self._spoken for i in ids)

    @property
    def phoneme_id_map(self) -> dict[str, list[int]]:
        return {symbol: list(ids) for symbol, ids in self._map.items()}

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._map

    @staticmethod
    def symbols(phonemes: str) -> list[str]:
        """Every symbol of a cleaned sentence, known or not: characters, and '@'-prefixed ARPAbet."""
        out: list[str] = []
        pos = 0
        for m in _CURLY_RE.finditer(phonemes):
            out += phonemes[pos : m.start()]
            out += ["@" + s for s in m.group(1).split()]
            pos = m.end()
        return out + list(phonemes[pos:])

    def spans(self, phonemes: str) -> list[tuple[str, int, int]]:
        """(symbol, first id index, end id index) of each known symbol, indices into `to_ids`' list."""
        out, pos = [], 0
        for symbol in self.symbols(phonemes):
            ids = self._map.get(symbol)
            if ids is not None:
                out.append((symbol, pos, pos + len(ids)))
                pos += len(ids)
        return out

    def to_ids(self, phonemes: str) -> list[int]:
        """The ids of the known symbols; unknown ones are skipped with one UnknownSymbolWarning."""
        ids: list[int] = []
        unknown: dict[str, None] = {}
        for symbol in self.symbols(phonemes):
            found = self._map.get(symbol)
            if found is None:
                unknown[symbol] = None
            else:
                ids.extend(found)
        if unknown:
            listed = ", ".join(repr(s) if len(s) > 1 else f"{s!r} (U+{ord(s):04X})" for s in unknown)
            warnings.warn(f"Skipped {len(unknown)} symbol(s) not in the voice's symbol table: {listed}",
                          UnknownSymbolWarning, stacklevel=3)
        return ids


class _CleanedWords:
    """What re-reads a word for word timestamps: the cleaners, never espeak."""

    def __init__(self, cleaners: str) -> None:
        self.cleaners = cleaners

    def phonemize(self, text: str) -> str:
        return clean_text(text, self.cleaners).strip()


class Tacotron2TextFrontend(TextFrontend):
    """Text -> (sentence, cleaned symbols, ids) for a Tacotron2 voice. Keyword arguments a Piper voice's
    front-end takes (espeak voice, markers) are accepted and ignored, so the manifest path is shared."""

    def __init__(self, phoneme_id_map: Mapping[str, Sequence[int]], *, cleaners: str = "english_cleaners",
                 max_sentence_chars: int = 400, **_ignored: object) -> None:
        if cleaners not in CLEANERS:
            raise FrontendError(f"unknown Tacotron2 cleaners {cleaners!r}; voxport has {sorted(CLEANERS)}")
        if max_sentence_chars < 1:
            raise FrontendError(f"max_sentence_chars must be positive, got {max_sentence_chars}.")
        self.mapper = Tacotron2SymbolMapper(phoneme_id_map)  # type: ignore[assignment]
        self.cleaners = cleaners
        self.espeak_voice = "en-us"  # the language SSML and the normalizer assume
        self.max_sentence_chars = max_sentence_chars
        self.max_ids: int | None = None

    @property
    def phonemizer(self) -> _CleanedWords:  # type: ignore[override]
        return _CleanedWords(self.cleaners)

    def sentences(self, text: str) -> Iterator[str]:
        """Sentences with numbers and abbreviations read out (english_cleaners), ARPAbet in braces."""
        text = _CURLY_RE.sub(lambda m: f"[[{m.group(1)}]]", text)
        if "english" in CLEANERS[self.cleaners]:
            text = map_plain(text, _expand_extra_abbreviations)
            text = normalize_text(text)
        for sentence in split_sentences(text, max_chars=self.max_sentence_chars):
            if sentence.strip():
                yield _PASSTHROUGH_RE.sub(lambda m: "{" + m.group(1) + "}", sentence)

    def phonemes(self, sentence: str) -> str:
        """The cleaned sentence, ARPAbet back in curly braces (NVIDIA's `sequence_to_text` form)."""
        sentence = _CURLY_RE.sub(lambda m: f"[[{m.group(1)}]]", sentence)
        parts, pos = [], 0
        steps = CLEANERS[self.cleaners]
        for start, end in passthrough_spans(sentence):
            parts.append(self._clean_plain(sentence[pos:start], steps))
            parts.append("{" + " ".join(sentence[start + 2 : end - 2].upper().split()) + "}")
            pos = end
        parts.append(self._clean_plain(sentence[pos:], steps))
        return "".join(parts).strip()

    @staticmethod
    def _clean_plain(text: str, steps: tuple[str, ...]) -> str:
        # Numbers and abbreviations were read for the whole text in `sentences`.
        if "ascii" in steps:
            text = transliterate(text)
        return _WHITESPACE_RE.sub(" ", text.lower())

    def ids(self, phonemes: str) -> list[int]:
        return self.mapper.to_ids(phonemes)

    def _sentence_to_ids(self, sentence: str) -> Iterator[tuple[str, str, list[int]]]:
        # A sentence of spaces and punctuation only (all else was unknown) has nothing to say.
        for item in super()._sentence_to_ids(sentence):
            if self.mapper.speaks(item[2]):
                yield item


def symbol_timing(text: str, phonemes: str, mapper: Tacotron2SymbolMapper, frames: np.ndarray, hop_length: int,
                  sample_rate: int, offset_samples: int = 0) -> SentenceTiming:
    """Times of each symbol from the frames the decoder's attention spent on its ids, and of each word
    (symbols between spaces). Words take the sentence's words as labels when the counts agree."""
    starts = np.concatenate([[0], np.cumsum(frames)])
    base, per_frame = offset_samples / sample_rate, hop_length / sample_rate

    def at(index: int) -> float:
        return base + float(starts[min(index, len(starts) - 1)]) * per_frame

    times = tuple(PhonemeTime(symbol, at(a), at(b)) for symbol, a, b in mapper.spans(phonemes))
    groups: list[list[PhonemeTime]] = [[]]
    for t in times:
        if t.phoneme == " ":
            groups.append([])
        elif t.phoneme.startswith("@") or t.phoneme.isalnum():
            groups[-1].append(t)
    groups = [g for g in groups if g]
    # An ARPAbet block is one word however many symbols it has.
    labels = [w for w in (word if word.startswith("{") else word.strip(".,;:!?\"'()[]-")
                          for word in _WORD_RE.findall(text)) if w]
    aligned = len(labels) == len(groups)
    spelled = ["".join(t.phoneme for t in g) for g in groups]
    words = tuple(WordTime(label, symbols, g[0].start, g[-1].end)
                  for label, symbols, g in zip(labels if aligned else spelled, spelled, groups, strict=True))
    return SentenceTiming(text, at(0), at(len(frames)), times, words, aligned)
