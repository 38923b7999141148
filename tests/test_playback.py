"""Playback scheduling on a simulated clock; the real device only where one exists."""

from __future__ import annotations

import time

import numpy as np
import pytest

from voxport.audio.playback import AudioDeviceError, AudioPlayer, PlaybackQueue, simulate_playback


def test_queue_plays_in_order_and_counts_underruns_only_while_more_is_coming():
    q = PlaybackQueue()
    q.push(np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(q.pull(3), [0, 1, 2])
    np.testing.assert_array_equal(q.pull(4), [3, 4, 0, 0])  # ran dry mid-stream
    assert q.stats.underruns == 1 and q.stats.underrun_samples == 2
    q.push(np.ones(2, np.float32))
    q.finish()
    np.testing.assert_array_equal(q.pull(4), [1, 1, 0, 0])  # the end of the stream is not an underrun
    assert q.stats.underruns == 1 and q.stats.played_samples == 7
    assert q.wait_drained(0)


def test_preroll_silence_is_not_an_underrun():
    q = PlaybackQueue(start_samples=4)
    q.push(np.ones(2, np.float32))
    assert not q.pull(2).any() and q.stats.underruns == 0
    q.push(np.ones(2, np.float32))
    assert q.pull(4).all()


@pytest.fixture(scope="module")
def timed_stream(tiny_voice):
    """Chunk sizes and the wall time at which each left `stream()`, for about 60 s of speech."""
    text = " ".join(f"Sentence number {i} keeps the stream going for a while longer." for i in range(400))
    sizes, ready = [], []
    start = time.perf_counter()
    for chunk in tiny_voice.stream(text, seed=0):
        ready.append(time.perf_counter() - start)
        sizes.append(chunk.audio.size)
        if sum(sizes) >= 60 * tiny_voice.sample_rate:
            break
    return sizes, ready, tiny_voice.sample_rate


def test_real_time_producer_has_no_underruns(timed_stream):
    sizes, ready, rate = timed_stream
    audio_s = sum(sizes) / rate
    assert audio_s >= 60
    assert ready[-1] / audio_s < 1  # precondition: this producer is faster than real time
    assert simulate_playback(ready, sizes, rate).underruns == 0


def test_slowed_producer_reports_underruns(timed_stream):
    sizes, ready, rate = timed_stream
    audio_s = sum(sizes) / rate
    slow = 2.0 * audio_s / ready[-1]  # stretch production to twice real time
    stats = simulate_playback([t * slow for t in ready], sizes, rate)
    assert stats.underruns > 0 and stats.underrun_samples > 0
    assert stats.played_samples == sum(sizes)


def _has_output_device() -> bool:
    try:
        import sounddevice as sd

        sd.query_devices(kind="output")
        return True
    except Exception:
        return False


@pytest.mark.skipif(_has_output_device(), reason="an audio output device exists here; the error path needs none")
def test_player_without_a_device_fails_clearly():
    with pytest.raises(AudioDeviceError, match="voxport\\[audio\\]|audio output device"):
        AudioPlayer(16000)


@pytest.mark.skipif(not _has_output_device(), reason="no audio output device on this machine (CI, containers)")
def test_player_plays_on_a_real_device():
    stats = AudioPlayer(16000).play([np.zeros(1600, np.float32)] * 5)
    assert stats.played_samples == 8000
