"""The quality gate: a candidate configuration against fp32 from the same random draws.

Each held-out sentence runs twice from the same random draws: the fp32 reference, and the
configuration under test, both through the SDK's `Engine`.

Strict policy (the default): the test configuration replays the reference's draws and frame counts,
so both waveforms have one length and are compared sample by sample (MCD); a reduced-precision
encoder or duration predictor is judged separately by how many phonemes its rounding moves, and any
moved phoneme refuses it.

Duration-shift policy (`allow_duration_shift`, opt-in): the configuration also runs on its own
predicted frame counts, and is judged on that audio — the audio a user would hear — by an MCD after
dynamic time warping (`dtw_mel_cepstral_distortion_db`), the WER, and how far the total length moved.
The prior's eps is drawn per frame, so a moved duration changes its shape; `shifted_eps` keeps each
phoneme's own reference draws (see there for why), so only the moved phonemes' noise differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from voxport.calibration.asr import Recognizer, word_errors
from voxport.calibration.parallel import shifted_eps  # noqa: F401  (tests import it from here)
from voxport.calibration.plan import Reference, Rendered, Replay, plan_of
from voxport.pipeline.sessions import StageSessions
from voxport.tools.quality import compare, dtw_mel_cepstral_distortion_db
from voxport.voice import Voice


@dataclass(frozen=True)
class GateThresholds:
    max_mcd_db: float = 1.0  # mean mel-cepstral distortion vs fp32 (voxport.tools.quality); DTW-aligned if shifting
    max_wer_increase: float = 2.0  # percentage points above fp32's WER
    max_duration_changes: float = 0.0  # fraction of phonemes whose frame count may move (strict policy only)
    allow_duration_shift: bool = False  # judge on the candidate's own durations (see the module's docstring)
    max_length_change: float = 0.02  # with allow_duration_shift: fraction by which the length may move


@dataclass
class Evaluation:
    name: str
    precisions: dict[str, str]  # the stages under test and their precision; the others run fp32
    sentences: int = 0
    mean: dict[str, float] = field(default_factory=dict)  # "dtw_mcd_db" too under the duration-shift policy
    worst: dict[str, float] = field(default_factory=dict)
    duration_change_fraction: float = 0.0
    # The candidate's own durations against the reference's, in % of the reference's frames (reported
    # under both policies; gated only under duration shift): summed |change| per utterance, the signed
    # total, and the utterance that moved most (signed).
    length_change_pct: float = 0.0
    net_length_change_pct: float = 0.0
    worst_length_change_pct: float = 0.0
    duration_policy: str = "strict"  # or "shift"
    wer_fp32: float | None = None
    wer_candidate: float | None = None  # of the configuration under test, whatever its precisions
    passed: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def int8_stages(self) -> tuple[str, ...]:
        return tuple(s for s, p in self.precisions.items() if p.startswith("int8"))

    def to_dict(self) -> dict:
        return {**asdict(self), "int8_stages": list(self.int8_stages)}


def _wer(errors: int, words: int) -> float:
    return 100.0 * errors / max(1, words)


class Gate:
    """Evaluates configurations against one fp32 reference, computed (and transcribed) once."""

    def __init__(self, voice: Voice, sentences: Sequence[str], seed: int, thresholds: GateThresholds,
                 recognizer: Recognizer | None, replay: Replay | None = None) -> None:
        self.voice, self.seed, self.thresholds, self.recognizer = voice, seed, thresholds, recognizer
        self.replay = replay or plan_of(voice).replay(voice, seed, thresholds.allow_duration_shift)
        self.references: list[Reference] = []
        for i, sentence in enumerate(sentences):
            for text, _, ids in voice.frontend.text_to_ids(sentence):
                self.references.append(self.replay.reference(i, text, ids))
        self._ref_words = (None if recognizer is None else [
            word_errors(r.text, recognizer.transcribe(r.audio, voice.sample_rate)) for r in self.references])

    @property
    def fp32_wer(self) -> float | None:
        if self._ref_words is None:
            return None
        return _wer(sum(e for e, _ in self._ref_words), sum(n for _, n in self._ref_words))

    def evaluate(self, name: str, sessions: StageSessions, precisions: Mapping[str, str]) -> Evaluation:
        """Judge `sessions`; `precisions` names the stages under test and the precision each runs."""
        shift = self.thresholds.allow_duration_shift
        result = Evaluation(name, dict(precisions), duration_policy="shift" if shift else "strict")
        rendered = self._render(sessions)
        self._measure(result, rendered)
        if shift:
            self._judge_shift(result)
        else:
            self._judge_strict(result)
        for name, limit in self.replay.limits.items():
            if result.mean.get(name, 0.0) > limit:
                result.reasons.append(f"{name} {result.mean[name]:.2f} > {limit:g}")
        # Transcribing is the slow part; a configuration already refused is not transcribed (WER n/a).
        if self.recognizer is not None and not result.reasons:
            self._judge_wer(result, rendered.own if shift else rendered.forced)
        result.passed = not result.reasons
        return result

    def _judge_strict(self, result: Evaluation) -> None:
        t = self.thresholds
        if result.mean["mcd_db"] > t.max_mcd_db:
            result.reasons.append(f"MCD {result.mean['mcd_db']:.3f} dB > {t.max_mcd_db} dB")
        if result.duration_change_fraction > t.max_duration_changes:
            result.reasons.append(f"durations moved on {100 * result.duration_change_fraction:.2f}% of phonemes "
                                  f"> {100 * t.max_duration_changes:.2f}%")

    def _judge_shift(self, result: Evaluation) -> None:
        """Moved durations are allowed (and reported); the audio they give is judged instead."""
        t = self.thresholds
        if result.mean["dtw_mcd_db"] > t.max_mcd_db:
            result.reasons.append(f"DTW-MCD {result.mean['dtw_mcd_db']:.3f} dB > {t.max_mcd_db} dB")
        if result.length_change_pct > 100 * t.max_length_change:
            result.reasons.append(f"length moved by {result.length_change_pct:.2f}% "
                                  f"(net {result.net_length_change_pct:+.2f}%) > {100 * t.max_length_change:.2f}%")

    def _render(self, sessions: StageSessions) -> Rendered:
        """The candidate's audio per reference from the reference's draws, and how far its own duration
        predictor moved the frames (the family's replay renders them)."""
        return self.replay.render(sessions, self.references, self.thresholds.allow_duration_shift)

    def _measure(self, result: Evaluation, rendered: Rendered) -> None:
        rate = self.voice.sample_rate
        diffs = [compare(ref.audio, audio, rate).to_dict()
                 for ref, audio in zip(self.references, rendered.forced, strict=True)]
        if self.thresholds.allow_duration_shift:
            for diff, ref, audio in zip(diffs, self.references, rendered.own, strict=True):
                diff["dtw_mcd_db"] = dtw_mel_cepstral_distortion_db(ref.audio, audio, rate)
        result.sentences = len(diffs)
        result.mean = {k: float(np.mean([d[k] for d in diffs])) for k in diffs[0]}
        result.worst = {k: max(d[k] for d in diffs) for k in diffs[0] if k != "snr_db"}
        result.worst["snr_db"] = min(d["snr_db"] for d in diffs)
        for name, values in rendered.metrics.items():  # the family's own measures (Replay.limits)
            result.mean[name], result.worst[name] = float(np.mean(values)), float(max(values))
        result.duration_change_fraction = rendered.moved / max(rendered.phonemes, 1)
        self._measure_length(result, rendered.own_frames)

    def _measure_length(self, result: Evaluation, own_frames: list[int]) -> None:
        """Length moves per utterance, summed as absolute values so that a longer and a shorter
        utterance do not cancel, over the held-out set so that one frame on a one-second sentence
        (about 1 %) does not decide alone; the net and the worst utterance say which way it went."""
        ref_frames = np.array([int(r.frames.sum()) for r in self.references])
        change = np.array(own_frames) - ref_frames
        total = max(int(ref_frames.sum()), 1)
        result.length_change_pct = 100.0 * float(np.abs(change).sum()) / total
        result.net_length_change_pct = 100.0 * float(change.sum()) / total
        relative = change / np.maximum(ref_frames, 1)
        result.worst_length_change_pct = 100.0 * float(relative[np.argmax(np.abs(relative))])

    def _judge_wer(self, result: Evaluation, audios: list[np.ndarray]) -> None:
        recognizer, rate = self.recognizer, self.voice.sample_rate
        errors = sum(word_errors(r.text, recognizer.transcribe(a, rate))[0]
                     for r, a in zip(self.references, audios, strict=True))
        result.wer_fp32 = self.fp32_wer
        result.wer_candidate = _wer(errors, sum(n for _, n in self._ref_words or ()))
        if result.wer_candidate - result.wer_fp32 > self.thresholds.max_wer_increase:
            result.reasons.append(f"WER {result.wer_candidate:.1f}% > fp32 {result.wer_fp32:.1f}% + "
                                  f"{self.thresholds.max_wer_increase} points")
