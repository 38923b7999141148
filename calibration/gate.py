"""The quality gate: a candidate configuration against fp32 with the same durations and the same noise.

Each held-out sentence runs twice from the same random draws: the fp32 reference, and the
configuration under test, both through the SDK's `Engine`. The test configuration replays the
reference's draws and frame counts (so both waveforms have one length and can be compared sample by
sample); a quantized duration predictor is judged separately by how many phonemes its rounding moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from voxport.calibration.asr import Recognizer, word_errors
from voxport.engine import Engine, Prepared
from voxport.noise import RandomNoise
from voxport.stages import StageSessions
from voxport.tools.quality import compare
from voxport.voice import Voice


@dataclass(frozen=True)
class GateThresholds:
    max_mcd_db: float = 1.0  # mean mel-cepstral distortion vs fp32 (voxport.tools.quality)
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
    wer_candidate: float | None = None  # of the configuration under test, whatever its precisions
    passed: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def int8_stages(self) -> tuple[str, ...]:
        return tuple(s for s, p in self.precisions.items() if p.startswith("int8"))

    def to_dict(self) -> dict:
        return {**asdict(self), "int8_stages": list(self.int8_stages)}


@dataclass(frozen=True)
class Reference:
    """One held-out utterance as fp32 renders it, with the draws and frames a candidate replays."""

    text: str
    ids: list[int]
    prepared: Prepared
    audio: np.ndarray


def _wer(errors: int, words: int) -> float:
    return 100.0 * errors / max(1, words)


class Gate:
    """Evaluates configurations against one fp32 reference, computed (and transcribed) once."""

    def __init__(self, voice: Voice, sentences: Sequence[str], seed: int, thresholds: GateThresholds,
                 recognizer: Recognizer | None) -> None:
        self.voice, self.thresholds, self.recognizer = voice, thresholds, recognizer
        engine = voice.engine
        self.scales, self.sid = engine.scales(), engine.speaker_id(None)
        self.references: list[Reference] = []
        for i, sentence in enumerate(sentences):
            for text, _, ids in voice.frontend.text_to_ids(sentence):
                # Seeded per held-out line, so a sentence's reference does not depend on which
                # sentences precede it (a shorter held-out set judges the same audio).
                prepared = engine.prepare(ids, self.scales, RandomNoise(np.random.default_rng(seed + i)), self.sid)
                self.references.append(Reference(text, ids, prepared, engine.render(prepared)))
        self._ref_words = (None if recognizer is None else [
            word_errors(r.text, recognizer.transcribe(r.audio, voice.sample_rate)) for r in self.references])

    @property
    def fp32_wer(self) -> float | None:
        if self._ref_words is None:
            return None
        return _wer(sum(e for e, _ in self._ref_words), sum(n for _, n in self._ref_words))

    def evaluate(self, name: str, sessions: StageSessions, precisions: Mapping[str, str]) -> Evaluation:
        """Judge `sessions`; `precisions` names the stages under test and the precision each runs."""
        result = Evaluation(name, dict(precisions))
        audios, moved, total = self._render(sessions)
        self._measure(result, audios)
        result.duration_change_fraction = moved / max(total, 1)
        t = self.thresholds
        if result.mean["mcd_db"] > t.max_mcd_db:
            result.reasons.append(f"MCD {result.mean['mcd_db']:.3f} dB > {t.max_mcd_db} dB")
        if result.duration_change_fraction > t.max_duration_changes:
            result.reasons.append(f"durations moved on {100 * result.duration_change_fraction:.2f}% of phonemes "
                                  f"> {100 * t.max_duration_changes:.2f}%")
        # Transcribing is the slow part; a configuration already refused is not transcribed (WER n/a).
        if self.recognizer is not None and not result.reasons:
            self._judge_wer(result, audios)
        result.passed = not result.reasons
        return result

    def _render(self, sessions: StageSessions) -> tuple[list[np.ndarray], int, int]:
        """The candidate's audio per reference (the reference's draws and frames), and how many of all
        phonemes its own duration predictor would have given another frame count."""
        engine = Engine(self.voice.manifest, sessions)
        audios, moved, total = [], 0, 0
        for ref in self.references:
            prepared = engine.prepare(ref.ids, self.scales, ref.prepared.replay(), self.sid,
                                      frames=ref.prepared.frames)
            moved += int(np.sum(prepared.predicted_frames != ref.prepared.frames))
            total += prepared.predicted_frames.size
            audios.append(engine.render(prepared))
        return audios, moved, total

    def _measure(self, result: Evaluation, audios: list[np.ndarray]) -> None:
        diffs = [compare(ref.audio, audio, self.voice.sample_rate).to_dict()
                 for ref, audio in zip(self.references, audios, strict=True)]
        result.sentences = len(diffs)
        result.mean = {k: float(np.mean([d[k] for d in diffs])) for k in diffs[0]}
        result.worst = {
            "max_abs": max(d["max_abs"] for d in diffs), "snr_db": min(d["snr_db"] for d in diffs),
            "log_mel_db": max(d["log_mel_db"] for d in diffs), "mcd_db": max(d["mcd_db"] for d in diffs),
        }

    def _judge_wer(self, result: Evaluation, audios: list[np.ndarray]) -> None:
        recognizer, rate = self.recognizer, self.voice.sample_rate
        errors = sum(word_errors(r.text, recognizer.transcribe(a, rate))[0]
                     for r, a in zip(self.references, audios, strict=True))
        result.wer_fp32 = self.fp32_wer
        result.wer_candidate = _wer(errors, sum(n for _, n in self._ref_words or ()))
        if result.wer_candidate - result.wer_fp32 > self.thresholds.max_wer_increase:
            result.reasons.append(f"WER {result.wer_candidate:.1f}% > fp32 {result.wer_fp32:.1f}% + "
                                  f"{self.thresholds.max_wer_increase} points")
