"""Which normalizer speaks a voice's language, and the per-language rules the num2words one follows.

Number words come from ``num2words`` (a maintained library, ~50 languages); this module only holds
what it does not know: how numbers, times and ordinals are *written* in each language and the
few word forms around them (the percent word, "Uhr", the feminine hour).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LANGUAGES", "LanguageRules", "normalizer_for", "rules_for"]

log = logging.getLogger("voxport.text")


def _keep(words: str) -> str:
    return words


def _ending(table: dict[str, str]) -> Callable[[str], str]:
    """A function that rewrites the last word of a number ("eins" -> "ein") where the table says so."""
    pattern = re.compile(rf"\b({'|'.join(map(re.escape, table))})$")
    return lambda words: pattern.sub(lambda m: table[m.group(1)], words)


@dataclass(frozen=True)
class LanguageRules:
    """How one language writes and says numbers around what num2words gives."""

    code: str  # num2words language code
    minus: str
    decimal_word: str | None  # None: num2words reads the decimal itself (ru "три целых пять десятых")
    fraction_digits: bool  # "3,25": digit by digit (de "zwei fünf") or as a number (fr "vingt-cinq")
    group_seps: str  # thousands separators besides none ("." in de, spaces in fr)
    percent: tuple[str, ...]  # one invariant form, or (one, few, many) for num2words' pluralize
    hour: str  # "{h} Uhr {m}"-style templates, see time_words
    hour_only: str
    noun_form: Callable[[str], str] = _keep  # a number before a noun: de "eins" -> "ein"
    feminine: Callable[[str], str] = _keep  # hours are feminine in fr/es/it/pt
    zero_minutes: str = ""  # ru "четырнадцать ноль ноль"
    ordinal_style: str = ""  # "fr" (3e, 1er), "de" (3.), "iberian" (3º, 3ª)
    hour_h: bool = False  # French "14h30"
    one_hour: tuple[str, str] | None = None  # (plural, singular) of the hour word at one o'clock
    # A bare cardinal ("25 pommes": unsigned, digits only, between spaces or punctuation) below this is left
    # for espeak-ng to read, as piper-tts does; 0: num2words reads them all. Chosen per language from
    # espeak-ng's own readings (docs/text.md has the table): above it espeak-ng says the wrong words.
    espeak_below: int = 0
    espeak_years: bool = True  # False: 1100-1999 read as years by num2words (de "neunzehnhundertneunzig")


_SPACES = " \u00a0\u202f"  # French, Russian, Polish... group thousands with (narrow no-break) spaces
_BILLION = 10**9  # the largest range checked against espeak-ng's readings (docs/text.md)
_HOURS_FEM_FR = _ending({"un": "une"})
_HOURS_FEM_ES = _ending({"uno": "una", "veintiuno": "veintiuna"})
_HOURS_FEM_PT = _ending({"um": "uma", "dois": "duas"})

# fmt: off
LANGUAGES: dict[str, LanguageRules] = {
    "fr": LanguageRules(
        "fr", "moins", "virgule", False, _SPACES, ("pour cent",), "{h} heures {m}", "{h} heures",
        feminine=_HOURS_FEM_FR, ordinal_style="fr", hour_h=True, one_hour=("heures", "heure"),
        espeak_below=_BILLION,
    ),
    "de": LanguageRules(
        "de", "minus", "Komma", True, ".", ("Prozent",), "{h} Uhr {m}", "{h} Uhr",
        noun_form=_ending({"eins": "ein"}), ordinal_style="de", espeak_below=_BILLION, espeak_years=False,
    ),
    "es": LanguageRules(
        "es", "menos", "coma", False, ".", ("por ciento",), "{h} y {m}", "{h} en punto",
        noun_form=_ending({"uno": "un", "veintiuno": "veintiún"}), feminine=_HOURS_FEM_ES,
        ordinal_style="iberian", espeak_below=_BILLION,  # 10^9: espeak-ng says "uno mil millones"
    ),
    "it": LanguageRules(
        "it", "meno", "virgola", False, ".", ("per cento",), "{h} e {m}", "{h}",
        noun_form=_ending({"uno": "un"}), feminine=_ending({"uno": "una"}), ordinal_style="iberian",
        espeak_below=_BILLION,
    ),
    "pt": LanguageRules(
        "pt", "menos", "vírgula", False, ".", ("por cento",), "{h} e {m}", "{h} horas",
        feminine=_HOURS_FEM_PT, ordinal_style="iberian", one_hour=("horas", "hora"),
    ),
    "nl": LanguageRules(
        "nl", "min", "komma", True, ".", ("procent",), "{h} uur {m}", "{h} uur", espeak_below=_BILLION,
    ),
    "ru": LanguageRules(
        "ru", "минус", None, False, _SPACES, ("процент", "процента", "процентов"), "{h} {m}", "{h} {m}",
        zero_minutes="ноль", espeak_below=_BILLION,
    ),
    "uk": LanguageRules(
        "uk", "мінус", "кома", False, _SPACES, ("відсоток", "відсотки", "відсотків"), "{h} {m}", "{h} {m}",
        zero_minutes="нуль", espeak_below=1000,  # espeak-ng: 2000 "два тисяча", 10^6 "один тисяча"
    ),
    "pl": LanguageRules(
        "pl", "minus", "przecinek", False, _SPACES, ("procent",), "{h} {m}", "{h} {m}", zero_minutes="zero",
        espeak_below=_BILLION,
    ),
    "cs": LanguageRules(
        "cs", "mínus", None, False, _SPACES, ("procento", "procenta", "procent"), "{h} {m}", "{h} {m}",
        zero_minutes="nula", espeak_below=_BILLION,
    ),
}
# fmt: on
# espeak-ng voices whose num2words variant differs from the plain language (Belgian "septante"), and what else
# differs: Portugal's Portuguese keeps num2words for bare cardinals (espeak-ng says "1" as an oral [um] and
# "1100" as "mil cem"); Brazil's leaves those below 1000 to espeak-ng ("mil cem" again above).
_VARIANTS: dict[str, dict[str, object]] = {
    "fr-be": {"code": "fr_BE"},
    "fr-ch": {"code": "fr_CH"},
    "pt-br": {"code": "pt_BR", "espeak_below": 1000},
}


def rules_for(espeak_voice: str) -> LanguageRules | None:
    """The rules for an espeak-ng voice name ("fr", "fr-be", "pt-br", "es-419"), or None if uncovered."""
    voice = espeak_voice.strip().lower().replace("_", "-")
    rules = LANGUAGES.get(voice.split("-", 1)[0])
    if rules is None:
        return None
    variant = next((changes for name, changes in _VARIANTS.items() if voice.startswith(name)), None)
    if variant is None:
        return rules
    return LanguageRules(**{**rules.__dict__, **variant})


def normalizer_for(espeak_voice: str) -> Callable[[str], str]:
    """The text normalizer for a voice: English rules, num2words rules, or the text untouched.

    An uncovered language is logged once per call (one call per front-end): its digits go to
    espeak-ng as written, which reads them in the voice's language as Piper does, never English.
    """
    voice = (espeak_voice or "en-us").strip().lower()
    if voice == "en" or voice.startswith("en-"):
        from .normalize import normalize_text

        return normalize_text
    rules = rules_for(voice)
    if rules is not None:
        from .intl import LanguageNormalizer  # imports num2words (~20 ms) only for these voices

        return LanguageNormalizer(rules)
    log.info(
        "No text normalizer for espeak voice %r: numbers, money and dates go to espeak-ng as written.",
        espeak_voice,
    )
    return _untouched


def _untouched(text: str) -> str:
    return text
