"""voxport.progress: stage, step/total and time left for long work (one updating line on a terminal, a line
per stage otherwise, nothing with --quiet), and the three long jobs that use it: `voxport calibrate`, a
WaveGlow import with `voxport build` (on a real pseudo-terminal), and a Piper voice converted for `serve`
in a child process whose progress the parent draws."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from voxport.progress import PIPE_MARKER, Progress

REDRAW = "\r\x1b[K"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_terminal_line_shows_stage_steps_and_time_left():
    clock, out = Clock(), io.StringIO()
    p = Progress(stream=out, tty=True, pipe=False, width=10, clock=clock)
    p.stage("capturing", 10)
    clock.now = 4.0
    p.step(2)
    clock.now = 8.0
    p.step(4, note="sentence 5")
    assert p.line() == "voxport: capturing [####------] 4/10 · sentence 5 · 0:08 · ~0:12 left"
    p.close()
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1  # one line, redrawn in place
    assert text.split(REDRAW)[1:] == ["voxport: capturing [----------] 0/10 · 0:00",
                                      "voxport: capturing [##--------] 2/10 · 0:04 · ~0:16 left",
                                      "voxport: capturing [####------] 4/10 · sentence 5 · 0:08 · ~0:12 left\n"]


def test_off_a_terminal_one_line_per_stage_and_per_named_step():
    out = io.StringIO()
    p = Progress(stream=out, tty=False, pipe=False)
    p("importing a voice")
    p.stage("writing the bundle", 3)
    for i in range(3):
        p.step(i, 3, note="exporting and validating vocoder" if i == 2 else "exporting and validating encoder")
    p.step(3, 3)
    p.close()
    assert out.getvalue().splitlines() == [
        "voxport: importing a voice",
        "voxport: writing the bundle (3 steps)",
        "voxport: writing the bundle [1/3] exporting and validating encoder",
        "voxport: writing the bundle [3/3] exporting and validating vocoder",
    ]


def test_a_ticker_moves_the_elapsed_time_during_a_long_step():
    out = io.StringIO()
    p = Progress(stream=out, tty=True, pipe=False, tick=0.02)
    p.stage("exporting a WaveGlow", 2)
    time.sleep(0.2)  # one long step: nothing calls step() meanwhile
    p.close()
    frames = out.getvalue().split(REDRAW)[1:]
    assert len(frames) >= 4 and all(f.startswith("voxport: exporting a WaveGlow [") for f in frames)
    assert out.getvalue().endswith("\n") and out.getvalue().count("\n") == 1
    after = len(out.getvalue())
    time.sleep(0.05)
    assert len(out.getvalue()) == after  # closed: the ticker is gone


def test_quiet_prints_nothing():
    out = io.StringIO()
    for tty in (True, False):
        p = Progress(stream=out, tty=tty, pipe=False, quiet=True)
        p.stage("x", 2)
        p.step(1, note="y")
        p("z")
        p.close()
    assert out.getvalue() == ""


def test_a_childs_progress_is_drawn_by_its_parent():
    child, parent = io.StringIO(), io.StringIO()
    clock = Clock()
    c = Progress(stream=child, pipe=True, clock=clock)
    c.stage("writing the bundle", 4)
    for i in range(4):
        clock.now += 1.0
        c.step(i + 1, note=f"graph {i}")
    lines = child.getvalue().splitlines()
    assert all(line.startswith(PIPE_MARKER) for line in lines)
    p = Progress(stream=parent, tty=True, pipe=False, clock=clock)
    for line in [*lines, "voxport: done in 4.0 s"]:
        p.forward(line + "\n")
    drawn = parent.getvalue().split(REDRAW)
    assert "voxport: writing the bundle [##########----------] 2/4 · graph 1 · 0:00 · ~0:00 left" in drawn
    assert drawn[-1] == "voxport: done in 4.0 s · 0:00"  # a message: a stage with its elapsed time


# --- the long jobs --------------------------------------------------------------------------------------


def _run_on_a_terminal(cmd: list[str], env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """Run `cmd` with its stderr on a pseudo-terminal (stdout piped); what it drew there, as text."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_waveglow_import_shows_steps_and_time_left_on_a_terminal(tmp_path):
    pytest.importorskip("torch", reason="importing a WaveGlow needs the export extra (torch)")
    pytest.importorskip("onnx", reason="importing a WaveGlow needs the export extra (onnx)")
    pytest.importorskip("support.tiny_waveglow", reason="the tiny WaveGlow checkpoints are not here")
    import torch
    from support.tiny_tacotron2 import nvidia_checkpoint, tiny_tacotron2, write_tiny_waveglow

    checkpoint = tmp_path / "tacotron2.pt"
    torch.save(nvidia_checkpoint(tiny_tacotron2(stop="cap")), checkpoint)
    waveglow = write_tiny_waveglow(tmp_path / "waveglow.pt")
    cmd = [sys.executable, "-m", "voxport", "build", "--tacotron2", str(checkpoint), "--waveglow", str(waveglow),
           "-o", str(tmp_path / "bundle")]
    env = {k: v for k, v in os.environ.items() if k != "VOXPORT_PROGRESS_PIPE"}
    code, drawn = _run_on_a_terminal(cmd, env)
    assert code == 0, drawn
    frames = drawn.split(REDRAW)
    steps = [f for f in frames if f.startswith("voxport: writing the bundle [")]
    assert any("exporting and validating vocoder" in f for f in steps)
    assert any(re.search(r"\] [1-9]/\d+ .*~\d+:\d\d left", f) for f in steps), steps
    assert drawn.count("\n") <= 2  # one updating line (ended once), not a line per step
    print("\n".join(frames))  # what a person saw, frame by frame (pytest -s)


