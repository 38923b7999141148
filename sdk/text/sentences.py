"""Lazy sentence splitting for the TTS front-end (runs after ``normalize_text``, also fine on raw text)."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator

from .common import passthrough_spans

__all__ = ["split_sentences"]

# Lower-cased words that take a dot without ending a sentence ("No." only before a number).
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "prof", "mt", "ave", "inc", "ltd", "corp",
     "dept", "approx", "e.g", "i.e"}
)  # fmt: skip
_BOUNDARY_RE = re.compile(
    # The lookbehind lets only the first dot of a "....." run start a match; otherwise a long
    # run that is not followed by whitespace would be rescanned from every dot (quadratic).
    r"(?<![.!?\u2026])(?P<punct>[.!?\u2026]+)(?P<close>[\"'\u201d\u2019)\]}\u00bb]*)(?=\s)"
    r"|\n[^\S\n]*\n\s*"  # blank line: always a paragraph end
    r"|\n"  # single line break: decided by _line_break_ends_sentence
)
_DOTTED_RE = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # "U.S", "e.g", "p.m"
_LINE_BREAK_RE = re.compile(r"\s*\n\s*")
_CLAUSE_MARKS = ",;:"
_LIST_MARKS = "-*\u2022\u2013\u2014\"'\u201c\u2018([#>"
_LOOKBACK = 24  # abbreviations and initials are short; bounding the look-back keeps the scan linear


def _next_char(text: str, pos: int) -> str:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return text[pos] if pos < len(text) else ""


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the single ``.`` at ``dot`` closes an abbreviation, an initial or a list number."""
    i, lo = dot, max(0, dot - _LOOKBACK)
    while i > lo and (text[i - 1].isalnum() or text[i - 1] == "."):
        i -= 1
    word = text[i:dot]
    if not word:
        return False
    low = word.lower()
    if low == "no":
        nxt = _next_char(text, dot + 1)
        return nxt.isdigit() or nxt == "#"
    # A lone capital is an initial ("J. Smith") unless it is a unit after a degree sign or a number
    # ("78°F. Then", "5 V. Next"... only the degree sign is unambiguous enough to end the sentence).
    if low in _ABBREVIATIONS or (len(word) == 1 and word.isupper() and not (i > 0 and text[i - 1] == "\u00b0")):
        return True
    if _DOTTED_RE.fullmatch(word):
        # "a.m."/"p.m." often end a sentence; other dotted acronyms ("U.S.", "e.g.") rarely do.
        return not (low in ("a.m", "p.m") and _next_char(text, dot + 1).isupper())
    if word.isdigit():  # "1. Buy milk": a numbered list item at the start of a line
        j = i
        while j > 0 and text[j - 1] in " \t":
            j -= 1
        return j == 0 or text[j - 1] == "\n"
    return False


def _line_break_ends_sentence(text: str, start: int, end: int) -> bool:
    """A single newline ends a sentence unless the line reads on (hard-wrapped prose)."""
    j = start
    while j > 0 and text[j - 1] in " \t\r":
        j -= 1
    if j == 0 or text[j - 1] in ",;-(\u2013":
        return False
    nxt = _next_char(text, end)
    return not nxt or nxt.isupper() or nxt.isdigit() or nxt in _LIST_MARKS


def _is_boundary(text: str, m: re.Match[str]) -> bool:
    if m.group("punct") is None:
        return m.group().count("\n") > 1 or _line_break_ends_sentence(text, m.start(), m.end())
    punct, close = m.group("punct"), m.group("close")
    if punct == "." and not close:
        return not _is_abbreviation(text, m.start())
    # Dialogue: '"Hi!" she said.' stays one sentence.
    return not (close and close[-1] in "\"'\u201d\u2019" and _next_char(text, m.end()).islower())


def _flatten(piece: str, spans: list[tuple[int, int]]) -> str:
    """Turn line breaks outside ``[[ ]]`` segments into spaces so each sentence is one line."""
    if "\n" not in piece:
        return piece
    out, pos = [], 0
    for s, e in spans:
        out += [_LINE_BREAK_RE.sub(" ", piece[pos:s]), piece[s:e]]
        pos = e
    out.append(_LINE_BREAK_RE.sub(" ", piece[pos:]))
    return "".join(out)


def _find_cut(piece: str, start: int, limit: int, spans: list[tuple[int, int]], starts: list[int]) -> int:
    """Where to end the chunk that begins at ``start`` so that it is at most ``limit - start`` long."""

    def inside(pos: int) -> tuple[int, int] | None:
        k = bisect_right(starts, pos) - 1
        return spans[k] if k >= 0 and spans[k][0] < pos < spans[k][1] else None

    for i in range(limit - 1, start, -1):  # after the last clause mark that is followed by a space
        # (the space check keeps "1,234" whole; len(piece) > limit, so piece[i + 1] exists)
        if piece[i] in _CLAUSE_MARKS and piece[i + 1].isspace() and not inside(i + 1):
            return i + 1
    for i in range(limit, start, -1):  # else at the last space
        if piece[i].isspace() and not inside(i):
            return i
    span = inside(limit)
    if span is None:
        return limit  # else hard, mid-word
    # Never break a [[ ]] segment: end before it, or emit it whole when it starts the chunk.
    return span[0] if span[0] > start else span[1]


def _emit(piece: str, max_chars: int) -> Iterator[str]:
    piece = piece.strip()
    if not piece:
        return
    spans = list(passthrough_spans(piece))
    if "\n" in piece:
        piece = _flatten(piece, spans)
        spans = list(passthrough_spans(piece))
    if len(piece) <= max_chars:
        yield piece
        return
    starts = [s for s, _ in spans]
    start = 0
    while len(piece) - start > max_chars:
        cut = _find_cut(piece, start, start + max_chars, spans, starts)
        chunk = piece[start:cut].strip()
        if chunk:
            yield chunk
        start = cut
        while start < len(piece) and piece[start].isspace():
            start += 1
    tail = piece[start:].strip()
    if tail:
        yield tail


def _split(text: str, max_chars: int) -> Iterator[str]:
    spans = passthrough_spans(text)
    span = next(spans, None)
    start = 0
    for m in _BOUNDARY_RE.finditer(text):
        while span is not None and span[1] <= m.start():
            span = next(spans, None)
        if span is not None and span[0] < m.end() and m.start() < span[1]:
            continue  # never split inside a [[ ]] segment
        if _is_boundary(text, m):
            yield from _emit(text[start : m.end()], max_chars)
            start = m.end()
    yield from _emit(text[start:], max_chars)


def split_sentences(text: str, max_chars: int = 400) -> Iterator[str]:
    """Lazily yield stripped, non-empty sentences of ``text``, none longer than ``max_chars``.

    Splits after . ! ? … (and runs such as "?!" or "...", with closing quotes or brackets) when
    whitespace follows, and at paragraph breaks; not after common abbreviations, initials or inside
    decimals. Over-long sentences are cut at the last clause mark, else space, else hard. An
    unbreakable ``[[ ... ]]`` segment is kept whole even if longer than ``max_chars``.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    return _split(text, max_chars)
