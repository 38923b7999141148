"""English text normalization for the TTS front-end.

Rewrites numbers, money, percentages, times, dates, units and common abbreviations as
words that espeak-ng reads correctly. ``[[ ... ]]`` phoneme passthrough segments are
copied byte for byte; emoji and other symbols are left for a later stage.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .common import map_plain, padded, passthrough_spans, tidy_whitespace
from .numbers import (
    MONTHS,
    UNITS,
    date_to_words,
    digits_to_words,
    fraction_to_words,
    int_to_words,
    money_to_words,
    number_to_words,
    ordinal_words,
    pluralize_words,
    time_to_words,
    year_to_words,
)

__all__ = ["normalize_text", "passthrough_spans"]

# Shared pieces

_H = r"[^\S\n]"  # horizontal whitespace: newlines carry paragraph structure for the splitter
_BODY = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
# A number never starts inside another one: "(?<!\d,)" also keeps "1,234,567..." from being
# rescanned from every group, which would be quadratic. A leading "-" is a sign only when it
# does not follow a word ("10-20" is a range).
_NO_MID = r"(?<![\d.])(?<!\d,)"
_SIGNED = rf"(?P<num>(?:(?<![\w.])[-\u2212])?{_NO_MID}{_BODY})"
_AMPM = r"(?P<ampm>[AaPp]\.[Mm]\.|[AaPp][Mm]\b)"

_STARTER_WORDS = (
    "The A An It I He She We They You This That These Those There Then But And So Or In On At If When "
    "After Before My Our His Her Their Its As Now Yes No What Why How Where Who"
)
_STARTERS = frozenset(_STARTER_WORDS.split())  # capitalized words that usually open a sentence
_NEXT_WORD_RE = re.compile(r"[\"'\u201c\u2018(]?([A-Za-z][\w'\u2019]*)")
_NAME_RE = re.compile(r"[A-Z][\w'\u2019-]*|\d+(?:st|nd|rd|th)?")
_WINDOW = 48  # context look-ups are bounded so that the whole pass stays linear


def _next_word(s: str, end: int) -> tuple[str | None, bool]:
    """The word after ``end`` (or None) and whether a line/text break comes first."""
    after = s[end : end + _WINDOW]
    rest = after.lstrip(" \t")
    if not rest:
        return None, end + len(after) >= len(s)
    if rest[0] == "\n":
        return None, True
    m = _NEXT_WORD_RE.match(rest)
    return (m.group(1) if m else None), False


def _ends_sentence(s: str, end: int, any_capital: bool = False) -> bool:
    """Guess whether a dot we are about to drop at ``end`` was also the sentence's full stop."""
    word, at_break = _next_word(s, end)
    if at_break:
        return True
    if word is None or not word[0].isupper():
        return False
    return any_capital or word in _STARTERS


def _prev_is_name(s: str, start: int) -> bool:
    """Whether a capitalized (non sentence-initial) word or a street number precedes ``start``."""
    lo = max(0, start - _WINDOW)
    window = s[lo:start]
    w = window.rstrip(" \t")
    if len(w) == len(window) or not w:
        return False
    i = max(w.rfind(" "), w.rfind("\t"), w.rfind("\n"))
    if not _NAME_RE.fullmatch(w[i + 1 :]):
        return False
    before = w[: i + 1].rstrip(" \t") if i >= 0 else ""
    if not before:
        return lo > 0 and i >= 0  # a capitalized first word of the text starts a sentence
    return before[-1] not in ".!?:\n\"\u201c"


# Abbreviations

_ABBR_RE = re.compile(
    r"\b(?P<abbr>Mrs|Mr|Ms|Dr|St|Jr|Sr|Prof|Mt|Ave|Inc|Ltd|Corp|Dept|[Vv]s|[Ee]tc|[Aa]pprox|e\.g|i\.e)"
    r"(?P<dot>\.)?(?!\w)"
)
_ABBR_WORDS = {
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Jr": "Junior", "Sr": "Senior", "Prof": "Professor",
    "Mt": "Mount", "Ave": "Avenue", "Inc": "Incorporated", "Ltd": "Limited", "Corp": "Corporation",
    "Dept": "Department", "vs": "versus", "Vs": "versus", "etc": "et cetera", "Etc": "et cetera",
    "approx": "approximately", "Approx": "approximately", "e.g": "for example", "i.e": "that is",
}  # fmt: skip
_NEED_DOT = frozenset({"Ave", "e.g", "i.e"})  # without the dot these are ordinary words
_MAY_END = frozenset({"Street", "Drive", "Avenue", "Junior", "Senior", "et cetera", "Incorporated",
                      "Limited", "Corporation", "Department"})  # fmt: skip
