"""Tests for voxport.text.normalize (English TTS text normalization)."""

from __future__ import annotations

import pytest
from support.scaling import assert_linear

from voxport.text import normalize_text
from voxport.text.numbers import int_to_words, ordinal_words, year_to_words


def test_five_dollars_exact() -> None:
    assert normalize_text("$5") == "five dollars"


@pytest.mark.parametrize("text", ["", " ", "   \t\n  \n"])
def test_empty_and_whitespace(text: str) -> None:
    assert normalize_text(text) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", "zero"),
        ("7", "seven"),
        ("42", "forty-two"),
        ("100", "one hundred"),
        ("999", "nine hundred ninety-nine"),
        ("-5", "minus five"),
        ("\u22125", "minus five"),
        ("1,234,567", "one million two hundred thirty-four thousand five hundred sixty-seven"),
        ("3.14", "three point one four"),
        ("0.5", "zero point five"),
        (".5", "point five"),
        ("007", "zero zero seven"),
        ("I have 2 cats and 3 dogs.", "I have two cats and three dogs."),
        ("10-20", "ten-twenty"),  # a range, not minus twenty
        ("MP3", "MP three"),
        ("3D", "three D"),
        ("1+1", "one plus one"),
        ("1/2", "one half"),
        ("3/4", "three quarters"),
        ("24/7", "twenty-four seven"),
        ("v1.2.3", "v one point two point three"),
        ("Call 555-1234.", "Call five five five, one two three four."),
    ],
)
def test_cardinals(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_long_digit_strings_are_spelled() -> None:
    digits = "one two three four five six seven eight nine zero one two three four five six"
    assert normalize_text("1234567890123456") == digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1st", "first"),
        ("2nd", "second"),
        ("3rd", "third"),
        ("11th", "eleventh"),
        ("12th", "twelfth"),
        ("22nd", "twenty-second"),
        ("103rd", "one hundred third"),
        ("1,000th", "one thousandth"),
        ("She came 21st in the race.", "She came twenty-first in the race."),
    ],
)
def test_ordinals(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1", "one dollar"),
        ("$5.50", "five dollars and fifty cents"),
        ("$0.99", "ninety-nine cents"),
        ("$0.01", "one cent"),
        ("$5.00", "five dollars"),
        ("$1,234.56", "one thousand two hundred thirty-four dollars and fifty-six cents"),
        ("\u20ac10", "ten euros"),
        ("\u20ac1", "one euro"),
        ("10\u20ac", "ten euros"),
        ("\u00a33", "three pounds"),
        ("\u00a31.01", "one pound and one penny"),
        ("\u00a5500", "five hundred yen"),
        ("$1.5 million", "one point five million dollars"),
        ("$2B", "two billion dollars"),
        ("$5k", "five thousand dollars"),
        ("-$5", "minus five dollars"),
        ("It costs $5.", "It costs five dollars."),
        ("$5/kg", "five dollars per kilogram"),
    ],
)
def test_money(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50%", "fifty percent"),
        ("3.5%", "three point five percent"),
        ("-2 %", "minus two percent"),
        ("Up 100% today", "Up one hundred percent today"),
    ],
)
def test_percentages(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3:30", "three thirty"),
        ("3:05 pm", "three oh five p m"),
        ("3:05 PM", "three oh five p m"),
        ("12:00", "twelve o'clock"),
        ("14:00", "fourteen hundred"),
        ("9:45:10", "nine forty-five and ten seconds"),
        ("3pm", "three p m"),
        ("at 9 a.m. sharp", "at nine a m sharp"),
        ("We left at 5 p.m. Then we ate.", "We left at five p m. Then we ate."),  # full stop kept
        ("10:75", "ten:seventy-five"),  # not a clock time
    ],
)
def test_times(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("January 5, 2024", "January fifth, twenty twenty-four"),
        ("Jan. 5", "January fifth"),
        ("It was May 5.", "It was May fifth."),
        ("Feb 29th, 2024", "February twenty-ninth, twenty twenty-four"),
        ("2024-01-05", "January fifth, twenty twenty-four"),
        ("2024-01-05T10:30", "January fifth, twenty twenty-four at ten thirty"),
        ("1/5/2024", "January fifth, twenty twenty-four"),
        ("25/12/2024", "December twenty-fifth, twenty twenty-four"),  # day-first when unambiguous
        ("on 5 March 2024", "on the fifth of March, twenty twenty-four"),
        ("the 5th of March", "the fifth of March"),
        ("2024-13-45", "twenty twenty-four-thirteen-forty-five"),  # impossible date left to the number pass
    ],
)
def test_dates(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 1999", "in nineteen ninety-nine"),
        ("2005", "two thousand five"),
        ("2000", "two thousand"),
        ("2024", "twenty twenty-four"),
        ("1900", "nineteen hundred"),
        ("1905", "nineteen oh five"),
        ("1100", "eleven hundred"),
        ("2099", "twenty ninety-nine"),
        ("2100", "two thousand one hundred"),  # outside the year range: a cardinal
        ("1099", "one thousand ninety-nine"),
        ("1,999", "one thousand nine hundred ninety-nine"),  # thousands separator: a cardinal
        ("the 1990s", "the nineteen nineties"),
        ("the '80s", "the eighties"),
        ("2000 km", "two thousand kilometers"),  # a measurement, not a year
    ],
)
def test_years(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith", "Mister Smith"),
        ("Mrs. Jones", "Missus Jones"),
        ("Ms. Lee", "Miz Lee"),
        ("Dr. Who", "Doctor Who"),
        ("We live on Elm Dr. now", "We live on Elm Drive now"),
        ("Visit St. Louis now.", "Visit Saint Louis now."),
        ("I live on Main St. Then I moved.", "I live on Main Street. Then I moved."),
        ("Meet me at 42nd St.", "Meet me at forty-second Street."),
        ("Main St., Boston", "Main Street, Boston"),
        ("Martin Luther King Jr. spoke", "Martin Luther King Junior spoke"),
        ("John Smith Sr.", "John Smith Senior."),
        ("cats vs. dogs", "cats versus dogs"),
        ("apples, pears, etc. Then more.", "apples, pears, et cetera. Then more."),
        ("apples, etc., and pears", "apples, et cetera, and pears"),
        ("fruit, e.g., apples", "fruit, for example, apples"),
        ("one, i.e. the first", "one, that is the first"),
        ("approx. 5 kg", "approximately five kilograms"),
        ("No. 5", "number five"),
        ("I said no. 5 times.", "I said number five times."),
        ("#1 fan", "number one fan"),
        ("No way.", "No way."),
        ("Tom & Jerry", "Tom and Jerry"),
        ("R&D", "R and D"),
    ],
)
def test_abbreviations(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 km", "five kilometers"),
        ("1 km", "one kilometer"),
        ("5km", "five kilometers"),
        ("3.5 kg", "three point five kilograms"),
        ("10 cm", "ten centimeters"),
        ("2 mm", "two millimeters"),
        ("100 m", "one hundred meters"),
        ("5 men", "five men"),  # "m" only as a whole unit
        ("6 ft", "six feet"),
        ("1 lb", "one pound"),
        ("10 lbs", "ten pounds"),
        ("60 mph", "sixty miles per hour"),
        ("100 kph", "one hundred kilometers per hour"),
        ("100 km/h", "one hundred kilometers per hour"),
        ("20\u00b0C", "twenty degrees Celsius"),
        ("-5 \u00b0F", "minus five degrees Fahrenheit"),
        ("1\u00b0C", "one degree Celsius"),
        ("90\u00b0", "ninety degrees"),
        ("price per kg", "price per kilogram"),
        ("two kg", "two kilograms"),
        ("speed in mph", "speed in miles per hour"),
    ],
)
def test_units(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_whitespace_is_tidied() -> None:
    assert normalize_text("  a   b\t\tc  ") == "a b c"
    assert normalize_text("a \n\n\n\n b\nc") == "a\n\nb\nc"  # paragraph breaks survive for the splitter


def test_phoneme_passthrough_is_byte_exact() -> None:
    raw = "[[h\u0259\u02c8lo\u028a  5 $5 Mr.  ]]"
    out = normalize_text(f"Say {raw}  now, 5 times. {raw}")
    assert out == f"Say {raw} now, five times. {raw}"
    assert out.count(raw) == 2


def test_unclosed_passthrough_is_plain_text() -> None:
    assert normalize_text("[[ 5") == "[[ five"


def test_emoji_and_symbols_survive() -> None:
    out = normalize_text("Hello \U0001f600 world \U0001f389 5 \u2603 \u00a9")
    assert out == "Hello \U0001f600 world \U0001f389 five \u2603 \u00a9"


def test_number_helpers() -> None:
    assert int_to_words(10**12 + 1) == "one trillion one"
    assert ordinal_words(100) == "one hundredth"
    assert year_to_words(2010) == "twenty ten"


_MIXED = (
    "On January 5, 2024 at 3:30 pm, Dr. Smith paid $1,234.56 (about 50%) for 3.5 kg of apples at 42nd St. "
    "in 1999, vs. 2005! [[h\u0259.lo\u028a]] Wow \U0001f600 e.g. 12:00 and 1/5/2024... "
)


def test_100k_chars_normalize_in_linear_time() -> None:
    def mixed(n: int) -> str:
        return (_MIXED * (n // len(_MIXED) + 1))[:n]

    out = normalize_text(mixed(100_000))
    assert "twenty twenty-four" in out and "[[h\u0259.lo\u028a]]" in out
    assert_linear(lambda n: normalize_text(mixed(n)), 100_000, "normalize_text on mixed text")


@pytest.mark.parametrize(
    "unit",
    ["1", ".", "1.", "1,", "123,", "1:", "-1", "1/", "$", "[[", "St. ", "1\u00b0", "'1", "1s", "1 p.m."],
)
def test_pathological_inputs_stay_linear(unit: str) -> None:
    assert_linear(lambda n: normalize_text(unit * (n // len(unit))), 50_000, f"normalize_text on {unit!r} * n")


def test_numbers_after_a_number_sign_are_not_years():
    assert normalize_text("order No. 1234") == "order number one thousand two hundred thirty-four"
    assert normalize_text("room #1500") == "room number one thousand five hundred"
