"""Normalization for languages other than English, with number words from num2words.

One combined regex finds, left to right, numeric dates (left as written for espeak-ng), times,
money, percentages, ordinals and plain numbers; each is spoken with the language's words. One
pass instead of one per kind keeps a sentence's cost at a few tens of microseconds.
"""

from __future__ import annotations

import re
from decimal import Decimal

from num2words import CONVERTER_CLASSES, num2words

from .common import map_plain, padded, tidy_whitespace
from .languages import LanguageRules

__all__ = ["LanguageNormalizer"]

_CURRENCIES = {"\u20ac": "EUR", "$": "USD", "\u00a3": "GBP"}
# Plain digit strings longer than this are IDs or phone numbers: spelled digit by digit, as in English.
_MAX_CARDINAL_DIGITS = 15
_DE_MONTHS = "Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
# After these a German ordinal is dative/accusative ("am dritten Mai"); elsewhere it ends in -e/-er.
_DE_EN_WORDS = frozenset(["am", "im", "zum", "vom", "beim", "dem", "den", "des", "ab", "bis", "seit"])
_DE_ARTICLES = frozenset(["der", "die", "das"])


def _ordinal_pattern(style: str) -> str:
    if style == "fr":  # 1er, 1re, 1ère, 3e, 3ème
        return r"|(?P<ord>(?<!\d)(?P<ord_n>\d+)(?P<ord_s>er|re|ère|ème|eme|e)(?!\w))"
    if style == "de":  # "3. Mai": a dot before a word; whether it is a full stop is decided later
        return r"|(?P<ord>(?<![\d.,])(?P<ord_n>\d{1,3})\.(?=[^\S\n]+\w))"
    if style == "iberian":  # 3º, 3.ª (masculine, feminine)
        return r"|(?P<ord>(?<!\d)(?P<ord_n>\d+)\.?(?P<ord_s>[\u00ba\u00aa]))"
    return ""


def _pattern(rules: LanguageRules) -> re.Pattern[str]:
    seps = re.escape(rules.group_seps)
    # A number: grouped thousands ("1.000", "1 000") or plain digits, then an optional decimal comma.
    num = rf"(?:\d{{1,3}}(?:[{seps}]\d{{3}})+(?!\d)|\d+)(?:,\d+)?"
    cur = "[" + "".join(_CURRENCIES) + "]"
    h = r"[^\S\n]"
    # French also writes "14h30", "14 h" (a time or a duration: both are read "quatorze heures").
    hour_h = rf"|{h}?h{h}?(?P<tm2>\d{{2}})?(?!\w)" if rules.hour_h else ""
    return re.compile(
        r"(?P<date>(?<![\d.])\d{1,2}([./])\d{1,2}\2\d{2,4}(?!\d|\.\d)|(?<!\d)\d{4}-\d{2}-\d{2}(?!\d))"
        rf"|(?P<time>(?<![\d:,.])(?P<th>\d{{1,2}})(?::(?P<tm>\d{{2}})(?![\d:]){hour_h}))"
        rf"|(?P<mb>(?P<mb_sign>(?<![\w.,])[-\u2212])?(?P<mb_cur>{cur}){h}?(?P<mb_n>{num}))"
        rf"|(?P<ma>(?P<ma_sign>(?<![\w.,])[-\u2212])?(?<![\d.,])(?P<ma_n>{num}){h}?(?P<ma_cur>{cur}))"
        rf"|(?P<pc>(?P<pc_sign>(?<![\w.,])[-\u2212])?(?<![\d.,])(?P<pc_n>{num}){h}?%)"
        + _ordinal_pattern(rules.ordinal_style)
        + rf"|(?P<num>(?P<sign>(?<![\w.,])[-\u2212])?(?<![\d.,])(?P<n>{num}))"
    )


