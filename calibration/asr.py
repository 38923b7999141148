"""Relative intelligibility: PocketSphinx word error rate of synthesized speech against its text.

PocketSphinx's small US-English model ships inside the `pocketsphinx` wheel (nothing is downloaded).
It is a weak recognizer, so its absolute WER says little; the same sentences decoded from fp32 and from
int8 audio make a useful *relative* check.
"""

from __future__ import annotations

import re

import numpy as np

ASR_RATE = 16000


class Recognizer:
    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise ImportError("the WER check needs pocketsphinx: pip install 'voxport[calibration]'") from exc
        self._decoder = Decoder(samprate=ASR_RATE, logfn="/dev/null")

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        n = int(round(audio.size * ASR_RATE / sample_rate))
        # Linear resampling is enough for a recognizer working on 16 kHz MFCCs up to 8 kHz... almost:
        # it aliases little because the voice has little energy near the new Nyquist.
        resampled = np.interp(np.linspace(0, audio.size - 1, n), np.arange(audio.size), audio)
        pcm = (np.clip(resampled, -1, 1) * 32767).astype(np.int16).tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, number of reference words)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)
