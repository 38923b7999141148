"""English text -> VALL-E X text ids: voxport's espeak phonemes rewritten toward the IPA of Plachtaa's
English G2P (CMU-dictionary IPA, `english_to_ipa2`), then looked up symbol by symbol in the vocabulary
of its `bpe_69.json` (70 single symbols, no merges, so a symbol-by-symbol lookup is what its tokenizer
does). Words are joined by "_" and a sentence starts with "_", as Plachtaa's `tokenize(f"_{text}")` does.

How often the rewritten words equal Plachtaa's is measured by benchmarks/vallex_g2p.py
(docs/families/vallex.md); symbols still outside the vocabulary are dropped."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

from voxport.families.vallex.extras import EXTRAS, missing
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
_PUNCTUATION = ".,!?-…~"  # Plachtaa's clean_one leaves a segment ending in one of these alone
# A Chinese or Japanese sentence: up to and including its closing marks (or the end of the text).
_CJK_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]*")
# A manifest's espeak voice naming a language the CJK routes speak (espeak's Mandarin is "cmn").
_ESPEAK_LANGUAGE = {"en": "en", "cmn": "zh", "zh": "zh", "ja": "ja"}
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
    """English through espeak (rewritten as above); Chinese and Japanese through Plachtaa's routes
    (voxport.families.vallex.mandarin / japanese, the `vallex-zh` / `vallex-ja` extras), refused in one line
    naming the extra when its packages are absent."""

    def __init__(self, phoneme_id_map: Mapping[str, Sequence[int]], *, espeak_voice: str | None = "en-us",
                 language: str | None = None, **_ignored: object) -> None:
        if WORD not in phoneme_id_map:
            raise FrontendError(f"the VALL-E X symbol table lacks the word separator {WORD!r}")
        language = language or _ESPEAK_LANGUAGE.get((espeak_voice or "en-us").split("-")[0], espeak_voice)
        if language in EXTRAS:
            refusal = missing(language)
            if refusal:
                raise FrontendError(refusal)
        elif language != "en":
            raise FrontendError(f"VALL-E X text in {language!r}: voxport's VALL-E X front-ends are en, zh and ja")
        # The Piper-style mapper wants pad/bos/eos symbols; `ids` below never adds them.
        super().__init__(phoneme_id_map, espeak_voice="en-us", pad=WORD, bos=WORD, eos=WORD)
        self.language = language
        self.id_map = phoneme_id_map
        self.table = {s: int(i[0]) for s, i in phoneme_id_map.items() if len(s) == 1 and i}

    def for_language(self, language: str) -> VallexFrontend:
        """This front-end, or one for `language` on the same symbol table."""
        if language == self.language:
            return self
        return VallexFrontend(self.id_map, language=language)

    def sentences(self, text: str) -> Iterator[str]:
        if self.language == "en":
            yield from super().sentences(text)
            return
        # No English normalizer (it would read digits in English): Plachtaa's routes read numbers themselves.
        for sentence in _CJK_SENTENCE.findall(text):
            if sentence.strip():
                yield sentence.strip()

    def phonemes(self, sentence: str) -> str:
        if self.language == "en":
            return super().phonemes(sentence)
        from voxport.families.vallex.japanese import japanese_ipa
        from voxport.families.vallex.mandarin import mandarin_ipa

        ipa = (mandarin_ipa if self.language == "zh" else japanese_ipa)(sentence).rstrip()
        # As Plachtaa's clean_one: a segment not ending in punctuation ends with a full stop.
        return ipa + "." if ipa and ipa[-1] not in _PUNCTUATION else ipa

    def ids(self, phonemes: str) -> list[int]:
        if self.language != "en":  # Plachtaa's tokenize: spaces become "_", no leading "_"
            return [self.table[ch] for ch in phonemes.replace(" ", WORD) if ch in self.table]
        text = WORD + WORD.join(to_plachtaa_ipa(w) for w in split_joined(phonemes.split()))
        return [self.table[ch] for ch in text if ch in self.table]
