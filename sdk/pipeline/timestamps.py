"""Phoneme- and word-level times from the durations the duration predictor chose.

Times come from the same integer frame counts that length regulation used, so they are exact for the
audio produced (to one hop): apps can highlight text or drive lip-sync from them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from voxport.text.phoneme_ids import PhonemeIdMapper


@dataclass(frozen=True)
class PhonemeTime:
    phoneme: str
    start: float  # seconds from the start of the audio stream
    end: float


@dataclass(frozen=True)
class WordTime:
    word: str  # the (normalized) text word, or its phonemes where words and phoneme groups differ in number
    phonemes: str
    start: float
    end: float


@dataclass(frozen=True)
class SentenceTiming:
    text: str
    start: float
    end: float
    phonemes: tuple[PhonemeTime, ...]
    words: tuple[WordTime, ...]
    words_aligned: bool  # False when words could not be matched to phoneme groups (labels are phonemes)


def _is_word_symbol(symbol: str) -> bool:
    return not symbol.isspace() and not unicodedata.category(symbol).startswith("P")


def sentence_timing(
    text: str,
    phonemes: str,
    mapper: PhonemeIdMapper,
    frames: np.ndarray,
    hop_length: int,
    sample_rate: int,
    offset_samples: int = 0,
    phonemize_word: Callable[[str], str] | None = None,
) -> SentenceTiming:
    """Times of each phoneme symbol (its ids plus the PAD after it) and of each word.

    espeak joins some words into one phoneme group ("from the" -> "fɹʌmðə") and splits others
    ("twenty-four"); when text words and groups differ in number, `phonemize_word` (each word on its
    own) lets them be aligned, and a joined group's time is shared by its words in proportion to
    their phoneme counts.
    """
    frame_starts = np.concatenate([[0], np.cumsum(frames)])
    seconds_per_frame = hop_length / sample_rate
    base = offset_samples / sample_rate

    def at(index: int) -> float:
        return base + float(frame_starts[index]) * seconds_per_frame

    spans = mapper.spans(phonemes)
    phone_times = tuple(PhonemeTime(sym, at(a), at(b)) for sym, a, b in spans)

    groups: list[list[PhonemeTime]] = [[]]
    for pt in phone_times:
        if _is_word_symbol(pt.phoneme):
            groups[-1].append(pt)
        elif groups[-1]:
            groups.append([])
    groups = [g for g in groups if g]
    text_words = [w for w in (t.strip(".,;:!?\"'()[]{}…—-") for t in text.split()) if w]
    if len(text_words) == len(groups):
        words = tuple(_word(w, g) for w, g in zip(text_words, groups, strict=True))
        aligned = True
    elif phonemize_word is not None and text_words:
        words = tuple(_align(text_words, groups, phonemize_word))
        aligned = True
    else:
        words = tuple(_word("".join(p.phoneme for p in g), g) for g in groups)
        aligned = False
    return SentenceTiming(text, at(0), at(len(frames)), phone_times, words, aligned)


def _word(word: str, group: list[PhonemeTime]) -> WordTime:
    return WordTime(word, "".join(p.phoneme for p in group), group[0].start, group[-1].end)


def _align(words: list[str], groups: list[list[PhonemeTime]], phonemize_word: Callable[[str], str]) -> list[WordTime]:
    """Dynamic-programming match of words to phoneme groups: 1:1, k words:1 group, 1 word:k groups."""
    word_ph = [_letters(phonemize_word(w)) for w in words]
    group_ph = ["".join(p.phoneme for p in g if _is_word_symbol(p.phoneme)) for g in groups]
    n_w, n_g = len(words), len(groups)
    inf = float("inf")
    cost = [[inf] * (n_g + 1) for _ in range(n_w + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (n_g + 1) for _ in range(n_w + 1)]
    cost[0][0] = 0.0
    # Words and groups drift apart by at most a few joins/splits: a band keeps this linear in length.
    band = abs(n_w - n_g) + 6
    for i in range(n_w + 1):
        for j in range(max(0, i - band), min(n_g, i + band) + 1):
            if cost[i][j] == inf:
                continue
            for dw, dg in ((1, 1), (2, 1), (3, 1), (1, 2), (1, 3)):
                if i + dw > n_w or j + dg > n_g:
                    continue
                a, b = "".join(word_ph[i : i + dw]), "".join(group_ph[j : j + dg])
                c = cost[i][j] + 1.0 - SequenceMatcher(None, a, b).ratio() + 0.01 * (dw + dg - 2)
                if c < cost[i + dw][j + dg]:
                    cost[i + dw][j + dg], back[i + dw][j + dg] = c, (dw, dg)
    steps, i, j = [], n_w, n_g
    while (i, j) != (0, 0):
        dw, dg = back[i][j]  # type: ignore[misc]
        steps.append((i - dw, dw, j - dg, dg))
        i, j = i - dw, j - dg
    out: list[WordTime] = []
    for wi, dw, gj, dg in reversed(steps):
        phones = [p for g in groups[gj : gj + dg] for p in g]
        if dw == 1:
            out.append(_word(words[wi], phones))
            continue
        # Several words spoken as one group: share its phonemes in proportion to each word's length.
        lengths = np.array([max(1, len(word_ph[wi + k])) for k in range(dw)], float)
        cuts = np.round(np.cumsum(lengths) / lengths.sum() * len(phones)).astype(int)
        lo = 0
        for k in range(dw):
            hi = max(lo + 1, min(len(phones) - (dw - 1 - k), cuts[k]))
            # A group with fewer phonemes than the words it holds (a sparse vocabulary dropped symbols): the
            # words past its end are spoken at its end, with no duration, rather than failing.
            out.append(_word(words[wi + k], phones[lo:hi]) if lo < len(phones) else
                       WordTime(words[wi + k], "", phones[-1].end, phones[-1].end))
            lo = hi
    return out


def _letters(phonemes: str) -> str:
    return "".join(ch for ch in phonemes if _is_word_symbol(ch))