class LanguageNormalizer:
    """Speak numbers, money, percentages, times and simple ordinals in one language.

    Call it like :func:`voxport.text.normalize_text`: ``[[ ... ]]`` segments are copied untouched,
    runs of spaces collapse, line breaks stay for the sentence splitter.
    """

    def __init__(self, rules: LanguageRules) -> None:
        self.rules = rules
        self._converter = CONVERTER_CLASSES[rules.code]
        self._pattern = _pattern(rules)
        self._sub = padded(self._replace)
        self._group_re = re.compile("[" + re.escape(rules.group_seps) + "]")

    def __call__(self, text: str) -> str:
        return map_plain(text, self._normalize_plain)

    def _normalize_plain(self, text: str) -> str:
        if any(ch.isdigit() for ch in text):
            text = self._pattern.sub(self._sub, text)
        return tidy_whitespace(text)

    def _replace(self, m: re.Match[str]) -> str:
        if m.group("date"):
            return m.group(0)  # numeric dates: espeak-ng reads them (see the README's table)
        if m.group("time"):
            minutes = m.group("tm") or m.groupdict().get("tm2") or "0"
            words = self.time_words(int(m.group("th")), int(minutes))
            if words is None and not m.group("tm"):  # "25h": a duration, "vingt-cinq heures"
                words = self.rules.hour_only.format(h=self.number_words(m.group("th")), m="")
            return words or m.group(0)
        if m.group("mb") or m.group("ma"):
            k = "mb" if m.group("mb") else "ma"
            return self._sign(m.group(f"{k}_sign")) + self.money_words(m.group(f"{k}_n"), m.group(f"{k}_cur"))
        if m.group("pc"):
            return self._sign(m.group("pc_sign")) + self.percent_words(m.group("pc_n"))
        if m.groupdict().get("ord"):
            return self._ordinal(m)
        if not m.group("sign") and self.espeak_reads(m):
            return m.group(0)
        return self._sign(m.group("sign")) + self.number_words(m.group("n"))

    def espeak_reads(self, m: re.Match[str]) -> bool:
        """Whether a plain number is a bare cardinal that espeak-ng reads right in this language.

        Those are left as written, so the ids equal piper-tts's (which hands digits to espeak-ng); grouped
        ("1 000": espeak-ng reads the groups apart), decimal, zero-led ("007") and glued ("A4") numbers,
        and anything at or above the language's `espeak_below`, stay with num2words.
        """
        written = m.group("n")
        if not written.isdigit() or (len(written) > 1 and written[0] == "0"):
            return False
        s, start, end = m.string, m.start(), m.end()
        if (start and s[start - 1].isalnum()) or (end < len(s) and s[end].isalnum()):
            return False
        n = int(written)
        if not self.rules.espeak_years and 1100 <= n <= 1999:
            return False
        return n < self.rules.espeak_below

    def _sign(self, sign: str | None) -> str:
        return f"{self.rules.minus} " if sign else ""

    # Words

    def _say(self, n: int, to: str = "cardinal") -> str:
        return str(num2words(n, lang=self.rules.code, to=to))

    def digits_words(self, digits: str) -> str:
        return " ".join(self._say(int(d)) for d in digits)

    def int_words(self, digits: str) -> str:
        """An integer as written (without group separators): "007" and very long ones digit by digit."""
        if (len(digits) > 1 and digits[0] == "0") or len(digits) > _MAX_CARDINAL_DIGITS:
            return self.digits_words(digits)
        n = int(digits)
        # Bare years are read like years ("neunzehnhundertneunzig"), not as thousands.
        return self._say(n, "year" if 1100 <= n <= 1999 else "cardinal")

    def number_words(self, written: str) -> str:
        """A number as written in the language: "1.234,5" (de) / "1 234,5" (fr) / "3,25"."""
        int_part, _, frac = written.partition(",")
        grouped = self._group_re.search(int_part) is not None
        int_part = self._group_re.sub("", int_part)
        if not frac:
            return self._say(int(int_part)) if grouped else self.int_words(int_part)
        if self.rules.decimal_word is None:  # the language's own reading ("три целых пять десятых")
            return str(num2words(Decimal(f"{int_part}.{frac}"), lang=self.rules.code))
        if self.rules.fraction_digits or frac[0] == "0" or len(frac) > 2:
            frac_words = self.digits_words(frac)
        else:
            frac_words = self._say(int(frac))
        return f"{self._say(int(int_part))} {self.rules.decimal_word} {frac_words}"

    def _plural(self, amount: str, forms: tuple[str, ...]) -> str:
        """The form of a noun after ``amount``: num2words' rules where it has them (ru, pl, cs)."""
        if len(forms) == 1:
            return forms[0]
        if "," in amount:
            return forms[1]  # a decimal takes the genitive singular in Slavic languages ("процента")
        n = int(self._group_re.sub("", amount))
        try:
            return str(self._converter.pluralize(n, forms))
        except NotImplementedError:
            return forms[0] if n == 1 else forms[-1]

    def percent_words(self, amount: str) -> str:
        words = self.number_words(amount)
        if "," not in amount:
            words = self.rules.noun_form(words)
        return f"{words} {self._plural(amount, self.rules.percent)}"

    def money_words(self, amount: str, symbol: str) -> str:
        """ "25 €" / "€25" / "1.234,50 $": the amount and the currency's name in the language."""
        forms = getattr(self._converter, "CURRENCY_FORMS", {}).get(_CURRENCIES[symbol])
        if forms is None:  # a currency num2words lacks in this language: espeak-ng says the symbol
            return f"{self.number_words(amount)} {symbol}"
        int_part, _, cents = amount.partition(",")
        int_part = self._group_re.sub("", int_part)
        if cents and len(cents) <= 2 and int(cents):
            value = Decimal(f"{int_part}.{cents.ljust(2, '0')}")
            return str(num2words(value, lang=self.rules.code, to="currency", currency=_CURRENCIES[symbol]))
        words = self.rules.noun_form(self._say(int(int_part)))
        return f"{words} {self._plural(int_part, forms[0])}"

    def time_words(self, hours: int, minutes: int) -> str | None:
        """ "14:30" in the language; None (left as written) if it is not a time of day."""
        if hours > 23 or minutes > 59:
            return None
        h = self.rules.feminine(self.rules.noun_form(self._say(hours)))
        if minutes == 0:
            zero = self.rules.zero_minutes
            words = self.rules.hour_only.format(h=h, m=f"{zero} {zero}".strip())
            return words.replace(*self.rules.one_hour) if hours == 1 and self.rules.one_hour else words
        m = self._say(minutes)
        if minutes < 10 and self.rules.zero_minutes:
            m = f"{self.rules.zero_minutes} {m}"  # ru "четырнадцать ноль пять"
        words = self.rules.hour.format(h=h, m=m)
        return words.replace(*self.rules.one_hour) if hours == 1 and self.rules.one_hour else words

    def _ordinal(self, m: re.Match[str]) -> str:
        n = int(m.group("ord_n"))
        style = self.rules.ordinal_style
        if style == "de":
            return self._german_ordinal(m, n)
        suffix = m.group("ord_s")
        if style == "fr" and n == 1:
            return "premier" if suffix == "er" else "première"
        words = self._say(n, "ordinal")
        if suffix == "\u00aa":  # feminine: vigésimo primero -> vigésima primera
            return re.sub(r"o\b", "a", words)
        nxt = m.string[m.end() : m.end() + 2]
        if self.rules.code == "es" and nxt[:1] == " " and nxt[1:].isalpha():
            words = re.sub(r"(primer|tercer)o$", r"\1", words)  # "1º piso": primer piso
        return words

    def _german_ordinal(self, m: re.Match[str], n: int) -> str:
        """ "am 3. Mai" -> "am dritten Mai"; "Ich bin 3. Dann ..." keeps its full stop."""
        s = m.string
        before = s[max(0, m.start() - 8) : m.start()].split()
        prev = before[-1].lower() if before else ""
        after = s[m.end() :].lstrip()
        next_month = re.match(_DE_MONTHS, after) is not None
        if not (after[:1].islower() or next_month or prev in _DE_EN_WORDS or prev in _DE_ARTICLES):
            return self.number_words(m.group("ord_n")) + "."
        words = self._say(n, "ordinal")  # "dritte"
        if prev in _DE_EN_WORDS:
            return words + "n"
        return words if prev in _DE_ARTICLES or not next_month else words + "r"
