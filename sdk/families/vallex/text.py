"""English text -> VALL-E X text ids: voxport's espeak phonemes looked up symbol by symbol in the phoneme
vocabulary of Plachtaa's `bpe_69.json` (70 single symbols, no merges, so a symbol-by-symbol lookup is
what its tokenizer does). Words are joined by "_" and the sentence starts with "_", as Plachtaa's
`tokenize(f"_{text}")` does. Symbols outside the vocabulary are dropped (espeak and Plachtaa's English
G2P do not always agree; see docs/families/vallex.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from voxport.text.frontend import FrontendError, TextFrontend

WORD = "_"


class VallexFrontend(TextFrontend):
    def __init__(self, phoneme_id_map: Mapping[str, Sequence[int]], *, espeak_voice: str | None = "en-us",
                 **_ignored: object) -> None:
        if WORD not in phoneme_id_map:
            raise FrontendError(f"the VALL-E X symbol table lacks the word separator {WORD!r}")
        if (espeak_voice or "en-us").split("-")[0] != "en":
            raise FrontendError(f"VALL-E X's {espeak_voice!r} text needs its own G2P (pip install "
                                "'voxport[vallex-cjk]'); only English goes through espeak here")
        # The Piper-style mapper wants pad/bos/eos symbols; `ids` below never adds them.
        super().__init__(phoneme_id_map, espeak_voice="en-us", pad=WORD, bos=WORD, eos=WORD)
        self.table = {s: int(i[0]) for s, i in phoneme_id_map.items() if len(s) == 1 and i}

    def ids(self, phonemes: str) -> list[int]:
        text = WORD + WORD.join(phonemes.split())
        return [self.table[ch] for ch in text if ch in self.table]