_NUMBER_SIGN_RE = re.compile(rf"\b[Nn]o\.{_H}?#?(?=\d)|(?<!\w)#(?=\d)")
_AMP_RE = re.compile(rf"{_H}*&{_H}*")


def _abbr(m: re.Match[str]) -> str:
    abbr, dot = m.group("abbr"), m.group("dot")
    if abbr in _NEED_DOT and not dot:
        return m.group(0)
    s = m.string
    if abbr in ("St", "Dr"):
        nxt, _ = _next_word(s, m.end())
        prev_name = _prev_is_name(s, m.start())
        # "St. Louis" / "Dr. Smith" vs "Main St." / "Elm Dr. Then ...".
        before_name = bool(nxt and nxt[0].isupper() and not (prev_name and nxt in _STARTERS))
        if abbr == "St":
            word = "Saint" if before_name else "Street"
        else:
            word = "Doctor" if before_name or not prev_name else "Drive"
    else:
        word = _ABBR_WORDS[abbr]
    if dot and word in _MAY_END and _ends_sentence(s, m.end(), any_capital=word == "et cetera"):
        word += "."
    return word


# Dates and times

_MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"Sept": "September"}
_MONTH = f"(?P<mon>{'|'.join(MONTHS + tuple(_MONTH_ABBR))})"  # full names first: "Jan" must not win
_DOT_BEFORE_NUM = rf"(?:\.(?={_H}*\d))?"  # keep a sentence-final "Jan." dot
_YEAR_TAIL = rf"(?:,?{_H}+(?P<year>\d{{4}})(?![\w:]))?"
_MDY_RE = re.compile(
    rf"\b{_MONTH}{_DOT_BEFORE_NUM}{_H}+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?![\w:]){_YEAR_TAIL}"
)
_DMY_RE = re.compile(
    rf"(?<![\w.])(?P<day>\d{{1,2}})(?:st|nd|rd|th)?{_H}+{_MONTH}\b{_DOT_BEFORE_NUM}{_YEAR_TAIL}"
)
_ISO_DATE_RE = re.compile(
    r"(?<![\w-])(?P<year>\d{4})-(?P<mon>\d{2})-(?P<day>\d{2})(?:(?P<t>T)(?=\d)|(?![\w-]))"
)
_US_DATE_RE = re.compile(r"(?<![\w/.])(?P<mon>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4}|\d{2})(?![\w/])")
_TIME_RE = re.compile(
    rf"(?<![\d:.])(?P<h>\d{{1,2}}):(?P<m>\d{{2}})(?::(?P<s>\d{{2}}))?(?![\d:])(?:{_H}?{_AMPM})?"
)
_HOUR_AMPM_RE = re.compile(rf"(?<![\w:.])(?P<h>\d{{1,2}}){_H}?{_AMPM}")


@padded
def _month_date(m: re.Match[str]) -> str:
    mon = m.group("mon")
    month = MONTHS.index(_MONTH_ABBR.get(mon, mon)) + 1
    words = date_to_words(month, int(m.group("day")), m.group("year"))
    if words is None:
        return m.group(0)
    if m.re is _DMY_RE:  # "5 March" -> "the fifth of March", unless "the" is already there
        month_name, rest = words.split(" ", 1)
        day_words, _, year = rest.partition(", ")
        article = "" if m.string[max(0, m.start() - 4) : m.start()].lower() == "the " else "the "
        words = f"{article}{day_words} of {month_name}" + (f", {year}" if year else "")
    return words


@padded
def _numeric_date(m: re.Match[str]) -> str:
    month, day = int(m.group("mon")), int(m.group("day"))
    if m.re is _US_DATE_RE and month > 12 >= day:
        month, day = day, month  # unambiguously day-first ("25/12/2024")
    words = date_to_words(month, day, m.group("year"))
    if words is None:
        return m.group(0)
    return words + (" at " if m.groupdict().get("t") else "")


def _ampm_words(m: re.Match[str]) -> str:
    ampm = m.group("ampm")
    out = f" {ampm[0].lower()} m"
    if ampm.endswith(".") and _ends_sentence(m.string, m.end()):
        out += "."
    return out


