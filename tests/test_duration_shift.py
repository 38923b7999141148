"""The gate's opt-in policy for stages that move durations: DTW-aligned MCD, per-phoneme prior noise,
the length limit, and the strict default that still refuses any moved duration."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

pytest.importorskip("onnxruntime.quantization", reason="voxport.calibration needs the calibration extra")

from voxport.calibration.corpus import HELDOUT, read_sentences  # noqa: E402
from voxport.calibration.gate import Gate, GateThresholds, shifted_eps  # noqa: E402
from voxport.pipeline.noise import RandomNoise, RecordedNoise  # noqa: E402
from voxport.pipeline.sessions import StageSessions  # noqa: E402
from voxport.tools.quality import dtw_mel_cepstral_distortion_db, dtw_path, mel_cepstral_distortion_db  # noqa: E402

RATE = 16000


# --- DTW-aligned MCD --------------------------------------------------------------------------------


def _segments(durations_s: list[float], seed: int = 0) -> np.ndarray:
    """A speech-like signal: steady segments, each its own pitch and spectral tilt (harmonics whose
    amplitudes fall at the segment's rate), so frames inside a segment look alike and segments differ."""
    rng = np.random.default_rng(seed)
    pieces = []
    for index, seconds in enumerate(durations_s):
        t = np.arange(int(seconds * RATE)) / RATE
        f0 = 110.0 + 37.0 * index
        tilt = rng.uniform(0.3, 0.9)
        pieces.append(sum(tilt**h * np.sin(2 * np.pi * f0 * h * t) for h in range(1, 30)))
    return np.concatenate(pieces) * 0.1


DURATIONS = [0.12, 0.2, 0.08, 0.16, 0.1, 0.24, 0.14, 0.1]


def test_dtw_mcd_of_identical_signals_is_zero():
    audio = _segments(DURATIONS)
    assert dtw_mel_cepstral_distortion_db(audio, audio, RATE) == 0.0


def test_dtw_mcd_sees_through_a_time_stretch_that_plain_mcd_cannot():
    audio = _segments(DURATIONS)
    # The same segments, two of eight held 30 % longer (moved durations): +12 % in length overall.
    stretched = _segments([d * (1.3 if i in (1, 5) else 1.0) for i, d in enumerate(DURATIONS)])
    assert 1.1 < stretched.size / audio.size < 1.13
    aligned = dtw_mel_cepstral_distortion_db(audio, stretched, RATE)
    misaligned = mel_cepstral_distortion_db(audio, stretched[: audio.size], RATE)  # frame i against frame i
    # Not 0: the 64 ms analysis windows straddle segment boundaries at other offsets (measured 2.2 dB
    # against 23 dB unaligned).
    assert aligned < 0.15 * misaligned
    # Another signal altogether (other tilts) is not hidden by the warping.
    assert dtw_mel_cepstral_distortion_db(audio, _segments(DURATIONS, seed=1), RATE) > 5 * aligned


def _brute_force_dtw(cost: np.ndarray) -> float:
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(n):
        for j in range(m):
            acc[i + 1, j + 1] = cost[i, j] + min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
    return float(acc[n, m])


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1), (7, 9), (12, 8)])
def test_dtw_path_is_monotonic_and_of_least_cost(shape):
    cost = np.random.default_rng(sum(shape)).random(shape)
    rows, cols = dtw_path(cost)
    assert (rows[0], cols[0]) == (0, 0) and (rows[-1], cols[-1]) == (shape[0] - 1, shape[1] - 1)
    steps = np.stack([np.diff(rows), np.diff(cols)], axis=1)
    assert {tuple(s) for s in steps} <= {(1, 1), (1, 0), (0, 1)}
    assert cost[rows, cols].sum() == pytest.approx(_brute_force_dtw(cost))


# --- prior noise for moved durations ----------------------------------------------------------------


