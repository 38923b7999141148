"""Piper phoneme types: "text" voices speak from code points like piper-tts 1.8; the others are refused.

A voice whose type voxport cannot phonemize must fail at `voxport build` and at load, never fall back to
English espeak phonemes (which would speak, but the wrong sounds).
"""

from __future__ import annotations

import json
import shutil
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest

from voxport.bundle.manifest import Manifest
from voxport.errors import FrontendError, UnknownSymbolWarning
from voxport.text.frontend import CodepointFrontend, TextFrontend
from voxport.text.phoneme_ids import unsupported_phoneme_type

piper_voice = pytest.importorskip("piper.voice", reason="the reference is piper-tts 1.8 (dev extra)")
piper_config = pytest.importorskip("piper.config")

# A character alphabet as a "text" voice has: markers, punctuation, Latin, Cyrillic and Greek letters and the
# combining marks NFD splits accented letters into. Digits, "€", "ß" and emoji are left out on purpose: both
# sides must skip them the same way.
_MARKS = "\u0300\u0301\u0302\u0303\u0308\u030a\u030c\u0327"
_ALPHABET = (
    " !'(),-.:;?\"[]"
    + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZæøœ"
    + "абвгдеёжзийклмнопрстуфхцчшщъыьэюяПСЯ"
    + "αβγδεζηθικλμνξοπρστυφχψω"
    + _MARKS
)
CHAR_MAP: dict[str, list[int]] = {"_": [0], "^": [1], "$": [2]} | {ch: [i + 3] for i, ch in enumerate(_ALPHABET)}

# One sentence each (voxport cuts text into sentences; piper-tts speaks a text as one sequence).
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Is this the REAL life, or just fantasy?",
    "Ça coûte très cher à Noël, n'est-ce pas?",
    "Über Fräulein Müllers Straße gehen wir.",
    "Ångström and Zoë met in Malmö (twice).",
    "Съешь же ещё этих мягких французских булок.",
    "Γαζέες καὶ μυρτιὲς δὲν θὰ βρῶ πιά.",
    "Señor Peña, ¿dónde está el niño?",
    "It costs 25 € today 😀 and [[ hɛˈloʊ ]] tomorrow!",
    "Tabs\tand  double  spaces stay: as-is; \"quoted\".",
    "Precomposed é versus decomposed e\u0301 are the same ids.",
    "Čeština, Dansk og Æblegrød: hvad siger du?",
]

_PIPER_TYPES = [t.value for t in piper_config.PhonemeType]
_REFUSED = [t for t in _PIPER_TYPES if t not in ("espeak", "text")] + ["klingon"]


def _piper_config(phoneme_type: str, id_map: dict[str, list[int]] = CHAR_MAP) -> dict:
    return {
        "audio": {"sample_rate": 16000},
        "espeak": {"voice": "en-us"},
        "phoneme_type": phoneme_type,
        "phoneme_id_map": id_map,
        "num_symbols": 256,
        "num_speakers": 1,
    }


def _piper_tts_ids(text: str, config: dict) -> list[list[int]]:
    """piper-tts's own text -> ids (PiperVoice.phonemize + phonemes_to_ids); no ONNX session is needed."""
    voice = piper_voice.PiperVoice(session=None, config=piper_config.PiperConfig.from_dict(config))
    return [voice.phonemes_to_ids(phonemes) for phonemes in voice.phonemize(text) if phonemes]


