"""Real-time playback of streamed audio: a ring buffer fed by the synthesizer, drained by the sound card.

`PlaybackQueue` holds the scheduling logic (buffering, start threshold, underrun counting) and knows
nothing about clocks or devices, so the same code runs under `AudioPlayer` (sounddevice's callback) and
under `simulate_playback` (a simulated clock, for tests and capacity planning).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


class AudioDeviceError(RuntimeError):
    """No usable audio output: sounddevice or PortAudio is missing, or no output device exists."""


@dataclass
class PlaybackStats:
    underruns: int = 0  # callbacks that found less audio than they needed while more was still coming
    underrun_samples: int = 0  # silence inserted because of them
    played_samples: int = 0
    # Callbacks the audio stack flagged as an output underflow (PortAudio's paOutputUnderflow): the device
    # ran dry because the callback itself ran late (a busy machine, too small a device buffer), even with
    # audio queued. The synthesizer was not behind, so these are counted apart from `underruns`.
    device_underruns: int = 0


class PlaybackQueue:
    """Thread-safe FIFO of samples with underrun accounting.

    Playback starts once `start_samples` are buffered (or the stream is finished), so a short
    pre-roll can absorb jitter; after that a pull that finds too little audio before the end of the
    stream is an underrun, and the gap is filled with silence rather than stalling the device.
    """

    def __init__(self, start_samples: int = 0) -> None:
        self._chunks: list[np.ndarray] = []
        self._buffered = 0
        self._lock = threading.Lock()
        self._finished = False
        self._started = False
        self._drained = threading.Event()
        self.start_samples = start_samples
        self.stats = PlaybackStats()

    def push(self, audio: np.ndarray) -> None:
        with self._lock:
            if audio.size:
                self._chunks.append(np.asarray(audio, np.float32))
                self._buffered += audio.size

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            if not self._buffered:
                self._drained.set()

    @property
    def buffered(self) -> int:
        return self._buffered

    def pull(self, n: int) -> np.ndarray:
        """The next n samples for the device (zeros where none are available)."""
        out = np.zeros(n, np.float32)
        with self._lock:
            if not self._started:
                if self._buffered < self.start_samples and not self._finished:
                    return out  # pre-roll: silence before playback starts is not an underrun
                self._started = True
            filled = 0
            while filled < n and self._chunks:
                head = self._chunks[0]
                take = min(n - filled, head.size)
                out[filled : filled + take] = head[:take]
                filled += take
                if take == head.size:
                    self._chunks.pop(0)
                else:
                    self._chunks[0] = head[take:]
            self._buffered -= filled
            self.stats.played_samples += filled
            if filled < n:
                if not self._finished:
                    self.stats.underruns += 1
                    self.stats.underrun_samples += n - filled
                elif not self._buffered:
                    self._drained.set()
        return out

    def wait_drained(self, timeout: float | None = None) -> bool:
        return self._drained.wait(timeout)


def simulate_playback(
    ready_times: Sequence[float],
    chunks: Sequence[int],
    sample_rate: int,
    block: int = 512,
    start_samples: int | None = None,
) -> PlaybackStats:
    """Play chunks of the given sizes, each available at its ready time (s), on a simulated clock.

    The device asks for `block` samples every block / sample_rate seconds, like a sound card's
    callback, and starts once `start_samples` (default: one block, as AudioPlayer) are buffered.
    """
    queue = PlaybackQueue(block if start_samples is None else start_samples)
    total = sum(chunks)
    t = ready_times[0] if ready_times else 0.0
    i = 0
    while queue.stats.played_samples < total:
        while i < len(chunks) and ready_times[i] <= t:
            queue.push(np.zeros(chunks[i], np.float32))
            i += 1
        if i == len(chunks):
            queue.finish()
        queue.pull(block)
        t += block / sample_rate
    return queue.stats


class AudioPlayer:
    """Plays float32 chunks through sounddevice as they arrive; counts underruns.

        with AudioPlayer(voice.sample_rate) as player:
            for chunk in voice.stream(text):
                player.write(chunk.audio)
        print(player.stats.underruns)
    """

    def __init__(
        self, sample_rate: int, *, block: int = 512, preroll_s: float = 0.05, device=None, latency="high"
    ) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:
            raise AudioDeviceError(
                "audio playback needs sounddevice and the PortAudio library: pip install 'voxport[audio]' "
                f"(and on Linux: apt-get install libportaudio2); or write a WAV file instead ({exc})"
            ) from exc
        # At least one block before starting: a device that starts on less underruns at once.
        self.queue = PlaybackQueue(max(block, round(preroll_s * sample_rate)))
        self.sample_rate = sample_rate
        self._block = block

        def callback(outdata, frames, _time, status) -> None:
            if status.output_underflow:
                self.queue.stats.device_underruns += 1  # only this thread writes it
            outdata[:, 0] = self.queue.pull(frames)

        try:
            self._stream = sd.OutputStream(
                samplerate=sample_rate, channels=1, dtype="float32", blocksize=block, callback=callback, device=device,
                # PortAudio's "high" output latency (a device buffer of ~0.1-0.2 s): what we play is
                # synthesized ahead anyway, and through ALSA's pulse plugin the "low" default ran dry
                # mid-stream on an idle 2-core machine (tests/test_playback_pulse.py heard the gaps).
                latency=latency,
            )
        except Exception as exc:  # PortAudioError and friends: no device, busy device, bad rate
            raise AudioDeviceError(f"cannot open an audio output device: {exc}") from exc

    @property
    def stats(self) -> PlaybackStats:
        return self.queue.stats

    def write(self, audio: np.ndarray) -> None:
        self.queue.push(audio)

    def play(self, chunks: Iterable[np.ndarray]) -> PlaybackStats:
        with self:
            for audio in chunks:
                self.write(audio)
        return self.stats

    def __enter__(self) -> AudioPlayer:
        self._stream.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.queue.finish()
        # Let the device play what is buffered (bounded: a stuck device must not hang the caller).
        self.queue.wait_drained(timeout=self.queue.buffered / self.sample_rate + 2.0)
        # Drained means pulled by the callback, not heard: the device buffer still holds up to its latency,
        # and stopping does not play it out on every host API (ALSA's pulse plugin dropped the last 0.3-0.6 s).
        time.sleep(self._stream.latency + self._block / self.sample_rate)
        self._stream.stop()
        self._stream.close()
