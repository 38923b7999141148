"""`Voice`: a bundle, its front-end and its graph sessions, turned into speech."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from voxport.audio import apply_volume, silence
from voxport.bundle import Bundle
from voxport.engine import Engine
from voxport.frontend import TextFrontend
from voxport.receptive_field import Reach, measure_reach
from voxport.runtimes import RuntimeOptions
from voxport.stages import StageChoice, StageSessions
from voxport.streaming import (
    DEFAULT_CHUNK_FRAMES,
    DEFAULT_FIRST_CHUNK_FRAMES,
    AudioChunk,
    LazyTiming,
    sentences_from_pieces,
    stream_audio,
)
from voxport.timestamps import sentence_timing


@dataclass(frozen=True)
class SentenceAudio:
    """One synthesized sentence with what produced it."""

    text: str
    phonemes: str
    phoneme_ids: list[int]
    frames: np.ndarray  # frames per phoneme id, from the duration predictor
    audio: np.ndarray


class Voice:
    """A loaded voice. Load once, synthesize many times; not safe to share across threads while running."""

    def __init__(
        self,
        bundle: Bundle,
        sessions: StageSessions,
        *,
        sentence_silence: float = 0.2,
    ) -> None:
        m = bundle.manifest
        self.bundle = bundle
        self.manifest = m
        self.sessions = sessions
        self.engine = Engine(m, sessions)
        self._reach: Reach | None = None
        self.sentence_silence = sentence_silence
        self.sample_rate: int = m.sample_rate
        self.hop_length: int = m.hop_length
        self.name: str = m.name
        self.frontend = TextFrontend.from_manifest(m)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        runtime: StageChoice = "cpu",
        precision: StageChoice = "fp32",
        *,
        threads: int | None = None,
        sentence_silence: float = 0.2,
        verify: bool = True,
        progress: bool = True,
    ) -> Voice:
        """Load a bundle directory (None: the default voice, built into the cache on first use).

        `runtime` and `precision` are one name for every stage or a mapping stage -> name, e.g.
        `{"decoder": "openvino", "vocoder": "openvino", "default": "cpu"}`.
        """
        if path is None:
            from voxport.default_voice import ensure_default_bundle

            path = ensure_default_bundle(progress=progress)
        bundle = Bundle.load(path, verify=verify)
        sessions = StageSessions.open(bundle, runtime, precision, RuntimeOptions(threads=threads))
        return cls(bundle, sessions, sentence_silence=sentence_silence)

    # --- public synthesis API ----------------------------------------------------------------------
    def synthesize(
        self,
        text: str,
        *,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w: float | None = None,
        seed: int | None = None,
        speaker: int | str | None = None,
        volume: float = 1.0,
    ) -> np.ndarray:
        """Speak `text`: float32 mono in [-1, 1] at `sample_rate`; empty text gives empty audio."""
        pieces: list[np.ndarray] = []
        gap = silence(self.sentence_silence, self.sample_rate)
        for sentence in self.iter_sentences(
            text, length_scale=length_scale, noise_scale=noise_scale, noise_w=noise_w, seed=seed, speaker=speaker
        ):
            if pieces and gap.size:
                pieces.append(gap)
            pieces.append(sentence.audio)
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return apply_volume(audio, volume)

    def iter_sentences(
        self,
        text: str,
        *,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w: float | None = None,
        seed: int | None = None,
        speaker: int | str | None = None,
    ) -> Iterator[SentenceAudio]:
        """Synthesize sentence by sentence, lazily: memory stays flat however long the text is."""
        rng = np.random.default_rng(seed)
        for sentence, phonemes, ids in self.frontend.text_to_ids(text):
            audio, frames = self._synthesize(ids, length_scale, noise_scale, noise_w, rng, speaker)
            yield SentenceAudio(sentence, phonemes, ids, frames, audio)

    def synthesize_ids(
        self,
        phoneme_ids: Sequence[int],
        *,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w: float | None = None,
        seed: int | None = None,
        speaker: int | str | None = None,
    ) -> np.ndarray:
        """Speak one utterance given as phoneme ids (BOS/EOS/pads included, as Piper's graph takes them)."""
        rng = np.random.default_rng(seed)
        return self._synthesize(list(phoneme_ids), length_scale, noise_scale, noise_w, rng, speaker)[0]

    def stream(
        self,
        text: str | Iterable[str],
        *,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w: float | None = None,
        seed: int | None = None,
        speaker: int | str | None = None,
        volume: float = 1.0,
        first_chunk_frames: int = DEFAULT_FIRST_CHUNK_FRAMES,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ) -> Iterator[AudioChunk]:
        """Yield audio chunks as soon as each is ready; joined, they equal `synthesize` with the same seed.

        `text` may be one string or an iterable of pieces (tokens from a language model): speaking
        starts at each sentence boundary without waiting for the rest. Each chunk carries its sample
        offset and its sentence's phoneme and word timestamps.
        """
        rng = np.random.default_rng(seed)
        scales = self.engine.scales(length_scale, noise_scale, noise_w)
        sid = self.engine.speaker_id(speaker)
        reach = self.reach
        gap = silence(self.sentence_silence, self.sample_rate)
        pieces = [text] if isinstance(text, str) else sentences_from_pieces(text)
        offset, index = 0, 0
        for piece in pieces:
            for sentence, phonemes, ids in self.frontend.text_to_ids(piece):
                if index and gap.size:
                    yield AudioChunk(gap, offset, -1, True, None)
                    offset += gap.size
                prepared = self.engine.prepare(ids, scales, rng, sid)
                timing = LazyTiming(partial(
                    sentence_timing, sentence, phonemes, self.frontend.mapper, prepared.frames, self.hop_length,
                    self.sample_rate, offset, phonemize_word=self.frontend.phonemizer.phonemize,
                ))
                for audio, last in stream_audio(self.engine, prepared, reach, first_chunk_frames, chunk_frames):
                    audio = apply_volume(audio, volume)
                    yield AudioChunk(audio, offset, index, last, timing)
                    offset += audio.size
                index += 1

    @property
    def reach(self) -> Reach:
        """Context frames each streamed window needs per graph: from the manifest, else measured once."""
        if self._reach is None:
            recorded = self.manifest.extra.get("streaming")
            if recorded:
                self._reach = Reach(recorded["decoder_context_frames"], recorded["vocoder_context_frames"])
            else:
                self._reach = measure_reach(self.sessions, self.hop_length,
                                            frame_multiple=self.manifest.frame_multiple)
        return self._reach

    def phonemize(self, text: str) -> list[str]:
        """The phoneme string of each sentence, for inspection."""
        return [phonemes for _, phonemes, _ in self.frontend.text_to_ids(text)]

    def close(self) -> None:
        self.sessions.close()

    def __enter__(self) -> Voice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the pipeline ---------------------------------------------------------------------------------
    def _synthesize(
        self,
        ids: list[int],
        length_scale: float | None,
        noise_scale: float | None,
        noise_w: float | None,
        rng: np.random.Generator,
        speaker: int | str | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        if not ids:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scales = self.engine.scales(length_scale, noise_scale, noise_w)
        prepared = self.engine.prepare(ids, scales, rng, self.engine.speaker_id(speaker))
        return self.engine.render(prepared), prepared.frames
