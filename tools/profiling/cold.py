"""Sentences a process has not spoken before, for the cold figure beside every warm one.

Real text never repeats a sentence, and each new sentence is a new input shape (ids length, frames);
a compiling backend (OpenVINO) pays for a shape the first time it sees it, so a figure measured by
repeating the same sentences hides that cost. The cold sentences come from the CC0 text shipped with
voxport (calibration/data: corpus and held-out set) in the voice's language, are distinct from each other
and from the warm texts, and are the same for every configuration (fixed seed): each process speaks each
of them once.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterable, Sequence
from importlib.util import find_spec
from pathlib import Path

# The voice's language prefix -> the corpus and held-out files in calibration/data, for these cold
# sentences and for calibration (voxport.calibration.corpus reads this table; this module cannot import
# that package, whose __init__ pulls in the quantizers and onnx). A language without texts of its own
# gets the English ones.
CORPORA: dict[str, tuple[str, str]] = {
    "en": ("corpus_en.txt", "heldout_en.txt"),
    "ja": ("corpus_ja.txt", "heldout_ja.txt"),
}
CORPUS_FILES = CORPORA["en"]
# Short sentences for time to first audio: long enough to be a real request, short enough that the
# first chunk is most of the sentence (the case where streaming has the least room to help).
SHORT_WORDS = (8, 10)
# Japanese has no spaces between words, so its short sentences are counted in characters (kana, kanji,
# digits; punctuation left out): 12-18 is about as much speech as 8-10 English words, and 17 of the 60
# shipped Japanese sentences fall in it, enough for the default 8 cold ones.
SHORT_LENGTH: dict[str, tuple[int, int]] = {"en": SHORT_WORDS, "ja": (12, 18)}
UNITS = {"en": "words", "ja": "characters"}


def corpus_language(language: str = "en") -> str:
    """The key of the texts a voice speaking `language` ("ja", "ja_JP", "en-us", "de") gets: its own
    when voxport ships some, else "en"."""
    prefix = language.lower().replace("_", "-").split("-")[0]
    return prefix if prefix in CORPORA else "en"


def corpus_dir() -> Path:
    """calibration/data, found without importing voxport.calibration (its __init__ pulls in the quantizers)."""
    spec = find_spec("voxport.calibration")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("voxport.calibration is not installed: no corpus to draw cold sentences from")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def corpus_sentences(directory: Path | None = None, language: str = "en") -> list[str]:
    """Every corpus sentence of `language` once, in file order."""
    directory = directory or corpus_dir()
    files = CORPORA[corpus_language(language)]
    if not all((directory / name).is_file() for name in files):
        raise FileNotFoundError(f"{directory}: the corpus the cold sentences come from is not installed "
                                "(a source checkout has it); ask for 0 cold sentences to measure warm only")
    lines = [line.strip() for name in files for line in (directory / name).read_text("utf-8").splitlines()]
    return list(dict.fromkeys(line for line in lines if line))


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def word_count(text: str) -> int:
    return len(text.split())


def char_count(text: str) -> int:
    """Letters and digits (kana, kanji, Latin, numerals); punctuation and spaces are not spoken as such."""
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")


def text_length(text: str, language: str = "en") -> int:
    """A sentence's length in its language's unit (UNITS): words, or characters for Japanese."""
    return char_count(text) if UNITS[corpus_language(language)] == "characters" else word_count(text)


def draw_cold_texts(
    count: int,
    *,
    words: tuple[int, int] | None = None,
    exclude: Iterable[str] = (),
    seed: int = 0,
    pool: Sequence[str] | None = None,
    language: str = "en",
) -> list[str]:
    """`count` distinct corpus sentences of `language`, none of them in `exclude` (compared ignoring case
    and spacing), with a length in `words` (inclusive; in the language's unit, see text_length) when
    given. The same arguments give the same sentences."""
    if count <= 0:
        return []
    excluded = {_key(t) for t in exclude}
    sentences = pool if pool is not None else corpus_sentences(language=language)
    candidates = [s for s in sentences if _key(s) not in excluded]
    if words is not None:
        candidates = [s for s in candidates if words[0] <= text_length(s, language) <= words[1]]
    candidates = list({_key(s): s for s in candidates}.values())
    if len(candidates) < count:
        scope = f" of {words[0]}-{words[1]} {UNITS[corpus_language(language)]}" if words else ""
        raise ValueError(f"asked for {count} cold sentences{scope}; the corpus has {len(candidates)} unused")
    return random.Random(seed).sample(candidates, count)


def draw_cold_sets(
    long_count: int, short_count: int, exclude: Iterable[str] = (), seed: int = 0, language: str = "en"
) -> tuple[list[str], list[str]]:
    """Two disjoint sets from `language`'s corpus: `long_count` sentences of any length (RTF; real text
    mixes lengths) and `short_count` short ones (SHORT_LENGTH; time to first audio), none in `exclude`."""
    exclude = list(exclude)
    short_range = SHORT_LENGTH[corpus_language(language)]
    short = draw_cold_texts(short_count, words=short_range, exclude=exclude, seed=seed, language=language)
    return draw_cold_texts(long_count, exclude=[*exclude, *short], seed=seed, language=language), short
