"""The calibration corpus and the held-out evaluation sentences shipped with voxport (CC0)."""

from __future__ import annotations

from pathlib import Path

# Which files a language gets is kept with the profiler's cold sentences (numpy-free, onnx-free), which
# read the same files without importing this package: one table for both.
from voxport.tools.profiling.cold import CORPORA, corpus_language

DATA = Path(__file__).parent / "data"
CORPUS, HELDOUT = (DATA / name for name in CORPORA["en"])


def corpus_for(language: str) -> tuple[Path, Path]:
    """The shipped calibration corpus and held-out sentences for `language` ("ja", "en-us", ...); a
    language without texts of its own gets the English ones."""
    corpus, heldout = CORPORA[corpus_language(language)]
    return DATA / corpus, DATA / heldout


def read_sentences(path: str | Path) -> list[str]:
    """One sentence per line; blank lines and surrounding whitespace are ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    sentences = [line.strip() for line in lines if line.strip()]
    if not sentences:
        raise ValueError(f"{path}: no sentences")
    return sentences
