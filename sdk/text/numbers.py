"""Number-to-words helpers for English text normalization (American style, no "and")."""

from __future__ import annotations

# fmt: off
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion", "sextillion",
           "septillion", "octillion", "nonillion", "decillion")
# fmt: on
_MAX_INT = 1000 ** len(_SCALES)
# Plain digit strings longer than this are IDs, card or phone numbers: reading them as
# "four quadrillion ..." helps nobody, so they are spelled digit by digit.
MAX_CARDINAL_DIGITS = 15

_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(f"{_ONES[hundreds]} hundred")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        parts.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        parts.append(_ONES[rest])
    return " ".join(parts)


def digits_to_words(digits: str) -> str:
    """Spell a digit string one digit at a time: "007" -> "zero zero seven"."""
    return " ".join(_ONES[int(d)] for d in digits if d.isdecimal())


def int_to_words(n: int) -> str:
    """Cardinal words for an integer: 1234 -> "one thousand two hundred thirty-four"."""
    if n < 0:
        return "minus " + int_to_words(-n)
    if n == 0:
        return "zero"
    if n >= _MAX_INT:
        return digits_to_words(str(n))
    groups = []
    scale = 0
    while n:
        n, chunk = divmod(n, 1000)
        if chunk:
            word = _below_thousand(chunk)
            groups.append(f"{word} {_SCALES[scale]}" if scale else word)
        scale += 1
    return " ".join(reversed(groups))


def number_to_words(text: str) -> str:
    """Words for a numeral as written: "1,234" / "-3.14" / ".5" / "007" (no sign handling of "+")."""
    sign = ""
    if text[:1] in "-\u2212":
        sign, text = "minus ", text[1:]
    int_part, _, frac = text.partition(".")
    int_part = int_part.replace(",", "")
    if not int_part:
        words = ""
    elif (len(int_part) > 1 and int_part[0] == "0") or len(int_part) > MAX_CARDINAL_DIGITS:
        words = digits_to_words(int_part)
    else:
        words = int_to_words(int(int_part))
    if frac:
        words = f"{words} point {digits_to_words(frac)}".strip()
    return sign + words


def ordinal_words(n: int) -> str:
    """Ordinal words: 22 -> "twenty-second", 103 -> "one hundred third"."""
    return to_ordinal(int_to_words(n))


def to_ordinal(words: str) -> str:
    """Turn cardinal words into ordinal words by rewriting the last word."""
    head, sep, last = _split_last(words)
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def pluralize_words(words: str) -> str:
    """Plural of the last number word: "nineteen ninety" -> "nineteen nineties", "six" -> "sixes"."""
    head, sep, last = _split_last(words)
    if last.endswith("y"):
        last = last[:-1] + "ies"
    elif last.endswith("x"):
        last += "es"
    else:
        last += "s"
    return head + sep + last


def _split_last(words: str) -> tuple[str, str, str]:
    cut = max(words.rfind(" "), words.rfind("-"))
    if cut < 0:
        return "", "", words
    return words[:cut], words[cut], words[cut + 1 :]


def year_to_words(year: int) -> str:
    """Read a year the way people say it: 1999 -> "nineteen ninety-nine", 2005 -> "two thousand five"."""
    if not 1000 <= year <= 9999:
        return int_to_words(year)
    hi, lo = divmod(year, 100)
    if hi % 10 == 0 and lo < 10:
        return int_to_words(year)  # 2000..2009, 1005: "two thousand five"
    if lo == 0:
        return f"{int_to_words(hi)} hundred"
    if lo < 10:
        return f"{int_to_words(hi)} oh {_ONES[lo]}"
    return f"{int_to_words(hi)} {int_to_words(lo)}"


def fraction_to_words(num: int, den: int) -> str | None:
    """Words for a simple proper fraction (3/4 -> "three quarters"), or None if it is not one."""
    if not 0 < num < den <= 10:
        return None
    if den == 2:
        name = "half" if num == 1 else "halves"
    elif den == 4:
        name = "quarter" if num == 1 else "quarters"
    else:
        name = ordinal_words(den) + ("" if num == 1 else "s")
    return f"{int_to_words(num)} {name}"


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip


def date_to_words(month: int, day: int, year: str | None = None) -> str | None:
    """"January fifth, twenty twenty-four", or None for an impossible month/day.

    ``year`` is the year as written: four digits read as a year, two digits as spoken ("oh five").
    """
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    out = f"{MONTHS[month - 1]} {ordinal_words(day)}"
    if year:
        y = int(year)
        if len(year) == 4:
            out += f", {year_to_words(y)}"
        else:
            out += f", {'oh ' if y < 10 else ''}{int_to_words(y)}"
    return out


def time_to_words(hour: int, minute: int, second: int = 0, has_ampm: bool = False) -> str | None:
    """"three oh five", "twelve o'clock", "fourteen hundred"; None when not a valid clock time."""
    if hour > 24 or minute > 59 or second > 59:
        return None
    out = int_to_words(hour)
    if minute == 0:
        if not has_ampm:
            out += " o'clock" if 1 <= hour <= 12 else " hundred"  # 24-hour style: "fourteen hundred"
    elif minute < 10:
        out += f" oh {_ONES[minute]}"
    else:
        out += f" {int_to_words(minute)}"
    if second:
        out += f" and {int_to_words(second)} second{'' if second == 1 else 's'}"
    return out


# symbol: (one, many, one minor unit, many minor units); None = no minor unit in speech
CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "\u20ac": ("euro", "euros", "cent", "cents"),
    "\u00a3": ("pound", "pounds", "penny", "pence"),
    "\u00a5": ("yen", "yen", None, None),
    "\u20b9": ("rupee", "rupees", "paisa", "paise"),
}


def money_to_words(amount: str, currency: str, scale: str | None = None) -> str:
    """"5.50", "$" -> "five dollars and fifty cents"; with scale "million": "... million dollars"."""
    one, many, sub_one, sub_many = CURRENCIES[currency]
    if scale:
        return f"{number_to_words(amount)} {scale} {many}"
    int_part, _, frac = amount.replace(",", "").partition(".")
    # More than two decimals (or a currency spoken without cents) is read as a plain decimal.
    if (frac and (len(frac) > 2 or sub_one is None)) or len(int_part) > MAX_CARDINAL_DIGITS:
        words = number_to_words(amount)
        return f"{words} {one if words == 'one' else many}"
    major, minor = int(int_part or 0), int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if major or not minor:
        parts.append(f"{int_to_words(major)} {one if major == 1 else many}")
    if minor:
        parts.append(f"{int_to_words(minor)} {sub_one if minor == 1 else sub_many}")
    return " and ".join(parts)


# fmt: off
# unit symbol after a number: (singular, plural)
UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"),
    "kB": ("kilobyte", "kilobytes"), "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "ms": ("millisecond", "milliseconds"),
    "sec": ("second", "seconds"), "min": ("minute", "minutes"), "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"), "\u00b0": ("degree", "degrees"),
    "\u00b0C": ("degree Celsius", "degrees Celsius"), "\u2103": ("degree Celsius", "degrees Celsius"),
    "\u00b0F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "\u2109": ("degree Fahrenheit", "degrees Fahrenheit"),
}
# fmt: on
