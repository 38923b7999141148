"""`voxport profile` speaks the voice's language: built-in texts and cold sentences in Japanese for a Japanese
voice (short ones counted in characters), English for every other voice, as before. Fast, no torch: the
end-to-end run uses the committed tiny Kokoro bundle with a stand-in for the Japanese G2P."""

from __future__ import annotations

import importlib.util
import json
import shutil
import unicodedata
from pathlib import Path

import pytest

from voxport.cli import main
from voxport.tools.profiling.cold import (
    SHORT_LENGTH,
    SHORT_WORDS,
    char_count,
    corpus_dir,
    corpus_language,
    corpus_sentences,
    draw_cold_sets,
    draw_cold_texts,
    text_length,
    word_count,
)
from voxport.tools.profiling.plan import DEFAULT_TEXTS, JAPANESE_TEXTS, default_texts

KOKORO = Path(__file__).parent / "data" / "bundles" / "kokoro"


def _japanese(text: str) -> bool:
    """Kana or kanji in it: what a Japanese G2P reads and an English one cannot."""
    return any(unicodedata.name(ch, "").startswith(("HIRAGANA", "KATAKANA", "CJK UNIFIED")) for ch in text)


def _sentences(texts) -> set[str]:
    """Each text cut after every 。, as the Japanese front-end cuts it (these texts end no sentence with ！？)."""
    return {part + "。" for text in texts for part in text.split("。") if part}


# --- the texts and the corpus a language gets ----------------------------------------------------------

def test_language_names_map_to_their_texts():
    assert [corpus_language(x) for x in ("ja", "ja_JP", "JA-jp")] == ["ja"] * 3
    assert [corpus_language(x) for x in ("en-us", "en_GB", "de", "fr-fr", "")] == ["en"] * 5  # English otherwise
    assert default_texts("ja") == JAPANESE_TEXTS and default_texts("ja_JP") == JAPANESE_TEXTS
    assert default_texts("en-us") == default_texts("de") == default_texts() == DEFAULT_TEXTS


def test_japanese_texts_run_from_a_greeting_to_a_paragraph_and_are_not_corpus_lines():
    assert len(JAPANESE_TEXTS) == len(DEFAULT_TEXTS) == 4
    assert all(_japanese(t) for t in JAPANESE_TEXTS)
    lengths = [char_count(t) for t in JAPANESE_TEXTS]
    assert lengths == sorted(lengths) and lengths[0] < 20 < 50 < lengths[-1]
    corpus = set(corpus_sentences(language="ja"))
    assert not _sentences(JAPANESE_TEXTS) & corpus  # cold sentences must be new to a process that spoke these


def test_the_corpus_files_are_the_ones_calibration_uses():
    """Calibration's corpus_for reads cold.py's language -> files table (cold.py cannot import
    voxport.calibration: it pulls in onnx); calibration/corpus.py is loaded here without its package."""
    spec = importlib.util.spec_from_file_location("_corpus", corpus_dir().parent / "corpus.py")
    assert spec is not None and spec.loader is not None
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    for language in ("ja", "ja_JP", "en-us", "de"):
        files = corpus.corpus_for(language)
        expected = [line.strip() for f in files for line in f.read_text("utf-8").splitlines() if line.strip()]
        assert corpus_sentences(language=language) == list(dict.fromkeys(expected))


# --- cold sentences --------------------------------------------------------------------------------------

def test_japanese_cold_sentences_are_japanese_new_and_short_in_characters():
    long, short = draw_cold_sets(8, 8, exclude=JAPANESE_TEXTS, language="ja")
    pool = set(corpus_sentences(language="ja"))
    everything = [*long, *short]
    assert len(set(everything)) == 16 and set(everything) <= pool and all(_japanese(s) for s in everything)
    assert not set(everything) & set(JAPANESE_TEXTS)
    low, high = SHORT_LENGTH["ja"]
    assert all(low <= char_count(s) <= high for s in short)
    assert draw_cold_sets(8, 8, exclude=JAPANESE_TEXTS, language="ja_JP") == (long, short)  # same every time


