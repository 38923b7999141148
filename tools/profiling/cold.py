"""Sentences a process has not spoken before, for the cold figure beside every warm one.

Real text never repeats a sentence, and each new sentence is a new input shape (ids length, frames);
a compiling backend (OpenVINO) pays for a shape the first time it sees it, so a figure measured by
repeating the same sentences hides that cost. The cold sentences come from the CC0 text shipped with
voxport (calibration/data: corpus and held-out set), are distinct from each other and from the warm
texts, and are the same for every configuration (fixed seed): each process speaks each of them once.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from importlib.util import find_spec
from pathlib import Path

CORPUS_FILES = ("corpus_en.txt", "heldout_en.txt")
# Short sentences for time to first audio: long enough to be a real request, short enough that the
# first chunk is most of the sentence (the case where streaming has the least room to help).
SHORT_WORDS = (8, 10)


def corpus_dir() -> Path:
    """calibration/data, found without importing voxport.calibration (its __init__ pulls in the quantizers)."""
    spec = find_spec("voxport.calibration")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("voxport.calibration is not installed: no corpus to draw cold sentences from")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def corpus_sentences(directory: Path | None = None) -> list[str]:
    """Every corpus sentence once, in file order."""
    directory = directory or corpus_dir()
    if not all((directory / name).is_file() for name in CORPUS_FILES):
        raise FileNotFoundError(f"{directory}: the corpus the cold sentences come from is not installed "
                                "(a source checkout has it); ask for 0 cold sentences to measure warm only")
    lines = [line.strip() for name in CORPUS_FILES for line in (directory / name).read_text("utf-8").splitlines()]
    return list(dict.fromkeys(line for line in lines if line))


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def word_count(text: str) -> int:
    return len(text.split())


def draw_cold_texts(
    count: int,
    *,
    words: tuple[int, int] | None = None,
    exclude: Iterable[str] = (),
    seed: int = 0,
    pool: Sequence[str] | None = None,
) -> list[str]:
    """`count` distinct corpus sentences, none of them in `exclude` (compared ignoring case and spacing),
    with a word count in `words` (inclusive) when given. The same arguments give the same sentences."""
    if count <= 0:
        return []
    excluded = {_key(t) for t in exclude}
    candidates = [s for s in (pool if pool is not None else corpus_sentences()) if _key(s) not in excluded]
    if words is not None:
        candidates = [s for s in candidates if words[0] <= word_count(s) <= words[1]]
    candidates = list({_key(s): s for s in candidates}.values())
    if len(candidates) < count:
        scope = f" of {words[0]}-{words[1]} words" if words else ""
        raise ValueError(f"asked for {count} cold sentences{scope}; the corpus has {len(candidates)} unused")
    return random.Random(seed).sample(candidates, count)


def draw_cold_sets(
    long_count: int, short_count: int, exclude: Iterable[str] = (), seed: int = 0
) -> tuple[list[str], list[str]]:
    """Two disjoint sets: `long_count` sentences of any length (RTF; real text mixes lengths) and
    `short_count` of SHORT_WORDS words (time to first audio), none in `exclude`."""
    exclude = list(exclude)
    short = draw_cold_texts(short_count, words=SHORT_WORDS, exclude=exclude, seed=seed)
    return draw_cold_texts(long_count, exclude=[*exclude, *short], seed=seed), short
