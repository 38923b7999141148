"""A private PulseAudio server with a null sink, a recorder on its monitor, and the signal maths to compare.

Used by tests/test_playback_pulse.py: PortAudio (what sounddevice loads) reaches the server through ALSA's
pulse plugin, whose configuration hook makes `default` the PulseAudio server named by PULSE_SERVER; the
sink's monitor records exactly what the sink was given, so the recording can be compared sample by sample.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGES = {  # what each tool comes from, for a skip reason that says what to install
    "pulseaudio": "pulseaudio",
    "parec": "pulseaudio-utils",
    "pactl": "pulseaudio-utils",
}
ALSA_PULSE_PLUGIN = "libasound_module_pcm_pulse.so"  # from libasound2-plugins


def missing_tools() -> list[str]:
    """The Debian packages the PulseAudio test lacks here (empty when it can run)."""
    missing = sorted({pkg for tool, pkg in PACKAGES.items() if shutil.which(tool) is None})
    if not any(Path(d).glob(f"**/{ALSA_PULSE_PLUGIN}") for d in ("/usr/lib", "/usr/lib64") if Path(d).is_dir()):
        missing.append("libasound2-plugins")
    try:
        import sounddevice  # noqa: F401  (loads libportaudio at import)
    except ImportError:
        missing.append("sounddevice (pip)")
    except OSError:
        missing.append("libportaudio2")
    return missing


@dataclass
class PulseServer:
    """A running server: `env` reaches it (PortAudio, parec, a child process), `sink` is the null sink."""

    runtime_dir: Path
    sink: str
    rate: int
    env: dict[str, str]
    log: Path

    def record(self) -> Recorder:
        return Recorder(self)

    def log_tail(self, chars: int = 600) -> str:
        """The end of the server's own log (why it refused or stopped), for an error message."""
        try:
            return self.log.read_text(errors="replace")[-chars:].strip()
        except OSError as exc:
            return f"(no server log: {exc})"


@contextmanager
def pulse_server(tmp: Path, rate: int, sink: str = "voxport_test") -> Iterator[PulseServer]:
    """Start PulseAudio in `tmp` (its own runtime folder: never the machine's own server), stop it after.

    The null sink runs at the voice's rate, mono float32, so nothing resamples between the player and
    the recording; raises RuntimeError with PulseAudio's own message when it will not start.
    """
    runtime = tmp / "xdg"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = tmp / "pulseaudio.log"
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
        "PULSE_SERVER": f"unix:{runtime / 'pulse' / 'native'}",
        "PULSE_SINK": sink,
    }
    env.pop("PULSE_COOKIE", None)
    # No CPU limiter, realtime or nice change: a CI container under the CPU-hog tests once lost its server
    # between two tests (connection refused), and none of those is needed by a null sink. The log goes to a
    # file so an error can quote why the server went away.
    command = [
        "pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1", "--use-pid-file=yes",
        "--no-cpu-limit", "--realtime=no", "--high-priority=no", f"--log-target=file:{log}",
        "-L", "module-native-protocol-unix",
        "-L", f"module-null-sink sink_name={sink} rate={rate} channels=1 format=float32le",
    ]
    started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    if started.returncode != 0:
        raise RuntimeError(f"pulseaudio exited {started.returncode}: {started.stderr.strip()[-500:]}")
    try:
        _wait_ready(env)
        yield PulseServer(runtime, sink, rate, env, log)
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=30)


def _wait_ready(env: dict[str, str], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        info = subprocess.run(["pactl", "info"], env=env, capture_output=True, text=True, timeout=10)
        if info.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"pulseaudio did not answer pactl info: {info.stderr.strip()}")
        time.sleep(0.05)


class Recorder:
    """parec on the sink's monitor, read by a thread (a killed parec would lose what it still buffers)."""

    def __init__(self, server: PulseServer) -> None:
        self.rate = server.rate
        self._server = server
        self._proc = subprocess.Popen(
            ["parec", "-d", f"{server.sink}.monitor", f"--rate={server.rate}", "--channels=1",
             "--format=float32le", "--raw", "--latency-msec=20"],
            env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_for_data()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while chunk := self._proc.stdout.read1(65536):
            self._chunks.append(chunk)

    def _wait_for_data(self, timeout_s: float = 10.0) -> None:
        # The monitor delivers silence as soon as it is connected: the first bytes prove it listens.
        deadline = time.monotonic() + timeout_s
        while not self._chunks:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._proc.kill()  # still waiting after the deadline: its stderr would never close
                self._proc.wait()
                raise RuntimeError(f"parec gave no audio: {self._proc.stderr.read().decode()[-300:]}; "
                                   f"server log: {self._server.log_tail()}")
            time.sleep(0.01)

    def stop(self, tail_s: float = 0.3) -> np.ndarray:
        """Keep listening `tail_s` longer (the sink's latency), then stop and return the samples."""
        time.sleep(tail_s)
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=10)
        data = b"".join(self._chunks)
        return np.frombuffer(data[: len(data) // 4 * 4], np.float32)


def align(reference: np.ndarray, recording: np.ndarray) -> int:
    """The lag (samples) at which `reference` best matches `recording`, by FFT cross-correlation."""
    n = 1 << int(np.ceil(np.log2(reference.size + recording.size)))
    corr = np.fft.irfft(np.fft.rfft(recording, n) * np.conj(np.fft.rfft(reference, n)), n)
    return int(np.argmax(corr[: recording.size]))


def snr_db(reference: np.ndarray, recording: np.ndarray) -> tuple[float, int]:
    """SNR of the recording against the reference once aligned (no gain fitted: the sink is at 100 %)."""
    reference = reference.astype(np.float64)
    lag = align(reference, recording.astype(np.float64))
    heard = np.zeros_like(reference)
    got = recording[lag : lag + reference.size]
    heard[: got.size] = got
    noise = np.sum((heard - reference) ** 2)
    return (float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))), lag


def _zero_runs(audio: np.ndarray, min_run: int) -> list[tuple[int, int]]:
    zero = np.concatenate([[False], audio == 0, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_run]


def without_gaps(audio: np.ndarray, min_run: int = 64) -> np.ndarray:
    """The audio less every run of at least `min_run` exact zeros.

    An underrun inserts exact zeros (the player's silence, or PulseAudio's when a stream runs dry) and the
    float32 path to the monitor is bit-exact, so dropping such runs from both the reference (its sentence
    silences) and the recording leaves the same samples when everything else arrived intact.
    """
    keep = np.ones(audio.size, bool)
    for start, end in _zero_runs(audio, min_run):
        keep[start:end] = False
    return audio[keep]


def silences(audio: np.ndarray, min_run: int = 64) -> int:
    """Runs of exact zeros inside the audible part (between the first and last non-zero samples)."""
    runs = _zero_runs(np.trim_zeros(audio), min_run)
    return len(runs)


def _spin(ready, stop) -> None:
    ready.release()
    while not stop.is_set():
        pass


@contextmanager
def cpu_hog(workers: int | None = None) -> Iterator[int]:
    """Busy child processes, one per core, for the duration (a machine under load, not a nice one)."""
    workers = workers or os.cpu_count() or 1
    ctx = multiprocessing.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Semaphore(0)
    procs = [ctx.Process(target=_spin, args=(ready, stop), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    for _ in procs:  # every child spinning before the measured work starts, not still importing
        if not ready.acquire(timeout=30):
            raise RuntimeError("a CPU hog process did not start")
    try:
        yield workers
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