def test_enough_japanese_sentences_are_short():
    """Word counts mean nothing without spaces (a whole Japanese sentence is one "word"): characters it is,
    in a range that leaves room for the default 8 short ones and more."""
    pool = corpus_sentences(language="ja")
    assert len(pool) == 60 and all(word_count(s) == 1 for s in pool)
    low, high = SHORT_LENGTH["ja"]
    assert sum(low <= text_length(s, "ja") <= high for s in pool) >= 10
    assert char_count("はい、そうです。") == 6 and char_count("十五分、3回。") == 5  # punctuation is not counted
    with pytest.raises(ValueError, match=f"of {low}-{high} characters"):
        draw_cold_texts(len(pool), words=(low, high), language="ja")


def test_english_is_unchanged():
    assert SHORT_LENGTH["en"] == SHORT_WORDS == (8, 10)
    long, short = draw_cold_sets(8, 8, exclude=DEFAULT_TEXTS)
    assert draw_cold_sets(8, 8, exclude=DEFAULT_TEXTS, language="en-us") == (long, short)
    assert draw_cold_sets(8, 8, exclude=DEFAULT_TEXTS, language="de") == (long, short)  # no German corpus
    assert not any(_japanese(s) for s in [*long, *short])
    assert all(SHORT_WORDS[0] <= word_count(s) <= SHORT_WORDS[1] for s in short)
    assert corpus_sentences() == corpus_sentences(language="en-us")


# --- end to end: `voxport profile` on a Japanese Kokoro bundle ---------------------------------------------

@pytest.fixture
def japanese_kokoro(tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """The tiny Kokoro bundle with the front-end export/kokoro/build.py writes for Japanese, and the texts its
    G2P was given. The stand-in G2P returns phonemes the tiny vocab knows, one per character: the real one
    (the kokoro-ja extra) gives symbols the tiny vocab lacks, and the tiny model's 64-id context is shorter
    than a long Japanese sentence (unsplittable without spaces), so it could not run the default texts."""
    bundle = Path(shutil.copytree(KOKORO, tmp_path / "kokoro-ja"))
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    markers = {k: v for k, v in manifest["phonemizer"].items() if k in ("pad", "bos", "eos", "pad_after_bos")}
    manifest["phonemizer"] = {"type": "kokoro_ja", "language": "ja", **markers}
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    heard: list[str] = []

    def phonemize(self, text: str) -> str:
        heard.append(text)
        return ("kanote" * 10)[: max(1, min(char_count(text), 40))] + "."

    monkeypatch.setattr("voxport.families.kokoro.japanese.JapanesePhonemizer.phonemize", phonemize)
    return bundle, heard


def _profile(bundle: Path, out: Path) -> dict:
    code = main(["profile", "--bundle", str(bundle), "--in-process", "--no-baseline", "--threads", "1", "--runs", "1",
                 "--warmup", "0", "--passes", "1", "--cold", "2", "--json", str(out), "--quiet"])
    assert code == 0
    return json.loads(out.read_text("utf-8"))


def test_profile_of_a_japanese_voice_speaks_japanese(japanese_kokoro, tmp_path):
    bundle, heard = japanese_kokoro
    report = _profile(bundle, tmp_path / "report.json")
    settings = report["settings"]
    assert settings["language"] == "ja" and settings["texts"] == list(JAPANESE_TEXTS)
    cold = [*settings["cold"]["texts"], *settings["cold"]["short"]]
    assert len(set(cold)) == 4 and set(cold) <= set(corpus_sentences(language="ja"))
    assert not set(cold) & set(JAPANESE_TEXTS)
    [row] = report["configurations"]
    assert row["status"] == "ok", row["error"]
    assert heard and all(_japanese(t) for t in heard)  # the G2P never got English
    assert _sentences([*JAPANESE_TEXTS, *cold]) == set(heard)  # and got every one of them


# The default texts hold a phoneme or two the tiny model's vocab lacks (a real voice has them all).
@pytest.mark.filterwarnings("ignore::voxport.errors.UnknownSymbolWarning")
def test_profile_of_an_english_voice_is_unchanged(tmp_path):
    bundle = Path(shutil.copytree(KOKORO, tmp_path / "kokoro"))
    report = _profile(bundle, tmp_path / "report.json")
    settings = report["settings"]
    assert settings["language"] == "en-us" and settings["texts"] == list(DEFAULT_TEXTS)
    assert (settings["cold"]["texts"], settings["cold"]["short"]) == draw_cold_sets(2, 2, exclude=DEFAULT_TEXTS)
    assert report["configurations"][0]["status"] == "ok"