def _voxport_ids(frontend: TextFrontend, text: str) -> list[list[int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownSymbolWarning)  # piper-tts only logs the skipped symbols
        return [ids for _, _, ids in frontend.text_to_ids(text)]


# --- "text": ids from code points -------------------------------------------------------------------------
def test_piper_tts_knows_the_types_this_test_refuses():
    # If piper-tts grows a type, this list (and the refusal messages) should learn about it.
    assert set(_PIPER_TYPES) == {"espeak", "text", "pinyin", "japanese", "hebrew", "thai"}


@pytest.mark.parametrize("sentence", SENTENCES)
def test_text_voice_ids_equal_piper_tts(sentence):
    config = _piper_config("text")
    frontend = TextFrontend.from_piper_config(config)
    assert isinstance(frontend, CodepointFrontend)
    [expected] = _piper_tts_ids(sentence, config)
    assert _voxport_ids(frontend, sentence) == [expected]


def test_text_voice_ids_per_sentence_equal_piper_tts_per_sentence():
    config = _piper_config("text")
    frontend = TextFrontend.from_piper_config(config)
    per_sentence = [ids for s in SENTENCES for ids in _piper_tts_ids(s, config)]
    assert _voxport_ids(frontend, " ".join(SENTENCES)) == per_sentence


def test_text_voice_skips_normalization_espeak_and_phoneme_blocks():
    frontend = TextFrontend.from_piper_config(_piper_config("text"))
    sentence = "Dr. Smith paid $25 for [[ ab ]] café."
    with pytest.warns(UnknownSymbolWarning, match="'2'"):  # the voice has no digits: skipped, as piper-tts does
        [(text, phonemes, _)] = list(frontend.text_to_ids(sentence))
    assert text == sentence  # "Dr." and "$25" are not read out as English words
    assert phonemes == unicodedata.normalize("NFD", sentence)
    assert frontend.phonemizer.phonemize("café") == "cafe\u0301"  # word timestamps re-read code points


def test_empty_text_gives_nothing():
    frontend = TextFrontend.from_piper_config(_piper_config("text"))
    assert list(frontend.text_to_ids("  \n ")) == []


# --- refusals -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("phoneme_type", _REFUSED)
def test_reason_names_the_type_and_what_it_needs(phoneme_type):
    reason = unsupported_phoneme_type(phoneme_type)
    assert reason is not None and repr(phoneme_type) in reason and "'espeak' and 'text'" in reason
    assert ("unknown" in reason) == (phoneme_type == "klingon")


def test_espeak_and_text_are_supported():
    assert unsupported_phoneme_type("espeak") is None and unsupported_phoneme_type("text") is None
    assert unsupported_phoneme_type(None) is not None and unsupported_phoneme_type(["text"]) is not None


@pytest.mark.parametrize("phoneme_type", _REFUSED)
def test_frontend_refuses_a_piper_config_of_an_unsupported_type(phoneme_type):
    with pytest.raises(FrontendError, match=phoneme_type):
        TextFrontend.from_piper_config(_piper_config(phoneme_type))


def _manifest(phonemizer: dict) -> Manifest:
    return Manifest(family="vits", name="m", sample_rate=16000, hop_length=256, graphs={}, n_vocab=256,
                    phoneme_id_map=CHAR_MAP, phonemizer=phonemizer)


@pytest.mark.parametrize("phoneme_type", _REFUSED)
def test_frontend_refuses_a_manifest_of_an_unsupported_type(phoneme_type):
    with pytest.raises(FrontendError, match=phoneme_type):
        TextFrontend.from_manifest(_manifest({"type": phoneme_type, "voice": "cmn"}))


def test_manifest_type_selects_the_frontend():
    assert type(TextFrontend.from_manifest(_manifest({"type": "text"}))) is CodepointFrontend
    assert type(TextFrontend.from_manifest(_manifest({"type": "espeak"}))) is TextFrontend
    assert type(TextFrontend.from_manifest(_manifest({}))) is TextFrontend  # older bundles: espeak


# --- build and speak (tiny random-weight voices) --------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_text_voice(tmp_path_factory) -> Path:
    """A tiny random VITS exported like a Piper voice whose config says phoneme_type "text"."""
    pytest.importorskip("torch", reason="building test voices needs the export extra (torch)")
    from support.tiny import export_piper_style, tiny_model

    onnx_path = export_piper_style(tiny_model(), tmp_path_factory.mktemp("text_voice"), CHAR_MAP)
    _set_phoneme_type(onnx_path, "text")
    return onnx_path


def _set_phoneme_type(onnx_path: Path, phoneme_type: str) -> None:
    config_path = onnx_path.with_name(onnx_path.name + ".json")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config_path.write_text(json.dumps({**config, "phoneme_type": phoneme_type}, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def tiny_text_bundle(tiny_text_voice, tmp_path_factory) -> Path:
    from voxport.cli import main

    out = tmp_path_factory.mktemp("text_bundle") / "tiny"
    assert main(["build", "--piper", str(tiny_text_voice), "--output", str(out), "--quiet"]) == 0
    return out


def test_text_voice_builds_and_speaks_like_the_monolith(tiny_text_voice, tiny_text_bundle):
    from support.tiny import run_monolith

    from voxport import Voice

    config = json.loads(tiny_text_voice.with_name(tiny_text_voice.name + ".json").read_text(encoding="utf-8"))
    text = "Ça va? Съешь ещё."
    # piper-tts speaks the text as one sequence; voxport speaks it sentence by sentence.
    expected = [_piper_tts_ids(s, config)[0] for s in ("Ça va?", "Съешь ещё.")]
    with Voice.load(tiny_text_bundle, threads=1) as voice:
        assert voice.manifest.phonemizer["type"] == "text"
        assert isinstance(voice.frontend, CodepointFrontend)
        assert [ids for _, _, ids in voice.frontend.text_to_ids(text)] == expected
        ours = voice.synthesize("Ça va?", noise_scale=0.0, noise_w=0.0)
        ref = run_monolith(tiny_text_voice, expected[0])
        assert ours.shape == ref.shape and np.max(np.abs(ours - ref)) <= 1e-3
        chunks = list(voice.stream(text, seed=0))
    # Word timestamps re-read words through the front-end's phonemizer: code points here, never espeak.
    words = [w.word for c in chunks if c.sentence_index >= 0 and c.last_in_sentence for w in c.timing.words]
    assert words == ["Ça", "va", "Съешь", "ещё"]


@pytest.mark.parametrize("phoneme_type", _REFUSED)
def test_build_refuses_an_unsupported_type_before_writing_anything(tiny_text_voice, tmp_path, phoneme_type):
    from voxport.export.errors import UnsupportedConfigError
    from voxport.export.vits.build import build_from_piper

    voice = tmp_path / "voice.onnx"
    shutil.copy(tiny_text_voice, voice)
    shutil.copy(tiny_text_voice.with_name(tiny_text_voice.name + ".json"), voice.with_name("voice.onnx.json"))
    _set_phoneme_type(voice, phoneme_type)
    with pytest.raises(UnsupportedConfigError, match=f"voice.onnx.json.*'{phoneme_type}'.*need"):
        build_from_piper(voice, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_vits_bundles_from_torch_refuse_an_unsupported_type(tmp_path):
    pytest.importorskip("torch", reason="needs the export extra (torch)")
    from support.tiny import tiny_model

    from voxport.export.errors import UnsupportedConfigError
    from voxport.export.vits.build import build_vits_bundle
    from voxport.synthesis import Scales

    with pytest.raises(UnsupportedConfigError, match="pinyin"):
        build_vits_bundle(tiny_model(), tmp_path / "out", name="t", phoneme_id_map=CHAR_MAP,
                          phonemizer={"type": "pinyin", "voice": "cmn"}, inference=Scales(), source={})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("phoneme_type", ["pinyin", "klingon"])
def test_loading_a_bundle_of_an_unsupported_type_names_it(tiny_text_bundle, tmp_path, phoneme_type):
    from voxport import Voice

    bundle = shutil.copytree(tiny_text_bundle, tmp_path / "bundle")
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["phonemizer"]["type"] = phoneme_type
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(FrontendError, match=f"'{phoneme_type}'"):
        Voice.load(bundle, threads=1)
