"""The Tacotron2 text front-end (phonemizer type "tacotron2_text"): NVIDIA's english_cleaners read by
voxport's English normalizer, `{ARPAbet}` passthrough, the 148-symbol table, unknown symbols, sentences."""

from __future__ import annotations

import string
import warnings
from types import SimpleNamespace

import pytest

from voxport.errors import FrontendError, UnknownSymbolWarning
from voxport.families import family_named
from voxport.families.tacotron2.text import Tacotron2TextFrontend, clean_text, symbol_timing, transliterate
from voxport.text.frontend import TextFrontend
from voxport.text.phoneme_ids import unsupported_phoneme_type

# NVIDIA's table (tacotron2/text/symbols.py): pad, "-", punctuation and space, letters, then CMUdict's
# 84 ARPAbet symbols with "@" in front -- 148 in all.
_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
_CONSONANTS = ["B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
               "TH", "V", "W", "Y", "Z", "ZH"]
ARPABET = sorted([v + s for v in _VOWELS for s in ("", "0", "1", "2")] + _CONSONANTS)
SYMBOLS = ["_", "-", *"!'(),.:;? ", *string.ascii_uppercase, *string.ascii_lowercase, *("@" + a for a in ARPABET)]
SYMBOL_MAP = {s: [i] for i, s in enumerate(SYMBOLS)}


def spoken(frontend: Tacotron2TextFrontend, text: str) -> list[tuple[str, str, list[int]]]:
    return list(frontend.text_to_ids(text))


def decode(ids: list[int]) -> str:
    """NVIDIA's sequence_to_text: ARPAbet back in braces."""
    out = "".join(f"{{{SYMBOLS[i][1:]}}}" if SYMBOLS[i].startswith("@") else SYMBOLS[i] for i in ids)
    return out.replace("}{", " ")


@pytest.fixture()
def frontend() -> Tacotron2TextFrontend:
    return Tacotron2TextFrontend(SYMBOL_MAP)


def test_the_table_has_148_symbols():
    assert len(SYMBOLS) == len(set(SYMBOLS)) == 148


def test_the_manifest_type_selects_this_frontend_and_piper_types_stay_as_they_were():
    manifest = SimpleNamespace(phonemizer={"type": "tacotron2_text", "cleaners": "english_cleaners"},
                               phoneme_id_map=SYMBOL_MAP)
    assert isinstance(family_named("tacotron2").frontend(manifest), Tacotron2TextFrontend)
    with pytest.raises(FrontendError, match="tacotron2_text"):  # the family's type: other families refuse it
        TextFrontend.from_manifest(manifest)
    # Not a Piper phoneme type: a Piper config naming it is still refused.
    assert unsupported_phoneme_type("tacotron2_text") is not None
    with pytest.raises(FrontendError, match="cleaners"):
        Tacotron2TextFrontend(SYMBOL_MAP, cleaners="klingon_cleaners")


def test_english_cleaners_lowercase_and_read_numbers_and_abbreviations(frontend):
    [(sentence, phonemes, ids)] = spoken(frontend, "Dr. Smith paid $5.50 on Jan. 3rd,   1999 at 10:30!")
    assert phonemes == ("doctor smith paid five dollars and fifty cents on january third, nineteen ninety-nine "
                        "at ten thirty!")
    assert decode(ids) == phonemes  # one id per character, no pad/bos/eos around them
    assert sentence.startswith("Doctor Smith")  # the sentence keeps its case for display and timestamps


def test_abbreviations_only_nvidia_knows_are_read_and_do_not_end_a_sentence(frontend):
    [(_, phonemes, _)] = spoken(frontend, "Gen. Lee met Capt. Kirk and Sgt. Pepper at Ft. Worth.")
    assert phonemes == "general lee met captain kirk and sergeant pepper at fort worth."
    [(_, phonemes, _)] = spoken(frontend, "It is 5 ft tall.")
    assert phonemes == "it is five feet tall."  # "ft" after a number is a unit, not "fort"


