"""Phoneme- and word-level times from the durations the duration predictor chose.

Times come from the same integer frame counts that length regulation used, so they are exact for the
audio produced (to one hop): apps can highlight text or drive lip-sync from them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from voxport.phoneme_ids import PhonemeIdMapper


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
    words_aligned: bool  # False when espeak merged or split words, so words carry phoneme labels


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
) -> SentenceTiming:
    """Times of each phoneme symbol (its ids plus the PAD after it) and of each word."""
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
    aligned = len(text_words) == len(groups)
    words = tuple(
        WordTime(
            text_words[i] if aligned else "".join(p.phoneme for p in g),
            "".join(p.phoneme for p in g),
            g[0].start,
            g[-1].end,
        )
        for i, g in enumerate(groups)
    )
    return SentenceTiming(text, at(0), at(len(frames)), phone_times, words, aligned)
