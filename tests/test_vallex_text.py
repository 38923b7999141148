"""VALL-E X's English front-end (torch-free): espeak words rewritten toward Plachtaa's English IPA. The
expected strings are what Plachtaa's `english_to_ipa2` gives for these words (eng_to_ipa 0.0.2)."""

from __future__ import annotations

import pytest

from voxport.families.vallex.text import VallexFrontend, split_joined, to_plachtaa_ipa
from voxport.text.frontend import FrontendError


@pytest.mark.parametrize(("espeak", "plachtaa"), [
    ("həlˈoʊ", "həˈloʊ"),  # stress moved before the onset (theirs: hɛˈloʊ, a vowel no rule maps)
    ("wˈɜːld", "wəɹɫd"),  # ɜː -> əɹ, dark l, no stress on one syllable
    ("jˈɛstɚdˌeɪ", "ˈjɛstəɹˌdeɪ"),  # "ɹd" is no onset: the secondary stress stops before d
    ("dʒˈʌmps", "dʒəmps"),
    ("bjˈuːɾifəl", "ˈbjutifəɫ"),  # flap -> t, bj is an onset
    ("ænd", "ənd"),
])
def test_espeak_words_in_plachtaas_ipa(espeak: str, plachtaa: str) -> None:
    assert to_plachtaa_ipa(espeak) == plachtaa


def test_joined_preposition_and_article_are_split() -> None:
    assert split_joined(["ʌvðə", "ɔnðə", "ðə", "fɔːɹ"]) == ["ʌv", "ðə", "ɔn", "ðə", "ðə", "fɔːɹ"]


def test_ids_join_words_with_underscore_and_drop_unknown_symbols() -> None:
    table = {s: [i] for i, s in enumerate("_əhloʊˈw")}
    frontend = VallexFrontend(table)
    assert frontend.ids("həlˈoʊ wˈʌ") == [table[s][0] for s in "_həˈloʊ_wə"]
    with pytest.raises(FrontendError, match="front-ends are en, zh and ja"):
        VallexFrontend(table, espeak_voice="ko")
