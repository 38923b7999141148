"""The calibration corpus and the held-out evaluation sentences shipped with voxport (CC0)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus_en.txt"
HELDOUT = DATA / "heldout_en.txt"
# Languages with texts of their own (else the English ones): the voice's language prefix -> its files.
CORPORA = {"ja": (DATA / "corpus_ja.txt", DATA / "heldout_ja.txt")}


def corpus_for(language: str) -> tuple[Path, Path]:
    """The shipped calibration corpus and held-out sentences for `language` ("ja", "en-us", ...)."""
    return CORPORA.get(language.lower().replace("_", "-").split("-")[0], (CORPUS, HELDOUT))


def read_sentences(path: str | Path) -> list[str]:
    """One sentence per line; blank lines and surrounding whitespace are ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    sentences = [line.strip() for line in lines if line.strip()]
    if not sentences:
        raise ValueError(f"{path}: no sentences")
    return sentences
