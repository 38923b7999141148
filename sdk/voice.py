"""`Voice`: a bundle, its front-end and its graph sessions, turned into speech."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxport.audio import apply_volume, silence
from voxport.bundle import Bundle
from voxport.frontend import TextFrontend
from voxport.regulate import duration_noise, expand_prior, frames_per_phoneme, sample_prior
from voxport.runtimes import RuntimeOptions
from voxport.stages import StageChoice, StageSessions


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
        self.sentence_silence = sentence_silence
        self.sample_rate: int = m.sample_rate
        self.hop_length: int = m.hop_length
        self.name: str = m.name
        ph = m.phonemizer
        self.frontend = TextFrontend(
            m.phoneme_id_map,
            espeak_voice=ph.get("voice", "en-us"),
            pad=ph.get("pad", "_"),
            bos=ph.get("bos", "^"),
            eos=ph.get("eos", "$"),
            pad_after_bos=ph.get("pad_after_bos", True),
        )

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
    def _speaker_id(self, speaker: int | str | None) -> np.ndarray | None:
        if self.manifest.num_speakers <= 1:
            return None
        if speaker is None:
            speaker = 0
        if isinstance(speaker, str):
            if speaker not in self.manifest.speaker_id_map:
                raise ValueError(f"unknown speaker {speaker!r}; known: {sorted(self.manifest.speaker_id_map)}")
            speaker = self.manifest.speaker_id_map[speaker]
        if not 0 <= int(speaker) < self.manifest.num_speakers:
            raise ValueError(f"speaker id {speaker} out of range 0..{self.manifest.num_speakers - 1}")
        return np.array([int(speaker)], np.int64)

    def _scales(
        self, length_scale: float | None, noise_scale: float | None, noise_w: float | None
    ) -> tuple[float, float, float]:
        d = self.manifest.inference
        ls = d.get("length_scale", 1.0) if length_scale is None else length_scale
        ns = d.get("noise_scale", 0.667) if noise_scale is None else noise_scale
        nw = d.get("noise_w", 0.8) if noise_w is None else noise_w
        if not ls > 0:
            raise ValueError(f"length_scale must be > 0, got {ls}")
        if ns < 0 or nw < 0:
            raise ValueError("noise_scale and noise_w must be >= 0")
        return float(ls), float(ns), float(nw)

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
        vocab = self.manifest.extra.get("model_config", {}).get("n_vocab")
        if vocab is not None and (min(ids) < 0 or max(ids) >= vocab):
            raise ValueError(f"phoneme ids must lie in [0, {vocab}); got min {min(ids)}, max {max(ids)}")
        ls, ns, nw = self._scales(length_scale, noise_scale, noise_w)
        feeds: dict[str, np.ndarray] = {
            "phoneme_ids": np.asarray([ids], dtype=np.int64),
            "phoneme_lengths": np.asarray([len(ids)], dtype=np.int64),
        }
        sid = self._speaker_id(speaker)
        if sid is not None:
            feeds["sid"] = sid
        feeds.update(self.sessions.run("encoder", feeds))
        feeds["noise"] = duration_noise(len(ids), nw, rng)
        logw = self.sessions.run("duration", feeds)["log_durations"]
        frames = frames_per_phoneme(logw, feeds["phoneme_mask"], ls)
        mean, log_std = expand_prior(feeds["prior_mean"], feeds["prior_log_std"], frames)
        feeds["prior_latent"] = sample_prior(mean, log_std, ns, rng)
        feeds["frame_mask"] = np.ones((1, 1, mean.shape[2]), np.float32)
        feeds["latent"] = self.sessions.run("decoder", feeds)["latent"]
        audio = self.sessions.run("vocoder", feeds)["audio"].reshape(-1)
        return audio.astype(np.float32, copy=False), frames