def test_ascii_transliteration(frontend):
    assert transliterate("Café “naïve” — Straße…") == 'Cafe "naive" - Strasse...'
    with pytest.warns(UnknownSymbolWarning, match="'\"'"):  # '"' is not one of the 148 symbols
        [(_, phonemes, ids)] = spoken(frontend, "Café “naïve” — déjà vu.")
    assert phonemes == 'cafe "naive" - deja vu.'
    assert decode(ids) == "cafe naive - deja vu."


def test_arpabet_in_braces_passes_through_untouched(frontend):
    [(sentence, phonemes, ids)] = spoken(frontend, "Turn left on {HH AW1 S S T AH0 N} Street.")
    assert sentence == "Turn left on {HH AW1 S S T AH0 N} Street."
    assert phonemes == "turn left on {HH AW1 S S T AH0 N} street."
    arpabet = [SYMBOLS.index("@" + s) for s in ("HH", "AW1", "S", "S", "T", "AH0", "N")]
    assert ids == [SYMBOLS.index(ch) for ch in "turn left on "] + arpabet + [SYMBOLS.index(ch) for ch in " street."]
    # Digits inside braces are stress marks, not numbers; lower case is accepted; [[ ]] means the same.
    assert spoken(frontend, "{hh aw1}")[0][2] == spoken(frontend, "[[HH AW1]]")[0][2] == arpabet[:2]


def test_a_sentence_boundary_never_falls_inside_braces(frontend):
    sentences = [s for s, _, _ in spoken(frontend, "Say {AH0 B IY1}. Then stop! Now.")]
    assert sentences == ["Say {AH0 B IY1}.", "Then stop!", "Now."]


def test_unknown_symbols_are_dropped_with_one_warning(frontend):
    with pytest.warns(UnknownSymbolWarning) as caught:
        [(_, phonemes, ids)] = spoken(frontend, "Hi {XX1 HH} there * 日本 _ [x]")
    message = str(caught[0].message)
    assert "'@XX1'" in message and "'*'" in message and "'日'" in message and "'_'" in message
    # Known symbols kept in order (spaces around dropped ones too, as NVIDIA's); the pad is never spoken.
    assert decode(ids) == "hi {HH} there    x"
    assert "{XX1 HH}" in phonemes


def test_empty_and_unspeakable_text_give_nothing(frontend):
    assert spoken(frontend, "") == spoken(frontend, "  \n ") == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownSymbolWarning)
        assert spoken(frontend, "日本 * !") == []  # only a space and "!" are known: nothing to say


def test_sentences_split_as_for_other_voices(frontend):
    text = "One sentence here. Another one? " + "long " * 120 + "end."
    sentences = [s for s, _, _ in spoken(frontend, text)]
    assert sentences[:2] == ["One sentence here.", "Another one?"]
    assert len(sentences) >= 4 and all(len(s) <= 400 for s in sentences)


def test_basic_and_transliteration_cleaners_do_not_read_numbers():
    assert clean_text("Dr. Café  7", "basic_cleaners") == "dr. café 7"
    assert clean_text("Dr. Café  7", "transliteration_cleaners") == "dr. cafe 7"
    assert clean_text("Dr. Café  7", "english_cleaners") == "doctor cafe seven"


def test_symbol_timing_follows_the_frames_per_id(frontend):
    [(sentence, phonemes, ids)] = spoken(frontend, "Go {HH AY1}.")
    frames = [2] * len(ids)  # g o ' ' HH AY1 .
    timing = symbol_timing(sentence, phonemes, frontend.mapper, frames, hop_length=100, sample_rate=1000)
    assert [p.phoneme for p in timing.phonemes] == ["g", "o", " ", "@HH", "@AY1", "."]
    assert [(w.word, w.start, w.end) for w in timing.words] == [("Go", 0.0, 0.4),
                                                                ("{HH AY1}", pytest.approx(0.6), 1.0)]
    assert timing.end == pytest.approx(1.2)