def test_shifted_eps_keeps_each_phonemes_own_draws():
    frames = np.array([3, 2, 4])
    eps = np.random.default_rng(0).standard_normal((1, 2, 9), dtype=np.float32)
    moved = shifted_eps(eps, frames, np.array([3, 3, 2]), key=(7, 1))
    assert moved.shape == (1, 2, 8)
    np.testing.assert_array_equal(moved[:, :, :3], eps[:, :, :3])  # unmoved phoneme: its draws exactly
    np.testing.assert_array_equal(moved[:, :, 3:5], eps[:, :, 3:5])  # lengthened: its draws, then one new
    np.testing.assert_array_equal(moved[:, :, 6:], eps[:, :, 5:7])  # shortened: the first of its draws
    # Reproducible, and a phoneme's new draws do not depend on how other phonemes moved.
    np.testing.assert_array_equal(moved, shifted_eps(eps, frames, np.array([3, 3, 2]), key=(7, 1)))
    other = shifted_eps(eps, frames, np.array([4, 3, 2]), key=(7, 1))
    np.testing.assert_array_equal(other[:, :, 6], moved[:, :, 5])
    assert not np.array_equal(shifted_eps(eps, frames, np.array([3, 3, 2]), key=(7, 2))[:, :, 5], moved[:, :, 5])


# --- the gate on the tiny voice ---------------------------------------------------------------------

HELD_OUT = read_sentences(HELDOUT)[:4]


