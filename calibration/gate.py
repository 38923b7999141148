"""The quality gate: int8 against fp32 with the same durations and the same noise.

Each held-out sentence runs twice from the same random draws: the fp32 reference, and the
configuration under test. The test configuration gets the reference's frame counts (so both waveforms
have one length and can be compared sample by sample); a quantized duration predictor is judged
separately by how many phonemes its rounding moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from voxport.calibration.asr import Recognizer, word_errors
from voxport.quality import compare
from voxport.regulate import expand_prior, shift_prior
from voxport.stages import StageSessions
from voxport.voice import Voice


@dataclass(frozen=True)
class GateThresholds:
    max_mcd_db: float = 1.0  # mean mel-cepstral distortion vs fp32 (voxport.quality)
    max_wer_increase: float = 2.0  # percentage points above fp32's WER
    max_duration_changes: float = 0.0  # fraction of phonemes whose frame count may move


@dataclass
class Evaluation:
    name: str
    precisions: dict[str, str]  # the stages under test and their precision; the others run fp32
    sentences: int = 0
    mean: dict[str, float] = field(default_factory=dict)
    worst: dict[str, float] = field(default_factory=dict)
    duration_change_fraction: float = 0.0
    wer_fp32: float | None = None
    wer_int8: float | None = None
    passed: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def int8_stages(self) -> tuple[str, ...]:
        return tuple(s for s, p in self.precisions.items() if p.startswith("int8"))

    def to_dict(self) -> dict:
        return {**asdict(self), "int8_stages": list(self.int8_stages)}


@dataclass
class _Reference:
    ids: list[int]
    audio: np.ndarray
    frames: np.ndarray
    eps: np.ndarray
    noise: np.ndarray
    text: str


class Gate:
    """Evaluates configurations against one fp32 reference, computed (and transcribed) once."""

    def __init__(self, voice: Voice, sentences: Sequence[str], seed: int, thresholds: GateThresholds,
                 recognizer: Recognizer | None) -> None:
        self.voice, self.thresholds, self.recognizer = voice, thresholds, recognizer
        self.scales = voice.engine.scales(None, None, None)
        self._refs = [self._reference(text, ids, np.random.default_rng(seed + i))
                      for i, s in enumerate(sentences) for text, _, ids in voice.frontend.text_to_ids(s)]
        self._ref_words = (None if recognizer is None else
                           [word_errors(r.text, recognizer.transcribe(r.audio, voice.sample_rate)) for r in self._refs])

    def _reference(self, text: str, ids: list[int], rng: np.random.Generator) -> _Reference:
        s = self.voice.sessions
        noise = rng.standard_normal((1, 2, len(ids)), dtype=np.float32) * np.float32(self.scales.noise_w)
        enc, frames = self._encode(s, ids, noise)
        m, logs = expand_prior(enc["prior_mean"], enc["prior_log_std"], frames)
        eps = rng.standard_normal(m.shape, dtype=np.float32)
        return _Reference(ids, self._render(s, m, logs, eps), frames, eps, noise, text)

    def _encode(self, s: StageSessions, ids: list[int], noise: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Encoder and duration predictor: the encoder's outputs and the frames per phoneme."""
        enc = s.run("encoder", {"phoneme_ids": np.asarray([ids], np.int64), "phoneme_lengths": np.asarray([len(ids)])})
        logw = s.run("duration", {**enc, "noise": noise})["log_durations"]
        return enc, self.voice.engine.frames(logw, enc["phoneme_mask"], self.scales.length_scale)

    def _render(self, s: StageSessions, m: np.ndarray, logs: np.ndarray, eps: np.ndarray) -> np.ndarray:
        z = shift_prior(m, logs, eps, self.scales.noise_scale)
        latent = s.run("decoder", {"prior_latent": z, "frame_mask": np.ones((1, 1, z.shape[2]), np.float32)})["latent"]
        return s.run("vocoder", {"latent": latent})["audio"].reshape(-1)

    def evaluate(self, name: str, sessions: StageSessions, precisions: Mapping[str, str] | Sequence[str]) -> Evaluation:
        """Judge `sessions`; `precisions` names the stages under test (a list means int8)."""
        if not isinstance(precisions, Mapping):
            precisions = dict.fromkeys(precisions, "int8")
        result = Evaluation(name, dict(precisions))
        diffs, audios, moved, total = [], [], 0, 0
        for ref in self._refs:
            enc, frames = self._encode(sessions, ref.ids, ref.noise)
            moved += int(np.sum(frames != ref.frames))
            total += frames.size
            # The reference's frames, so both waveforms have one length and compare sample by sample.
            m, logs = expand_prior(enc["prior_mean"], enc["prior_log_std"], ref.frames)
            audios.append(self._render(sessions, m, logs, ref.eps))
            diffs.append(compare(ref.audio, audios[-1], self.voice.sample_rate).to_dict())
        keys = diffs[0].keys()
        result.sentences = len(diffs)
        result.mean = {k: float(np.mean([d[k] for d in diffs])) for k in keys}
        result.worst = {
            "max_abs": max(d["max_abs"] for d in diffs), "snr_db": min(d["snr_db"] for d in diffs),
            "log_mel_db": max(d["log_mel_db"] for d in diffs), "mcd_db": max(d["mcd_db"] for d in diffs),
        }
        result.duration_change_fraction = moved / max(total, 1)
        t = self.thresholds
        if result.mean["mcd_db"] > t.max_mcd_db:
            result.reasons.append(f"MCD {result.mean['mcd_db']:.3f} dB > {t.max_mcd_db} dB")
        if result.duration_change_fraction > t.max_duration_changes:
            result.reasons.append(f"durations moved on {100 * result.duration_change_fraction:.2f}% of phonemes "
                                  f"> {100 * t.max_duration_changes:.2f}%")
        # Transcribing is the slow part; a configuration already refused is not transcribed (WER n/a).
        if self.recognizer is not None and not result.reasons:
            errors = sum(word_errors(r.text, self.recognizer.transcribe(a, self.voice.sample_rate))[0]
                         for r, a in zip(self._refs, audios, strict=True))
            result.wer_fp32 = self.fp32_wer
            result.wer_int8 = 100.0 * errors / max(1, sum(n for _, n in self._ref_words))
            if result.wer_int8 - result.wer_fp32 > t.max_wer_increase:
                result.reasons.append(f"WER {result.wer_int8:.1f}% > fp32 {result.wer_fp32:.1f}% + "
                                      f"{t.max_wer_increase} points")
        result.passed = not result.reasons
        return result

    @property
    def fp32_wer(self) -> float | None:
        if self._ref_words is None:
            return None
        return 100.0 * sum(e for e, _ in self._ref_words) / max(1, sum(n for _, n in self._ref_words))
