"""VALL-E X's Chinese and Japanese front-ends (torch-free): Plachtaa's IPA routes re-written for voxport.
The hand-checked strings follow Plachtaa's tables (bopomofo -> IPA with tone arrows; OpenJTalk phonemes with
accent marks); the agreement test runs Plachtaa's own `chinese_to_ipa` / `japanese_to_ipa2` when a checkout
is at $VALLEX_CHECKOUT (or /work/ref/VALL-E-X). Tests needing an extra skip, naming it, when it is absent."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from voxport.families.vallex.text import VallexFrontend
from voxport.text.frontend import FrontendError

HAS_ZH = all(importlib.util.find_spec(m) for m in ("pypinyin", "jieba", "cn2an"))
HAS_JA = all(importlib.util.find_spec(m) for m in ("pyopenjtalk", "unidecode"))
needs_zh = pytest.mark.skipif(not HAS_ZH, reason="needs the vallex-zh extra (pypinyin, jieba, cn2an)")
needs_ja = pytest.mark.skipif(not HAS_JA, reason="needs the vallex-ja extra (pyopenjtalk-plus, unidecode)")
# Plachtaa's bpe_69.json vocabulary (its single symbols; the [UNK]/[PAD]-style tokens left out).
BPE_69 = "!#*,-.=?NQ^_`abdefghijklmnopstuvwxyz~æçðŋɑɔəɛɥɪɫɯɸɹɾʃʊʑʒʰˈˌθ…⁼↑→↓"
TABLE = {s: [i] for i, s in enumerate(BPE_69)}
CHECKOUT = Path(os.environ.get("VALLEX_CHECKOUT", "/work/ref/VALL-E-X"))
BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "vallex_g2p_cjk.py"


@needs_zh
@pytest.mark.parametrize(("text", "ipa"), [
    ("你好", "ni↓↑xɑʊ↓↑"),  # ni3 hao3: ˇ -> ↓↑ (no sandhi, as Plachtaa), ㄏ -> x
    ("我有3个苹果。", "wo↓↑ joʊ↓↑ san→k⁼ə↓ pʰiŋ↑k⁼wo↓↑."),  # 3 read as 三 (tone 1 -> →), u+o -> wo
    ("OK吧", "oʊ→kʰeɪ↓ p⁼a"),  # Latin letters spelled in bopomofo; neutral tone leaves no mark
])
def test_mandarin_hand_checked(text: str, ipa: str) -> None:
    from voxport.families.vallex.mandarin import mandarin_ipa

    assert mandarin_ipa(text) == ipa


@needs_ja
@pytest.mark.parametrize(("text", "ipa"), [
    ("がっこう", "ga↑k#koo"),  # sokuon before k -> k#, pitch rises after the first mora
    ("さんぽ", "sa↓mpo"),  # hatsuon before p -> m, accent nucleus on the first mora
    ("100％", "ça↑kɯ*paase↓nto"),  # ％ read out; devoiced U -> ɯ*, hi -> çi
])
def test_japanese_hand_checked(text: str, ipa: str) -> None:
    from voxport.families.vallex.japanese import japanese_ipa

    assert japanese_ipa(text) == ipa


@pytest.mark.parametrize("language", [pytest.param("zh", marks=needs_zh), pytest.param("ja", marks=needs_ja)])
def test_agrees_with_plachtaa_and_stays_in_bpe_69(language: str) -> None:
    if not (CHECKOUT / "utils" / "g2p" / "mandarin.py").exists():
        pytest.skip(f"no Plachtaa VALL-E-X checkout at {CHECKOUT} (set VALLEX_CHECKOUT)")
    spec = importlib.util.spec_from_file_location("vallex_g2p_cjk", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    same, total, diffs = bench.compare(CHECKOUT)[language]
    assert total == 20 and same == total, diffs
    frontend = VallexFrontend(TABLE, language=language)
    for text in bench.sentences()[language]:
        phonemes = frontend.phonemes(text)
        assert set(phonemes.replace(" ", "_")) <= set(BPE_69), (text, phonemes)


@needs_zh
def test_frontend_ids_as_plachtaas_tokenizer() -> None:
    frontend = VallexFrontend(TABLE, language="zh")
    assert list(frontend.sentences("你好。OK吧！")) == ["你好。", "OK吧！"]
    phonemes = frontend.phonemes("你好")
    assert phonemes == "ni↓↑xɑʊ↓↑."  # clean_one: a segment not ending in punctuation gets "."
    ids = frontend.ids("wo↓↑ joʊ↓↑.")
    assert [BPE_69[i] for i in ids] == list("wo↓↑_joʊ↓↑.")  # spaces -> "_", no leading "_"


@pytest.mark.parametrize(("language", "modules", "extra"), [("zh", ("pypinyin", "jieba", "cn2an"), "vallex-zh"),
                                                            ("ja", ("pyopenjtalk", "unidecode"), "vallex-ja")])
def test_missing_extra_is_refused_in_one_line(monkeypatch, language: str, modules: tuple[str, ...],
                                               extra: str) -> None:
    monkeypatch.setitem(sys.modules, modules[0], None)  # None in sys.modules: the import fails
    # The message names a package of the extra that is missing: the hidden one, or another one the machine
    # lacks (without the extra, the first checked).
    names = "|".join(modules)
    with pytest.raises(FrontendError, match=rf"needs the ({names}) package: pip install 'voxport\[{extra}\]'") as e:
        VallexFrontend(TABLE, language=language)
    assert "\n" not in str(e.value)


def test_other_languages_are_refused() -> None:
    with pytest.raises(FrontendError, match="en, zh and ja"):
        VallexFrontend(TABLE, language="ko")
