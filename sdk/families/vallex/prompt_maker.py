"""A voice prompt from a recording and its transcript (torch-free): read the WAV, mix to mono, resample
to 24 kHz, check 3-10 s, encode with the bundle's EnCodec graph, and map the transcript to text ids.

Resampling is band-limited through the FFT of the whole clip (exact for a periodic signal; a clip's
edges ring slightly). The last partial EnCodec frame (under 320 samples, 13.3 ms) is dropped, so the
codes are EnCodec's own on the audio kept (voxport.export.vallex.encodec)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from voxport.families.vallex import contract as v
from voxport.families.vallex.prompt import VoicePrompt

SAMPLE_RATE, HOP = 24000, 320
MIN_SECONDS, MAX_SECONDS = 3.0, 10.0


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """float32 mono in [-1, 1] and its rate, from 8/16/24/32-bit PCM."""
    with wave.open(str(path), "rb") as w:
        width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        x = (b[:, 0].astype(np.int32) | b[:, 1].astype(np.int32) << 8 | b[:, 2].astype(np.int32) << 16)
        x = np.where(x >= 1 << 23, x - (1 << 24), x) / float(1 << 23)
    elif width in (1, 2, 4):
        dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
        x = np.frombuffer(raw, dtype).astype(np.float64)
        x = (x - 128) / 128 if width == 1 else x / float(1 << (8 * width - 1))
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported (use 16-bit PCM)")
    return x.reshape(-1, channels).mean(axis=1).astype(np.float32), rate


def resample(x: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if rate == target:
        return x
    n = int(round(x.size * target / rate))
    spectrum = np.fft.rfft(x.astype(np.float64))
    out = np.zeros(n // 2 + 1, np.complex128)
    keep = min(out.size, spectrum.size)
    out[:keep] = spectrum[:keep]
    return (np.fft.irfft(out, n) * (n / x.size)).astype(np.float32)


def make_prompt(engine, frontend, audio_path: str | Path, transcript: str, language: str = "en"  # noqa: ANN001
                ) -> VoicePrompt:
    """`engine` runs the bundle's graphs (it needs `codec_encoder`); `frontend` maps the transcript."""
    if language not in v.LANGUAGE_IDS:
        raise ValueError(f"language {language!r}: VALL-E X prompts are one of {sorted(v.LANGUAGE_IDS)}")
    if v.CODEC_ENCODER not in engine.sessions.sessions:
        raise ValueError("this bundle has no EnCodec encoder: rebuild it with `voxport build --vallex ... "
                         "--encodec encodec_24khz-d7cc33bc.th`")
    x, rate = read_wav(audio_path)
    seconds = x.size / rate
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"{audio_path}: {seconds:.2f} s of audio; a prompt is {MIN_SECONDS:g}-{MAX_SECONDS:g} s")
    x = resample(x, rate)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:  # as Plachtaa's make_transcript does
        x = x / peak
    x = x[: x.size // HOP * HOP]
    frontend = frontend.for_language(language)  # zh / ja transcripts: their extras, refused when absent
    codes = engine.run(v.CODEC_ENCODER, {v.PROMPT_AUDIO: x[None, None]})[v.CODES][0]
    ids = [i for sentence in frontend.sentences(transcript) for i in frontend.ids(frontend.phonemes(sentence))]
    word = frontend.table.get("_")
    if ids and ids[0] == word:  # Plachtaa tokenizes a prompt's transcript without the leading "_"
        ids = ids[1:]
    if not ids:
        raise ValueError("the transcript gives no text ids")
    return VoicePrompt(codes.astype(np.int64), np.asarray(ids, np.int64), language)