@padded
def _time(m: re.Match[str]) -> str:
    secs = int(m.group("s") or 0)
    words = time_to_words(int(m.group("h")), int(m.group("m")), secs, bool(m.group("ampm")))
    if words is None:
        return m.group(0)
    return words + (_ampm_words(m) if m.group("ampm") else "")


@padded
def _hour_ampm(m: re.Match[str]) -> str:
    h = int(m.group("h"))
    if not 1 <= h <= 12:
        return m.group(0)
    return int_to_words(h) + _ampm_words(m)


# Money, percentages, units

_CUR = "[$\u20ac\u00a3\u00a5\u20b9]"
_SCALE_SUFFIX = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion",
                 "t": "trillion", "tn": "trillion"}  # fmt: skip
_MONEY_RE = re.compile(
    rf"(?:(?<![\w.])(?P<sign>[-\u2212]))?(?P<cur>{_CUR}){_H}?(?P<num>{_BODY}|\.\d+)"
    rf"(?:{_H}?(?P<word>(?i:thousand|million|billion|trillion))\b|(?P<suf>[kKmMbBtT]|bn|mn|tn)\b)?"
)
_MONEY_AFTER_RE = re.compile(rf"{_SIGNED}{_H}?(?P<cur>{_CUR})")
_PERCENT_RE = re.compile(rf"{_SIGNED}{_H}?%")

# Longest first so "km/h" wins over "km" and "min" over "mi"/"m"; degree signs get their own branch.
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True) if u[0] != "\u00b0")
_UNIT_RE = re.compile(rf"{_SIGNED}{_H}?(?P<unit>\u00b0{_H}?[CF]|\u00b0|{_UNIT_ALT})(?!\w)")
_BARE_UNITS = ("km/h", "kph", "mph", "kg", "km", "cm", "ft", "lbs", "lb")
_BARE_UNIT_RE = re.compile(
    rf"(?P<per>/{_H}*|\bper{_H}+)?\b(?P<unit>{'|'.join(map(re.escape, _BARE_UNITS))})\b"
)
_ONE_WORDS = frozenset({"one", "a", "an", "each", "every", "per"})


@padded
def _money(m: re.Match[str]) -> str:
    groups = m.groupdict()
    num = groups["num"]
    sign = "minus " if groups.get("sign") or num[0] in "-\u2212" else ""
    scale = (groups.get("word") or "").lower() or _SCALE_SUFFIX.get((groups.get("suf") or "").lower())
    return sign + money_to_words(num.lstrip("-\u2212"), groups["cur"], scale)


@padded
def _percent(m: re.Match[str]) -> str:
    return f"{number_to_words(m.group('num'))} percent"


@padded
def _unit(m: re.Match[str]) -> str:
    num = m.group("num")
    key = m.group("unit").replace(" ", "").replace("\t", "")
    singular, plural = UNITS[key]
    is_one = num.lstrip("-\u2212") == "1"
    return f"{number_to_words(num)} {singular if is_one else plural}"


@padded
def _bare_unit(m: re.Match[str]) -> str:
    singular, plural = UNITS[m.group("unit")]
    if m.group("per"):
        return f" per {singular}"
    prev = m.string[max(0, m.start() - 8) : m.start()].split()
    return singular if prev and prev[-1].lower() in _ONE_WORDS else plural


# Plain numbers

_ORDINAL_RE = re.compile(rf"{_NO_MID}(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+)(?:st|nd|rd|th|ST|ND|RD|TH)\b")
_DECADE_RE = re.compile(r"(?<![\w'\u2019])['\u2019]?(?P<d>\d{3}0|\d0)['\u2019]?s\b")
_VERSION_RE = re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?!\w|\.\d)")
_FRACTION_RE = re.compile(r"(?<![\w/.])(?P<a>\d+)/(?P<b>\d+)(?![\w/]|\.\d)")
# "555-1234", "(555) 123-4567", "1-800-555-1234": digit by digit, groups separated by commas for pauses.
_PHONE_RE = re.compile(
    r"(?<![\w\-.])(?:\+?1[- ])?(?:\(\d{3}\) ?|\d{3}-)?\d{3}-\d{4}(?![\w\-]|\.\d)"
)
_WORD_PERCENT_RE = re.compile(r"(?<=\w)%")  # "1,2,3%": the number pass already spelled the digits
_PLUS_RE = re.compile(rf"(?<=\d){_H}*\+{_H}*(?=\d)")
_NUMBER_RE = re.compile(
    r"(?:(?<![\w.])(?P<sign>[-\u2212+]))?(?<!\d)(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<frac>\.\d+)?"
    r"|(?<![\w.])(?P<pfrac>\.\d+)"
)


