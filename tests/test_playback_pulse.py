"""Playback through a real audio stack: PortAudio -> ALSA's pulse plugin -> a PulseAudio null sink.

The test starts its own PulseAudio server (a private runtime folder, never the machine's own) with a null
sink at the voice's rate, records the sink's monitor with parec, and compares the recording with the
audio voxport synthesized: aligned by cross-correlation, SNR >= 30 dB. It covers `voxport speak --play`
and examples/realtime_playback.py (child processes given the server's environment) and `AudioPlayer`
itself, and counts underruns with both cores busy. SNRs and underrun counts are printed as measured.

Needs the Debian packages that tests/support/install_audio_tools.sh installs (`make test` runs it)
and sounddevice; skipped, naming what is missing, where they are absent or PulseAudio will not start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support.pulse import cpu_hog, missing_tools, pulse_server, silences, snr_db, without_gaps

ROOT = Path(__file__).resolve().parents[1]
MIN_SNR_DB = 30.0
TEXT = "The quick brown fox jumps over the lazy dog. Then it rests in the sun for a while."
MISSING = missing_tools()
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"PulseAudio playback test needs {', '.join(MISSING)}: the Debian packages come from "
    "tests/support/install_audio_tools.sh (make test runs it), sounddevice from pip install 'voxport[audio]'",
)


@pytest.fixture
def pulse(tmp_path_factory):
    # A server per test: one that went away (seen once in CI, between two CPU-hog tests) fails one test
    # with its log quoted, not every test after it. Starting one takes a fraction of a second.
    try:
        with pulse_server(tmp_path_factory.mktemp("pulse"), rate=16000) as server:
            yield server
    except RuntimeError as exc:
        pytest.skip(f"PulseAudio would not start here: {exc}")


@pytest.fixture
def sounddevice_on(pulse, monkeypatch):
    """sounddevice in this process, re-initialized so PortAudio's ALSA sees the test's server.

    PortAudio reads ALSA's configuration (whose pulse hook picks the server from PULSE_SERVER) when it
    initializes, which sounddevice does at import: terminate and initialize again under the new env.
    """
    import sounddevice as sd

    for key, value in pulse.env.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    sd._terminate()
    sd._initialize()
    yield sd
    monkeypatch.undo()
    sd._terminate()
    sd._initialize()


def _say(capsys, line: str) -> None:
    with capsys.disabled():  # measured numbers belong in the test output, not only in a failure
        print(f"\n[pulse] {line}", end="")


def _check(reference: np.ndarray, recording: np.ndarray, what: str, capsys, underruns: int = 0) -> float:
    """`_measure`, asserted >= 30 dB."""
    snr = _measure(reference, recording, what, capsys, underruns)
    assert snr >= MIN_SNR_DB, f"{what}: SNR {snr:.1f} dB < {MIN_SNR_DB} dB"
    return snr


def _measure(reference: np.ndarray, recording: np.ndarray, what: str, capsys, underruns: int = 0) -> float:
    """SNR after alignment; with reported underruns, of the audio less their silence.

    An underrun shifts everything after it, so one alignment cannot fit both sides: then the runs of
    exact zeros (the inserted silence, and the reference's own sentence silences) leave both first.
    """
    assert reference.size > 16000, "precondition: at least a second of audio"
    assert np.abs(recording).max() > 0.01, f"{what}: the sink's monitor heard nothing"
    snr, lag = snr_db(reference, recording)
    line = f"{what}: {reference.size / 16000:.2f} s played, SNR {snr:.1f} dB after aligning at {lag} samples"
    if underruns:
        snr, lag = snr_db(without_gaps(reference), without_gaps(recording))
        line += f"; {snr:.1f} dB less the silence of {underruns} reported underruns"
    _say(capsys, line)
    return snr


def _run(pulse, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=pulse.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _underruns(stdout: str) -> tuple[int, int]:
    """(underruns, device underruns) from `voxport speak --play` / the example's summary line."""
    found = re.search(r"underruns: (\d+) \(device: (\d+)\)", stdout)
    assert found, f"no underrun counts in the output: {stdout!r}"
    return int(found.group(1)), int(found.group(2))


def test_audio_player_plays_what_was_synthesized(pulse, sounddevice_on, tiny_voice, capsys):
    from voxport.audio.playback import AudioPlayer

    recorder = pulse.record()
    pieces = []
    with AudioPlayer(tiny_voice.sample_rate) as player:
        for chunk in tiny_voice.stream(TEXT, seed=0):
            player.write(chunk.audio)
            pieces.append(chunk.audio)
    recording = recorder.stop()
    reference = np.concatenate(pieces)
    assert player.stats.played_samples == reference.size
    stats = player.stats
    _say(capsys, f"AudioPlayer: underruns {stats.underruns}, device underruns {stats.device_underruns}")
    _check(reference, recording, "AudioPlayer", capsys, stats.underruns + stats.device_underruns)


def test_speak_play_through_pulseaudio(pulse, tiny_bundle, tmp_path, capsys):
    wav = tmp_path / "played.wav"
    recorder = pulse.record()
    done = _run(pulse, [sys.executable, "-m", "voxport", "speak", TEXT, "--bundle", str(tiny_bundle),
                        "--play", "-o", str(wav), "--seed", "0"])
    recording = recorder.stop()
    reference, rate = sf.read(wav, dtype="float32")
    assert rate == pulse.rate
    underruns, device = _underruns(done.stdout)
    _say(capsys, f"voxport speak --play: underruns {underruns}, device underruns {device}")
    _check(reference, recording, "voxport speak --play", capsys, underruns + device)


def test_realtime_playback_example(pulse, tiny_bundle, tmp_path, capsys):
    wav = tmp_path / "realtime.wav"
    recorder = pulse.record()
    done = _run(pulse, [sys.executable, "examples/realtime_playback.py", "--bundle", str(tiny_bundle),
                        "--output", str(wav)])
    recording = recorder.stop()
    assert "no playback" not in done.stdout, done.stdout
    reference, _ = sf.read(wav, dtype="float32")
    # Its text arrives 4 characters per 20 ms, as from a language model: the queue may run dry between
    # sentences (underruns), which is what the count is for.
    underruns, device = _underruns(done.stdout)
    _say(capsys, f"examples/realtime_playback.py: underruns {underruns}, device underruns {device}")
    _check(reference, recording, "examples/realtime_playback.py", capsys, underruns + device)


def _audible_span(audio: np.ndarray, floor: float = 1e-4) -> int:
    loud = np.flatnonzero(np.abs(audio) > floor)
    return int(loud[-1] - loud[0] + 1) if loud.size else 0


def _take_twice(take, capsys) -> None:  # noqa: ANN001 -- take() -> None, or why the take shows unreported damage
    """Run a take under a CPU hog; if it shows damage no count reported, take it once more and fail only if the
    second take shows it too. Why: the measuring side can be starved as well as the player. Once (CI,
    2026-12-07) a recording came out 206 samples short at 23 dB SNR with no underrun of either kind and no
    audible gap: samples lost, not silence inserted, which a late player does not do (its underruns insert
    silence, its device underruns are counted). A deterministic silent loss still fails every run; an
    intermittent one fails at the square of its rate."""
    first = take()
    if first is None:
        return
    _say(capsys, f"first take: {first}; taking it again")
    second = take()
    assert second is None, f"{first}; and again: {second}"


def test_underruns_are_counted_under_a_cpu_hog(pulse, sounddevice_on, tiny_voice, capsys):
    """Both cores busy while synthesizing and playing: underruns are counted, and damage is never silent.

    Every underrun the player counts inserts its silence mid-stream, so the recording's audible span is at
    least the synthesized span plus `underrun_samples` (give or take a block). A device underrun (the
    callback itself ran late) can also lose samples in ALSA's recovery, so the recording need not match
    then; but a recording that does not match (< 30 dB, inserted silence aside) with no underrun of either
    kind reported fails (twice in a row: _take_twice): the counts must tell a listener's experience.
    """
    from voxport.audio.playback import AudioPlayer

    text = " ".join([TEXT] * 3)

    def take() -> str | None:
        recorder = pulse.record()
        pieces = []
        with cpu_hog() as workers, AudioPlayer(tiny_voice.sample_rate) as player:
            for chunk in tiny_voice.stream(text, seed=0):
                player.write(chunk.audio)
                pieces.append(chunk.audio)
        recording = recorder.stop()
        reference = np.concatenate(pieces)
        stats = player.stats
        assert stats.played_samples == reference.size
        extra = _audible_span(recording) - _audible_span(reference)
        heard_gaps = max(0, silences(recording) - silences(reference))  # silences the reference does not have
        _say(capsys, f"AudioPlayer under a CPU hog ({workers} busy processes, {os.cpu_count()} cores): underruns "
             f"{stats.underruns} ({stats.underrun_samples} samples), device underruns {stats.device_underruns}, "
             f"{reference.size / 16000:.2f} s played; heard: {heard_gaps} gaps, {extra} samples longer")
        assert extra >= stats.underrun_samples - 2 * 512, (extra, stats)
        reported = stats.underruns + stats.device_underruns
        snr = _measure(reference, recording, "AudioPlayer under a CPU hog", capsys, reported + heard_gaps)
        if snr >= MIN_SNR_DB or reported > 0:
            return None
        return f"SNR {snr:.1f} dB, yet no underrun was reported: {stats}"

    _take_twice(take, capsys)


def test_speak_play_reports_underruns_under_a_cpu_hog(pulse, tiny_bundle, tmp_path, capsys):
    """`voxport speak --play` with both cores busy: it prints both counts, and damage is never silent (twice
    in a row: _take_twice)."""
    wav = tmp_path / "played.wav"

    def take() -> str | None:
        recorder = pulse.record()
        with cpu_hog() as workers:
            done = _run(pulse, [sys.executable, "-m", "voxport", "speak", " ".join([TEXT] * 3), "--bundle",
                                str(tiny_bundle), "--play", "-o", str(wav), "--seed", "0"])
        recording = recorder.stop()
        reference, _ = sf.read(wav, dtype="float32")
        underruns, device = _underruns(done.stdout)
        _say(capsys, f"voxport speak --play under a CPU hog ({workers} busy processes): underruns {underruns}, "
             f"device underruns {device}")
        heard_gaps = max(0, silences(recording) - silences(reference))
        snr = _measure(reference, recording, "voxport speak --play under a CPU hog", capsys,
                       underruns + device + heard_gaps)
        if snr >= MIN_SNR_DB or underruns + device > 0:
            return None
        return f"SNR {snr:.1f} dB, yet no underrun was reported"

    _take_twice(take, capsys)


def test_damage_fails_the_take_only_twice_in_a_row(capsys):
    """_take_twice: one clean take passes; one damaged take is taken again; two damaged takes fail."""
    results = iter([None])
    _take_twice(lambda: next(results), capsys)
    results = iter(["lost samples", None])
    _take_twice(lambda: next(results), capsys)
    results = iter(["lost samples", "lost them again"])
    with pytest.raises(AssertionError, match="lost samples; and again: lost them again"):
        _take_twice(lambda: next(results), capsys)
