"""Mandarin text -> the IPA string Plachtaa's VALL-E X was trained on (its `chinese_to_ipa` route in
`utils/g2p/mandarin.py`): Arabic numbers read out (cn2an), words cut by jieba, each word's syllables as
bopomofo (pypinyin, tone 1 made explicit), Latin letters spelled in bopomofo, then bopomofo -> IPA with
arrows for tones. Written for voxport from a reading of that route; the packages are the `vallex-zh` extra.
Agreement with Plachtaa's own function: benchmarks/vallex_g2p_cjk.py (docs/families/vallex.md)."""

from __future__ import annotations

import re

from voxport.families.vallex.extras import require

# Latin letters as a Mandarin speaker spells them (Plachtaa's table; the model was trained on these).
_LETTERS = {
    "a": "ㄟˉ", "b": "ㄅㄧˋ", "c": "ㄙㄧˉ", "d": "ㄉㄧˋ", "e": "ㄧˋ", "f": "ㄝˊㄈㄨˋ", "g": "ㄐㄧˋ",
    "h": "ㄝˇㄑㄩˋ", "i": "ㄞˋ", "j": "ㄐㄟˋ", "k": "ㄎㄟˋ", "l": "ㄝˊㄛˋ", "m": "ㄝˊㄇㄨˋ", "n": "ㄣˉ",
    "o": "ㄡˉ", "p": "ㄆㄧˉ", "q": "ㄎㄧㄡˉ", "r": "ㄚˋ", "s": "ㄝˊㄙˋ", "t": "ㄊㄧˋ", "u": "ㄧㄡˉ",
    "v": "ㄨㄧˉ", "w": "ㄉㄚˋㄅㄨˋㄌㄧㄡˋ", "x": "ㄝˉㄎㄨˋㄙˋ", "y": "ㄨㄞˋ", "z": "ㄗㄟˋ",
}
# Bopomofo -> IPA, applied in this order (two-letter finals before their parts). Unaspirated stops carry
# "⁼", tones become arrows (ˇ falls then rises), the neutral tone mark disappears.
_TO_IPA: tuple[tuple[str, str], ...] = (
    ("ㄅㄛ", "p⁼wo"), ("ㄆㄛ", "pʰwo"), ("ㄇㄛ", "mwo"), ("ㄈㄛ", "fwo"),
    ("ㄅ", "p⁼"), ("ㄆ", "pʰ"), ("ㄇ", "m"), ("ㄈ", "f"), ("ㄉ", "t⁼"), ("ㄊ", "tʰ"), ("ㄋ", "n"), ("ㄌ", "l"),
    ("ㄍ", "k⁼"), ("ㄎ", "kʰ"), ("ㄏ", "x"), ("ㄐ", "tʃ⁼"), ("ㄑ", "tʃʰ"), ("ㄒ", "ʃ"), ("ㄓ", "ts`⁼"),
    ("ㄔ", "ts`ʰ"), ("ㄕ", "s`"), ("ㄖ", "ɹ`"), ("ㄗ", "ts⁼"), ("ㄘ", "tsʰ"), ("ㄙ", "s"),
    ("ㄚ", "a"), ("ㄛ", "o"), ("ㄜ", "ə"), ("ㄝ", "ɛ"), ("ㄞ", "aɪ"), ("ㄟ", "eɪ"), ("ㄠ", "ɑʊ"), ("ㄡ", "oʊ"),
    ("ㄧㄢ", "jɛn"), ("ㄩㄢ", "ɥæn"), ("ㄢ", "an"), ("ㄧㄣ", "in"), ("ㄩㄣ", "ɥn"), ("ㄣ", "ən"), ("ㄤ", "ɑŋ"),
    ("ㄧㄥ", "iŋ"), ("ㄨㄥ", "ʊŋ"), ("ㄩㄥ", "jʊŋ"), ("ㄥ", "əŋ"), ("ㄦ", "əɻ"), ("ㄧ", "i"), ("ㄨ", "u"),
    ("ㄩ", "ɥ"), ("ˉ", "→"), ("ˊ", "↑"), ("ˇ", "↓↑"), ("ˋ", "↓"), ("˙", ""),
    ("，", ","), ("。", "."), ("！", "!"), ("？", "?"), ("—", "-"),
)
_HAN = re.compile("[\u4e00-\u9fff]")
_NUMBER = re.compile(r"\d+(?:\.?\d+)?")
_BOPOMOFO_END = re.compile("([\u3105-\u3129])$")  # a syllable with no tone mark: tone 1


def _numbers_read(text: str) -> str:
    an2cn = require("vallex-zh", "cn2an").an2cn
    return _NUMBER.sub(lambda m: an2cn(m.group(0)), text)


def _bopomofo(text: str) -> str:
    """Words cut by jieba; a word with Han characters becomes its syllables' bopomofo (space-separated
    from what came before), anything else is kept as written."""
    jieba = require("vallex-zh", "jieba")
    pypinyin = require("vallex-zh", "pypinyin")
    for mark in "、；：":  # pauses Plachtaa's symbols lack become commas
        text = text.replace(mark, "，")
    out = ""
    for word in jieba.lcut(text, cut_all=False):
        if not _HAN.search(word):
            out += word
            continue
        syllables = pypinyin.lazy_pinyin(word, pypinyin.BOPOMOFO)
        out += (" " if out else "") + "".join(_BOPOMOFO_END.sub(r"\1ˉ", s) for s in syllables)
    return out


def mandarin_ipa(text: str) -> str:
    """One stretch of Mandarin text as Plachtaa's Chinese IPA (spaces between words)."""
    text = _bopomofo(_numbers_read(text))
    text = "".join(_LETTERS.get(ch.lower(), ch) for ch in text)
    for old, new in _TO_IPA:
        text = text.replace(old, new)
    text = re.sub("i([aoe])", r"j\1", text)  # medial i / u before a vowel are glides
    text = re.sub("u([aoəe])", r"w\1", text)
    # Retroflex and dental sibilants alone in a syllable carry their "buzzing" vowel.
    text = re.sub("([sɹ]`[⁼ʰ]?)([→↓↑ ]+|$)", r"\1ɹ`\2", text).replace("ɻ", "ɹ`")
    return re.sub("(s[⁼ʰ]?)([→↓↑ ]+|$)", r"\1ɹ\2", text)