class _MovingDurations:
    """A duration 'candidate': the fp32 graph, then chosen phonemes get one frame more (ceil-exact)."""

    def __init__(self, inner, length_scale: float, every: int | None) -> None:
        self.inner, self.length_scale, self.every = inner, length_scale, every

    @property
    def inputs(self):
        return self.inner.inputs

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(self.inner.run(feeds))
        logw = out["log_durations"]
        frames = np.ceil(np.exp(logw) * np.float32(self.length_scale))  # in float32, as the engine rounds
        n = logw.shape[-1]
        # Half a frame above the next integer, so the ceiling lands one frame up whatever the rounding.
        picked = np.arange(n // 2, n // 2 + 1) if self.every is None else np.arange(self.every - 1, n, self.every)
        logw = logw.copy()
        logw[..., picked] = np.log((frames[..., picked] + 0.5) / self.length_scale)
        out["log_durations"] = logw
        return out


def _moving(voice, every: int | None = None) -> StageSessions:
    """The voice's own sessions with a duration predictor that moves one phoneme per utterance (`every`
    None) or every `every`-th phoneme; not closed here (the voice owns the sessions)."""
    duration = _MovingDurations(voice.sessions["duration"], voice.engine.scales().length_scale, every)
    return StageSessions({**voice.sessions.sessions, "duration": duration})


def test_strict_gate_refuses_moved_durations_even_when_the_audio_is_identical(tiny_voice):
    gate = Gate(tiny_voice, HELD_OUT, 0, GateThresholds(), recognizer=None)
    result = gate.evaluate("duration moved", _moving(tiny_voice), {"duration": "int8"})
    moved = len(gate.references) / sum(r.frames.size for r in gate.references)
    assert result.duration_policy == "strict" and not result.passed
    assert result.mean["mcd_db"] == 0.0  # at the reference's frames nothing differs...
    assert result.duration_change_fraction == pytest.approx(moved)
    assert [r for r in result.reasons if "durations moved" in r] == result.reasons  # ...the move alone refuses
    assert "dtw_mcd_db" not in result.mean  # the strict policy's report is what it was
    assert result.length_change_pct > 0  # what the candidate's own durations would have done is reported


# The tiny voice's random weights make noise-like audio: fresh prior noise at the same frames scores
# ~14 dB against it, one moved frame per utterance ~1.3 dB. Its "close" is therefore looser than the
# real voice's 1.0 dB default.
TINY_CLOSE_DB = 3.0


def test_duration_shift_accepts_a_slight_move_and_reports_it(tiny_voice):
    gate = Gate(tiny_voice, HELD_OUT, 0, GateThresholds(allow_duration_shift=True, max_mcd_db=TINY_CLOSE_DB),
                recognizer=None)
    result = gate.evaluate("duration moved", _moving(tiny_voice), {"duration": "int8"})
    total = sum(int(r.frames.sum()) for r in gate.references)
    assert result.passed and result.reasons == [] and result.duration_policy == "shift"
    assert result.duration_change_fraction == pytest.approx(
        len(gate.references) / sum(r.frames.size for r in gate.references))
    assert result.length_change_pct == pytest.approx(100 * len(gate.references) / total)  # one frame each
    assert result.net_length_change_pct == result.length_change_pct > 0
    assert 0 < result.worst_length_change_pct < 2
    assert 0 < result.mean["dtw_mcd_db"] <= result.worst["dtw_mcd_db"] < TINY_CLOSE_DB
    report = result.to_dict()
    assert {"duration_change_fraction", "length_change_pct", "duration_policy"} <= report.keys()
    # The fp32 graphs themselves: nothing moves, nothing differs.
    same = gate.evaluate("fp32", tiny_voice.sessions, {})
    assert same.passed and same.mean["dtw_mcd_db"] == 0.0 and same.length_change_pct == 0.0


def test_duration_shift_refuses_a_length_moved_more_than_two_percent(tiny_voice):
    # The DTW-MCD limit is lifted, so the length is the one thing judged.
    gate = Gate(tiny_voice, HELD_OUT, 0, GateThresholds(allow_duration_shift=True, max_mcd_db=1e9),
                recognizer=None)
    result = gate.evaluate("every third phoneme", _moving(tiny_voice, every=3), {"duration": "int8"})
    assert not result.passed and result.length_change_pct > 2
    assert len(result.reasons) == 1 and result.reasons[0].startswith("length moved by")
    assert "> 2.00%" in result.reasons[0]


def test_per_phoneme_noise_judges_the_move_not_a_new_noise_sample(tiny_voice):
    """Why moved durations keep each phoneme's draws: drawing the prior again from the reference's seed
    at the new length changes the noise everywhere, and the DTW-MCD then measures the voice's own
    randomness — as much as fresh noise at unchanged frames."""
    gate = Gate(tiny_voice, HELD_OUT[:1], 0, GateThresholds(allow_duration_shift=True), recognizer=None)
    ref, pipeline = gate.references[0], tiny_voice.pipeline
    own = ref.frames.copy()
    own[own.size // 2] += 1

    def dtw_mcd(noise) -> float:
        audio = pipeline.render(pipeline.prepare(ref.ids, gate.replay.scales, noise, gate.replay.sid, frames=own))
        return dtw_mel_cepstral_distortion_db(ref.audio, audio, tiny_voice.sample_rate)

    kept = dtw_mcd(RecordedNoise(ref.state[1].duration_noise, shifted_eps(ref.state[1].eps, ref.frames,
                                                                          own, (0, 0))))
    redrawn = dtw_mcd(RandomNoise(np.random.default_rng(0)))  # the reference's seed, the new length
    assert kept < 0.25 * redrawn


# --- the opt-in reaches the gate from the command line ------------------------------------------------


def test_cli_flag_turns_the_policy_on_and_the_default_stays_strict(monkeypatch, tmp_path):
    import voxport.calibration as calibration
    from voxport.cli import main

    seen: list[dict] = []

    def fake_calibrate(bundle, runtime, **kwargs):
        seen.append(kwargs)
        # Refusing keeps the test independent of the report's layout (the CLI then returns 1).
        raise calibration.CalibrationRefused("recorded the arguments", {})

    monkeypatch.setattr(calibration, "calibrate", fake_calibrate)
    for argv in (["--allow-duration-shift"], []):
        assert main(["calibrate", "--bundle", str(tmp_path), "--no-wer", "--quiet", *argv]) == 1
    assert [s["allow_duration_shift"] for s in seen] == [True, False]
    assert GateThresholds() == GateThresholds(allow_duration_shift=False, max_duration_changes=0.0, max_mcd_db=1.0)