@padded
def _ordinal(m: re.Match[str]) -> str:
    return ordinal_words(int(m.group("n").replace(",", "")))


@padded
def _decade(m: re.Match[str]) -> str:
    d = m.group("d")
    if int(d) == 0:
        return m.group(0)
    return pluralize_words(year_to_words(int(d)) if len(d) == 4 else int_to_words(int(d)))


@padded
def _version(m: re.Match[str]) -> str:
    return " point ".join(number_to_words(part) for part in m.group(0).split("."))


@padded
def _fraction(m: re.Match[str]) -> str:
    a, b = m.group("a"), m.group("b")
    if (a, b) == ("24", "7"):
        return "twenty-four seven"
    words = fraction_to_words(int(a), int(b)) if a[0] != "0" and b[0] != "0" else None
    return words or f"{number_to_words(a)} slash {number_to_words(b)}"


@padded
def _phone(m: re.Match[str]) -> str:
    groups = re.findall(r"\d+", m.group(0))
    return ", ".join(digits_to_words(g) for g in groups)


@padded
def _number(m: re.Match[str]) -> str:
    if m.group("pfrac"):
        return number_to_words(m.group("pfrac"))
    sign, int_part, frac = m.group("sign"), m.group("int"), m.group("frac")
    prefix = {"+": "plus "}.get(sign, "minus ") if sign else ""
    # Bare four-digit numbers in running text are almost always years; "No. 1234" / "#1500" are not.
    after_number_sign = m.string[max(0, m.start() - 7) : m.start()].lower().endswith("number ")
    if (not sign and not frac and len(int_part) == 4 and int_part.isdigit() and 1100 <= int(int_part) <= 2099
            and not after_number_sign):
        return year_to_words(int(int_part))
    return prefix + number_to_words(int_part + (frac or ""))


# Pipeline

_D = "0123456789"  # trigger for passes that need a digit
_CURS = "$\u20ac\u00a3\u00a5\u20b9"
# (pattern, replacement, trigger characters). A pass is skipped when none of its trigger
# characters occur in the chunk: a cheap `in` scan instead of a full regex pass keeps plain prose fast.
_PASSES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str, str], ...] = (
    (_AMP_RE, " and ", "&"),
    (_ABBR_RE, _abbr, ""),
    (_NUMBER_SIGN_RE, "number ", "#."),
    (_PHONE_RE, _phone, "-"),
    (_ISO_DATE_RE, _numeric_date, "-"),
    (_US_DATE_RE, _numeric_date, "/"),
    (_MDY_RE, _month_date, _D),
    (_DMY_RE, _month_date, _D),
    (_TIME_RE, _time, ":"),
    (_HOUR_AMPM_RE, _hour_ampm, "AaPp"),
    (_MONEY_RE, _money, _CURS),
    (_MONEY_AFTER_RE, _money, _CURS),
    (_PERCENT_RE, _percent, "%"),
    (_UNIT_RE, _unit, _D),
    (_ORDINAL_RE, _ordinal, _D),
    (_DECADE_RE, _decade, "s"),
    (_VERSION_RE, _version, "."),
    (_FRACTION_RE, _fraction, "/"),
    (_PLUS_RE, " plus ", "+"),
    (_NUMBER_RE, _number, _D),
    (_WORD_PERCENT_RE, " percent", "%"),
    (_BARE_UNIT_RE, _bare_unit, "kfml"),
)
_ANY_DIGIT_RE = re.compile(r"\d")


def _normalize_plain(text: str) -> str:
    has_digit = _ANY_DIGIT_RE.search(text) is not None  # \d: also other scripts' digits
    for pattern, repl, triggers in _PASSES:
        if triggers and not (has_digit if triggers is _D else any(c in text for c in triggers)):
            continue
        text = pattern.sub(repl, text)
    return tidy_whitespace(text)


def normalize_text(text: str) -> str:
    """Expand numbers, money, dates, times, units and abbreviations into speakable English words.

    Runs of spaces collapse to one, single and blank-line breaks are kept (the sentence
    splitter uses them), and the ends are stripped. ``[[ ... ]]`` segments are untouched.
    """
    return map_plain(text, _normalize_plain)
