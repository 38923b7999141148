"""Japanese text -> the IPA string Plachtaa's VALL-E X was trained on (its `japanese_to_ipa2` route in
`utils/g2p/japanese.py`): OpenJTalk's full-context labels give phonemes and pitch accent (↑ rise, ↓ fall,
a space between accent phrases), marks between Japanese runs are transliterated (unidecode), then sokuon,
hatsuon and romaji are rewritten to IPA. Written for voxport from a reading of that route; the packages are
the `vallex-ja` extra (pyopenjtalk-plus, which installs as a wheel, provides the `pyopenjtalk` module)."""

from __future__ import annotations

import re

from voxport.families.vallex.extras import require

_JA = r"A-Za-z\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
_JAPANESE = re.compile(f"[{_JA}]")
_MARK = re.compile(f"[^{_JA}]")
_PHONEME = re.compile(r"-([^+]*)\+")
_A1, _A2, _A3 = re.compile(r"/A:(-?[0-9]+)\+"), re.compile(r"\+(\d+)\+"), re.compile(r"\+(\d+)/")
_SILENT = ("sil", "pau")
# Q (sokuon) and N (hatsuon) take the place of the consonant that follows them.
_SOKUON = ((r"Q([↑↓]*[kg])", r"k#\1"), (r"Q([↑↓]*[tdjʧ])", r"t#\1"), (r"Q([↑↓]*[sʃ])", r"s\1"),
           (r"Q([↑↓]*[pb])", r"p#\1"))
_HATSUON = ((r"N([↑↓]*[pbm])", r"m\1"), (r"N([↑↓]*[ʧʥj])", r"n^\1"), (r"N([↑↓]*[tdn])", r"n\1"),
            (r"N([↑↓]*[kg])", r"ŋ\1"))
_ROMAJI = (("u", "ɯ"), ("ʧ", "tʃ"), ("j", "dʑ"), ("y", "j"), ("ni", "n^i"), ("nj", "n^"), ("hi", "çi"),
           ("hj", "ç"), ("f", "ɸ"), ("I", "i*"), ("U", "ɯ*"), ("r", "ɾ"))


def _accent_mark(label: str, following: str) -> str:
    """What follows a phoneme: " " at an accent phrase's end, "↓" after the accent nucleus, "↑" after
    the phrase's first mora when the pitch rises (OpenJTalk's A fields: a1 nucleus distance, a2 the mora's
    position in its phrase, a3 its position from the end)."""
    a1, a2, a3 = (int(p.search(label).group(1)) for p in (_A1, _A2, _A3))
    a2_next = -1 if _PHONEME.search(following).group(1) in _SILENT else int(_A2.search(following).group(1))
    if a3 == 1 and a2_next == 1:
        return " "
    if a1 == 0 and a2_next == a2 + 1:
        return "↓"
    if a2 == 1 and a2_next == 2:
        return "↑"
    return ""


def _romaji_with_accent(run: str) -> str:
    labels = require("vallex-ja", "pyopenjtalk").extract_fullcontext(run)
    out = ""
    # The last label is always the closing silence, so every phoneme has one after it.
    for label, following in zip(labels, labels[1:], strict=False):
        phoneme = _PHONEME.search(label).group(1)
        if phoneme in _SILENT:
            continue
        out += phoneme.replace("ch", "ʧ").replace("sh", "ʃ").replace("cl", "Q") + _accent_mark(label, following)
    return out


def japanese_ipa(text: str) -> str:
    """One stretch of Japanese text as Plachtaa's Japanese IPA."""
    unidecode = require("vallex-ja", "unidecode").unidecode
    text = text.replace("％", "パーセント")
    runs, marks = _MARK.split(text), _MARK.findall(text)
    out = ""
    for i, run in enumerate(runs):
        if _JAPANESE.match(run):
            out += (" " if out else "") + _romaji_with_accent(run)
        if i < len(marks):
            out += unidecode(marks[i]).replace(" ", "")
    out = out.replace("...", "…")
    for pattern, replacement in _SOKUON + _HATSUON:
        out = re.sub(pattern, replacement, out)
    for old, new in _ROMAJI:
        out = out.replace(old, new)
    return out
