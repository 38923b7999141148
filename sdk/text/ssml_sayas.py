"""What `<say-as interpret-as="...">` turns its content into: text the voice's normalizer then reads right.

English gets words (American style, like voxport.text.normalize). Languages with a num2words normalizer
(voxport.text.languages) get number words in their language; dates there are left as written (espeak-ng
reads numeric dates). Other languages get digits and letters spaced out, which espeak-ng reads one by one.
Content that does not fit the interpretation (`cardinal` of "abc") is spoken as written, with a warning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

from voxport.text.numbers import (
    MONTHS,
    date_to_words,
    digits_to_words,
    int_to_words,
    number_to_words,
    ordinal_words,
    time_to_words,
    year_to_words,
)

__all__ = ["INTERPRETATIONS", "SsmlWarning", "say_as"]


class SsmlWarning(UserWarning):
    """Well-formed SSML that voxport skips in part (an unknown tag or interpretation); the text is spoken."""


# interpret-as values and their aliases (other engines' names for the same reading).
INTERPRETATIONS = {
    "characters": "characters", "spell-out": "characters", "verbatim": "characters", "letters": "characters",
    "cardinal": "cardinal", "number": "cardinal",
    "ordinal": "ordinal",
    "digits": "digits",
    "date": "date",
    "time": "time",
    "telephone": "telephone", "phone": "telephone",
}
_LETTER_A_EN = "[[ ˈeɪ ]]"  # espeak reads a lone "a" as the article "ɐ"; the letter is "ˈeɪ"
_DATE_FORMATS = {"mdy", "dmy", "ymd", "md", "dm", "ym", "my", "d", "m", "y"}


def say_as(interpret_as: str, content: str, fmt: str | None, language: str) -> str:
    """The text to speak for `<say-as interpret-as=interpret_as format=fmt>content</say-as>`.

    `language` is the voice's espeak-ng voice name ("en-us", "de", ...). An unknown interpretation or
    content that does not fit it gives `content` unchanged and an :class:`SsmlWarning`.
    """
    kind = INTERPRETATIONS.get(interpret_as.strip().lower())
    if kind is None:
        warnings.warn(f'SSML <say-as interpret-as="{interpret_as}"> is not supported: its text is spoken as written '
                      f"(supported: {', '.join(sorted(set(INTERPRETATIONS.values())))})", SsmlWarning, stacklevel=3)
        return content
    words = _READERS[kind](content.strip(), fmt, _Language(language))
    if words is None:
        warnings.warn(f'SSML <say-as interpret-as="{interpret_as}">: {content.strip()!r} cannot be read as '
                      f"{kind}; it is spoken as written", SsmlWarning, stacklevel=3)
        return content
    return words


class _Language:
    """English rules, a num2words normalizer, or neither (spaced digits for espeak-ng)."""

    def __init__(self, voice: str) -> None:
        voice = (voice or "en-us").strip().lower()
        self.english = voice == "en" or voice.startswith("en-")
        self.intl = None
        if not self.english:
            from voxport.text.languages import rules_for

            rules = rules_for(voice)
            if rules is not None:
                from voxport.text.intl import LanguageNormalizer

                self.intl = LanguageNormalizer(rules)

    def digits(self, digits: str) -> str:
        if self.english:
            return digits_to_words(digits)
        if self.intl is not None:
            return self.intl.digits_words(digits)
        return " ".join(digits)


_NUMBER = re.compile(r"[-\u2212]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")


def _characters(content: str, fmt: str | None, lang: _Language) -> str | None:
    chars = [ch for ch in content if ch.isalnum()]
    if not chars:
        return None
    out = []
    for ch in chars:
        if ch.isdecimal():
            out.append(lang.digits(ch))
        elif lang.english and ch in "aA":
            out.append(_LETTER_A_EN)
        else:
            out.append(ch.upper())
    return " ".join(out)


def _cardinal(content: str, fmt: str | None, lang: _Language) -> str | None:
    if lang.english:
        return number_to_words(content) if _NUMBER.fullmatch(content) else None
    if not re.fullmatch(r"[-\u2212]?\d[\d.,\s]*", content):
        return None
    if lang.intl is None:
        return content
    sign = f"{lang.intl.rules.minus} " if content[0] in "-\u2212" else ""
    try:
        return sign + lang.intl.number_words(content.lstrip("-\u2212"))
    except (ValueError, ArithmeticError):
        return None


def _ordinal(content: str, fmt: str | None, lang: _Language) -> str | None:
    m = re.fullmatch(r"(\d+)(?:st|nd|rd|th|\.|º|ª|er|e|re)?", content)
    if m is None:
        return None
    n = int(m.group(1))
    if lang.english:
        return ordinal_words(n)
    if lang.intl is not None:
        return lang.intl._say(n, "ordinal")
    return content


def _digits(content: str, fmt: str | None, lang: _Language) -> str | None:
    digits = re.sub(r"[\s\-.,]", "", content)
    return lang.digits(digits) if digits.isdecimal() else None


def _telephone(content: str, fmt: str | None, lang: _Language) -> str | None:
    """Digit by digit, a pause (comma) between the groups as written; a leading + is "plus"."""
    text = content.strip()
    plus = text.startswith("+")
    groups = re.findall(r"\d+", text)
    if not groups or re.sub(r"[\d\s\-.()/+]", "", text):
        return None
    words = ", ".join(lang.digits(g) for g in groups)
    return (("plus " if lang.english else "+ ") + words) if plus else words


def _time(content: str, fmt: str | None, lang: _Language) -> str | None:
    m = re.fullmatch(r"(\d{1,2})(?:[:.h](\d{2}))?(?::(\d{2}))?\s*([ap]\.?m\.?)?", content.strip(), re.IGNORECASE)
    if m is None:
        return None
    hour, minute, second = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    if lang.english:
        words = time_to_words(hour, minute, second, has_ampm=bool(m.group(4)))
        if words is not None and m.group(4):
            words += " " + " ".join(m.group(4).replace(".", "").upper())
        return words
    if lang.intl is not None:
        return lang.intl.time_words(hour, minute)
    return content


def _date(content: str, fmt: str | None, lang: _Language) -> str | None:
    """English: "January fifth, twenty twenty-four". `format` orders the fields (mdy, dmy, ymd, md, dm,
    ym, my, d, m, y); without it, four leading digits mean ymd (ISO), else mdy. Elsewhere: as written."""
    parts = re.split(r"[-/.\s]+", content.strip())
    if not all(p.isdecimal() for p in parts):
        return None
    if fmt is not None and fmt not in _DATE_FORMATS:
        return None
    order = fmt or ("ymd" if len(parts[0]) == 4 else "mdy"[: len(parts)] if len(parts) >= 2 else "y")
    if len(order) != len(parts):
        return None
    if not lang.english:
        return content
    fields = dict(zip(order, parts, strict=True))
    month = int(fields["m"]) if "m" in fields else None
    day = int(fields["d"]) if "d" in fields else None
    year = fields.get("y")
    if month is not None and not 1 <= month <= 12 or day is not None and not 1 <= day <= 31:
        return None
    if month is not None and day is not None:
        return date_to_words(month, day, year)
    if month is not None:
        return f"{MONTHS[month - 1]} {year_to_words(int(year))}" if year else MONTHS[month - 1]
    if day is not None:
        return f"the {ordinal_words(day)}"
    return year_to_words(int(year)) if year and len(year) == 4 else (int_to_words(int(year)) if year else None)


_READERS: dict[str, Callable[[str, str | None, _Language], str | None]] = {
    "characters": _characters, "cardinal": _cardinal, "ordinal": _ordinal, "digits": _digits,
    "date": _date, "time": _time, "telephone": _telephone,
}
