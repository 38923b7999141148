"""Tests for voxport.text.sentences (lazy sentence splitting)."""

from __future__ import annotations

import inspect
import re
import time

import pytest
from support.scaling import assert_linear

from voxport.text import normalize_text, sentences, split_sentences


def split(text: str, max_chars: int = 400) -> list[str]:
    return list(split_sentences(text, max_chars))


def test_basic_terminators() -> None:
    text = "Hello there. How are you? I'm fine!! Great...  Really?! Yes\u2026 Done."
    expected = ["Hello there.", "How are you?", "I'm fine!!", "Great...", "Really?!", "Yes\u2026", "Done."]
    assert split(text) == expected


def test_closing_quotes_and_brackets_stay_with_sentence() -> None:
    assert split('He said "Go." Then left. (Really.) Yes! [Sure!] Ok.') == [
        'He said "Go."',
        "Then left.",
        "(Really.)",
        "Yes!",
        "[Sure!]",
        "Ok.",
    ]


def test_dialogue_tag_is_not_split() -> None:
    assert split('"Hi!" she said. "Bye." Then he left.') == ['"Hi!" she said.', '"Bye."', "Then he left."]


@pytest.mark.parametrize(
    "text",
    [
        "Mr. Smith met Dr. Jones.",
        "Mrs. and Ms. Lee live on St. Mark's Pl.",
        "John Smith Jr. and Sr. Smith came.",
        "Cats vs. dogs is old.",
        "Apples, pears, etc. are fruit.",
        "Fruit, e.g. apples, is fine.",
        "One, i.e. the first, won.",
        "J. R. R. Tolkien wrote it.",
        "The U.S. economy grew.",
        "Pi is 3.14 or so.",
        "Take No. 5 home.",
    ],
)
def test_no_split_after_abbreviations_initials_decimals(text: str) -> None:
    assert split(text) == [text]


def test_a_degree_unit_ends_a_sentence_where_an_initial_would_not() -> None:
    # Found by the serve soak: "425°F. Grace, ..." was one sentence, so a streaming client waited for it.
    assert split("Preheat the oven to 425°F. Grace, go!") == ["Preheat the oven to 425°F.", "Grace, go!"]
    assert split("It is 20 °C. Wear a coat.") == ["It is 20 °C.", "Wear a coat."]


def test_no_is_a_word_when_no_number_follows() -> None:
    assert split("I said no. Then I left.") == ["I said no.", "Then I left."]


def test_paragraph_and_line_breaks() -> None:
    text = "Line one of a\nwrapped sentence.\n\nSecond paragraph\n\nThird.\nNew line Starts here"
    expected = ["Line one of a wrapped sentence.", "Second paragraph", "Third.", "New line Starts here"]
    assert split(text) == expected


def test_list_lines() -> None:
    text = "Ingredients:\n- eggs\n- milk\n1. Mix\n2. Bake"
    assert split(text) == ["Ingredients:", "- eggs", "- milk", "1. Mix", "2. Bake"]


def test_never_splits_inside_passthrough() -> None:
    seg = "[[h\u0259. \u02c8lo\u028a!\n\nw\u025dld? ok.]]"
    assert split(f"Say {seg} now. Next.") == [f"Say {seg} now.", "Next."]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", " \t\n \n"])
def test_empty_and_blank(text: str) -> None:
    assert split(text) == []


def test_pieces_are_stripped_and_non_empty() -> None:
    assert split("  One.   \n\n   Two.  ") == ["One.", "Two."]


def test_long_sentence_prefers_clause_marks_then_spaces_then_hard() -> None:
    assert split("alpha beta, gamma delta epsilon", 20) == ["alpha beta,", "gamma delta epsilon"]
    assert split("word " * 10, 12) == ["word word", "word word", "word word", "word word", "word word"]
    assert split("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split("1,234,567 and more words here", 12) == ["1,234,567", "and more", "words here"]


def test_long_passthrough_is_kept_whole() -> None:
    seg = "[[" + "a b " * 10 + "]]"
    assert split(f"short {seg} end", 10) == ["short", seg, "end"]


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_sentences("x", 0)


def test_is_lazy() -> None:
    gen = split_sentences("One. Two. Three.")
    assert inspect.isgenerator(gen)
    assert next(gen) == "One."


def test_first_sentence_does_not_process_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_emit = sentences._emit

    def counting_emit(piece: str, max_chars: int):  # type: ignore[no-untyped-def]
        calls.append(len(piece))
        return real_emit(piece, max_chars)

    monkeypatch.setattr(sentences, "_emit", counting_emit)
    huge = "Hello there, this is a sentence. " * 200_000  # 6.6 M characters
    start = time.perf_counter()
    first = next(split_sentences(huge))
    elapsed = time.perf_counter() - start
    assert first == "Hello there, this is a sentence."
    assert len(calls) == 1
    assert elapsed < 0.5


_MIXED = (
    "On January 5, 2024 at 3:30 pm, Dr. Smith paid $1,234.56 (about 50%) for 3.5 kg of apples at 42nd St. "
    "in 1999, vs. 2005! [[h\u0259.lo\u028a]] Wow \U0001f600 e.g. 12:00 and 1/5/2024... A very long clause "
    + "that keeps going and going " * 20
    + "without a stop\n\nNew paragraph here. "
)


@pytest.mark.parametrize("max_chars", [400, 80])
def test_100k_normalize_then_split(max_chars: int) -> None:
    def mixed(n: int) -> str:
        return (_MIXED * (n // len(_MIXED) + 1))[:n]

    text = normalize_text(mixed(100_000))
    pieces = list(split_sentences(text, max_chars))
    assert_linear(lambda n: list(split_sentences(normalize_text(mixed(n)), max_chars)), 100_000,
                  "normalize then split")
    assert pieces and all(0 < len(p) <= max_chars for p in pieces)
    assert all(p == p.strip() for p in pieces)
    # Nothing lost, nothing reordered.
    assert " ".join(pieces).split() == text.split()
    assert re.sub(r"\s+", "", "".join(pieces)) == re.sub(r"\s+", "", text)


@pytest.mark.parametrize("unit", [".", ". ", "A. ", "a\n", "[[", "[[a]]", "!?", ", ", " \n", "x"])
def test_pathological_inputs_stay_linear(unit: str) -> None:
    text = unit * (100_000 // len(unit))
    pieces = list(split_sentences(text))
    assert_linear(lambda n: list(split_sentences(unit * (n // len(unit)))), 100_000, f"split_sentences on {unit!r} * n")
    assert all(len(p) <= 400 for p in pieces)
    assert re.sub(r"\s+", "", "".join(pieces)) == re.sub(r"\s+", "", text)
