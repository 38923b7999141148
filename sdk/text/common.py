"""Pieces every language's normalizer shares: ``[[ ... ]]`` passthrough, word padding, whitespace."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

__all__ = ["map_plain", "padded", "passthrough_spans", "tidy_whitespace"]

_OPEN, _CLOSE = "[[", "]]"
_HSPACE_RE = re.compile(r"[^\S\n]+")
_LINE_EDGE_RE = re.compile(r" ?\n ?")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def passthrough_spans(text: str) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` of each ``[[ ... ]]`` segment, lazily; an unclosed ``[[`` is plain text."""
    # str.find instead of a regex: a lazy ".*?" rescans to the end for every unclosed "[[",
    # which is quadratic on hostile input.
    pos = 0
    while True:
        start = text.find(_OPEN, pos)
        if start < 0:
            return
        end = text.find(_CLOSE, start + len(_OPEN))
        if end < 0:
            return
        pos = end + len(_CLOSE)
        yield start, pos


def map_plain(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to the text outside ``[[ ... ]]`` segments (copied byte for byte) and strip the ends."""
    if not text or text.isspace():
        return ""
    parts = []
    pos = 0
    for start, end in passthrough_spans(text):
        if start > pos:
            parts.append(fn(text[pos:start]))
        parts.append(text[start:end])
        pos = end
    if pos < len(text):
        parts.append(fn(text[pos:]))
    return "".join(parts).strip()


def padded(fn: Callable[[re.Match[str]], str]) -> Callable[[re.Match[str]], str]:
    """Wrap a substitution so its words never glue onto neighbouring letters ("3D" -> "three D")."""

    def sub(m: re.Match[str]) -> str:
        out = fn(m)
        if out == m.group(0):
            return out
        s, start, end = m.string, m.start(), m.end()
        if start > 0 and s[start - 1].isalnum():
            out = " " + out
        if end < len(s) and s[end].isalnum():
            out += " "
        return out

    return sub


def tidy_whitespace(text: str) -> str:
    """Collapse runs of spaces; keep single and blank-line breaks, which the sentence splitter uses."""
    text = _HSPACE_RE.sub(" ", text)
    text = _LINE_EDGE_RE.sub("\n", text)
    return _BLANK_LINES_RE.sub("\n\n", text)