def test_piper_conversion_for_serve_forwards_the_childs_progress(tiny_piper_voice, tmp_path):
    from voxport.server.piper_voices import ensure_piper_bundle

    clock_free = io.StringIO()
    shown = Progress(stream=clock_free, tty=True, pipe=False)
    ensure_piper_bundle(tiny_piper_voice, root=tmp_path, progress=shown)
    frames = clock_free.getvalue().split(REDRAW)
    assert frames[1].startswith("voxport: converting the Piper voice")
    assert any(re.match(r"voxport: writing the bundle \[#*-*\] \d/\d · exporting and validating vocoder", f)
               for f in frames), frames
    assert clock_free.getvalue().endswith("\n")


def test_calibrate_reports_stages_and_steps(tiny_bundle, tmp_path):
    pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")
    from voxport.calibration import CalibrationRefused, GateThresholds, calibrate

    bundle = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    log, terminal = io.StringIO(), io.StringIO()
    strict = GateThresholds(max_mcd_db=0.0, max_duration_changes=0.0)  # refused: the fastest run
    with pytest.raises(CalibrationRefused):
        calibrate(bundle, "cpu", thresholds=strict, max_sentences=12, check_wer=False, threads=1,
                  require_speedup=False, progress=Progress(stream=log, tty=False, pipe=False))
    lines = log.getvalue().splitlines()
    assert "voxport: capturing stage inputs on 12 sentences (fp32) (12 steps)" in lines
    assert any(re.match(r"voxport: quantizing \d stages \(\d steps\)", line) for line in lines)
    assert any(re.match(r"voxport: timing fp32 and the candidates of \d stages \(\d+ steps\)", line) for line in lines)
    assert len(lines) == len(set(lines))  # a line per stage (and per named step), never one per sentence
    # On a terminal the capture counts its sentences (the capture is cached now: remove it to run again).
    for cached in (bundle / "calibration").glob("capture-*.npz"):
        cached.unlink()
    with pytest.raises(CalibrationRefused):
        calibrate(bundle, "cpu", thresholds=strict, max_sentences=12, check_wer=False, threads=1,
                  require_speedup=False, progress=Progress(stream=terminal, tty=True, pipe=False))
    assert "voxport: capturing stage inputs on 12 sentences (fp32) [####################] 12/12" in \
        terminal.getvalue()
