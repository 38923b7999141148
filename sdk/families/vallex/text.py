"""English text -> VALL-E X text ids: voxport's espeak phonemes rewritten toward the IPA of Plachtaa's
English G2P (CMU-dictionary IPA, `english_to_ipa2`), then looked up symbol by symbol in the vocabulary
of its `bpe_69.json` (70 single symbols, no merges, so a symbol-by-symbol lookup is what its tokenizer
does). Words are joined by "_" and a sentence starts with "_", as Plachtaa's `tokenize(f"_{text}")` does.

How often the rewritten words equal Plachtaa's is measured by benchmarks/vallex_g2p.py
(docs/families/vallex.md); symbols still outside the vocabulary are dropped."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from voxport.text.frontend import FrontendError, TextFrontend

WORD = "_"
STRESS = "ˈˌ"
VOWELS = "aeiouæɑɒɔəɛɜɪʊʌɐɚᵻ"
# espeak (en-us) -> the dictionary IPA Plachtaa's model was trained on. Order matters: longer first.
_REWRITES: tuple[tuple[str, str], ...] = (
    ("ɜːɹ", "əɹ"), ("ɜː", "əɹ"), ("ɚ", "əɹ"), ("ɐ", "ə"), ("ʌ", "ə"), ("ᵻ", "ɪ"), ("ɡ", "g"), ("ɾ", "t"),
    ("ː", ""), ("ʲ", ""), ("ɬ", "l"), ("ʔ", ""),
)
# Function words whose espeak form is not the dictionary pronunciation eng_to_ipa picks.
_WORDS = {"ænd": "ənd", "tə": "tɪ", "wʌz": "wɑz", "kæn": "kən", "fɔːɹ": "fəɹ", "ʌv": "əv", "fɹʌm": "fɹəm",
          "ðɪ": "ðə", "ðɪʲ": "ðə", "ɐ": "ə"}
# espeak joins a preposition and the following article into one word ("ʌvðə"); Plachtaa's G2P keeps two.
_JOINED = re.compile(r"^(ʌv|əv|ɔn|ɪn|fɚ|fɹʌm|wɪð|æt|tə)(ðə|ðɪʲ?|ɐ|ə)$")
_STRESS_MOVE = re.compile(rf"([^{VOWELS}{STRESS}\s]+)([{STRESS}])")
_GLIDES, _STOPS = "ɹlwj", "pbtdkgfvθszʃ"
_DARK_L = re.compile(rf"l(?=[^{VOWELS}]*$)")  # l with no vowel after it in its word: dark, as ipa2 marks


def split_joined(words: list[str]) -> list[str]:
    """espeak's preposition + article words split back into two."""
    out: list[str] = []
    for w in words:
        m = _JOINED.match(w)
        out += [m.group(1), m.group(2)] if m else [w]
    return out


def to_plachtaa_ipa(word: str) -> str:
    """One espeak word in Plachtaa's English IPA: its symbols rewritten, each stress mark moved before its
    syllable's onset consonants (espeak puts it before the vowel), no stress on one-syllable words."""
    word = _WORDS.get(word, word)
    for old, new in _REWRITES:
        word = word.replace(old, new)
    word = _STRESS_MOVE.sub(lambda m: _split_onset(m.group(1), m.group(2)), word)
    if sum(ch in VOWELS for ch in _vowel_groups(word)) <= 1:
        word = word.replace("ˈ", "").replace("ˌ", "")
    return _DARK_L.sub("ɫ", word)


def _onset_length(cluster: str) -> int:
    """How many of the cluster's last consonants may begin an English syllable (s + stop + glide at most)."""
    n = 1
    if len(cluster) >= 2 and cluster[-1] in _GLIDES and cluster[-2] in _STOPS:
        n = 2
        if len(cluster) >= 3 and cluster[-3] == "s" and cluster[-2] in "ptk":
            n = 3
    elif len(cluster) >= 2 and cluster[-2] == "s" and cluster[-1] in "ptkmnw":
        n = 2
    if n < len(cluster) and cluster[-n] in "ʃʒ" and cluster[-n - 1] in "td":  # tʃ, dʒ are one sound
        n += 1
    return n


def _split_onset(cluster: str, mark: str) -> str:
    n = _onset_length(cluster)
    return cluster[:-n] + mark + cluster[-n:]


def _vowel_groups(word: str) -> str:
    """One character per run of vowels (a diphthong counts once)."""
    return re.sub(rf"[{VOWELS}]+", "a", word)


class VallexFrontend(TextFrontend):
    def __init__(self, phoneme_id_map: Mapping[str, Sequence[int]], *, espeak_voice: str | None = "en-us",
                 **_ignored: object) -> None:
        if WORD not in phoneme_id_map:
            raise FrontendError(f"the VALL-E X symbol table lacks the word separator {WORD!r}")
        if (espeak_voice or "en-us").split("-")[0] != "en":
            raise FrontendError(f"VALL-E X text in {espeak_voice!r} needs its own G2P, which voxport does not "
                                "have yet; only English goes through espeak here")
        # The Piper-style mapper wants pad/bos/eos symbols; `ids` below never adds them.
        super().__init__(phoneme_id_map, espeak_voice="en-us", pad=WORD, bos=WORD, eos=WORD)
        self.table = {s: int(i[0]) for s, i in phoneme_id_map.items() if len(s) == 1 and i}

    def ids(self, phonemes: str) -> list[int]:
        text = WORD + WORD.join(to_plachtaa_ipa(w) for w in split_joined(phonemes.split()))
        return [self.table[ch] for ch in text if ch in self.table]
