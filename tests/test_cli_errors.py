"""Every mistake a user can make on the command line: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voxport.cli import main


def fails_in_one_line(capsys, *argv: str) -> str:
    """Run the CLI; assert the one-line failure; return that line."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"voxport {argv[0]}: "), err
    return lines[0]


def test_missing_bundle(capsys):
    line = fails_in_one_line(capsys, "speak", "Hi", "--bundle", "/nonexistent/voice")
    assert "/nonexistent/voice" in line


def test_missing_bundle_through_the_installed_entry_point(tmp_path):
    # The real process: exit status and stderr as a shell sees them (python -m voxport runs main()).
    run = subprocess.run([sys.executable, "-m", "voxport", "speak", "Hi", "--bundle", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [f"voxport speak: no bundle directory at {tmp_path / 'nope'}"]


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "copy"))


def test_tampered_graph_file(bundle_copy, capsys):
    with open(bundle_copy / "encoder.onnx", "ab") as f:
        f.write(b"tampered")
    line = fails_in_one_line(capsys, "speak", "Hi", "--bundle", str(bundle_copy), "-o", str(bundle_copy / "x.wav"))
    assert "encoder.onnx" in line


def test_damaged_manifest(bundle_copy, capsys):
    (bundle_copy / "manifest.json").write_text("{not json", encoding="utf-8")
    fails_in_one_line(capsys, "speak", "Hi", "--bundle", str(bundle_copy), "-o", str(bundle_copy / "x.wav"))


def test_info_on_a_damaged_manifest(bundle_copy, capsys):
    manifest = json.loads((bundle_copy / "manifest.json").read_text(encoding="utf-8"))
    del manifest["sample_rate"]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert "sample_rate" in fails_in_one_line(capsys, "info", str(bundle_copy))


@pytest.mark.parametrize("onnx_bytes, config, expected", [
    (b"not a model", "{}", "is not an ONNX model"),
    (None, "{}", "is not a Piper voice config"),  # a real voice graph, a config without Piper's fields
    (None, "[1, 2]", "holds no JSON object"),
    (None, "{broken", "not JSON"),
])
def test_bad_piper_voice_file(tiny_piper_voice, tmp_path, capsys, onnx_bytes, config, expected):
    onnx = tmp_path / "voice.onnx"
    if onnx_bytes is None:
        shutil.copyfile(tiny_piper_voice, onnx)
    else:
        onnx.write_bytes(onnx_bytes)
    (tmp_path / "voice.onnx.json").write_text(config, encoding="utf-8")
    line = fails_in_one_line(capsys, "build", "--piper", str(onnx), "-o", str(tmp_path / "out"), "--quiet")
    assert expected in line


def test_piper_voice_without_its_config(tiny_piper_voice, tmp_path, capsys):
    onnx = Path(shutil.copyfile(tiny_piper_voice, tmp_path / "lonely.onnx"))
    assert "lonely.onnx.json" in fails_in_one_line(capsys, "build", "--piper", str(onnx), "-o", str(tmp_path / "o"))


def test_unknown_runtime(tiny_bundle, tmp_path, capsys):
    line = fails_in_one_line(capsys, "speak", "Hi", "--bundle", str(tiny_bundle), "--runtime", "nosuchruntime",
                             "-o", str(tmp_path / "x.wav"))
    assert "'nosuchruntime'" in line and "onnxruntime" in line  # names what is available


def test_missing_backend(tiny_bundle, tmp_path, capsys):
    from voxport.runtimes import KNOWN_RUNTIMES, available_runtimes, canonical_runtime

    missing = sorted({canonical_runtime(r) for r in KNOWN_RUNTIMES} - set(available_runtimes()))
    if not missing:
        pytest.skip("every known runtime is installed here")
    line = fails_in_one_line(capsys, "speak", "Hi", "--bundle", str(tiny_bundle), "--runtime", missing[0],
                             "-o", str(tmp_path / "x.wav"))
    assert "pip install" in line


def test_precision_the_bundle_lacks(tiny_bundle, tmp_path, capsys):
    line = fails_in_one_line(capsys, "speak", "Hi", "--bundle", str(tiny_bundle), "--precision", "fp16",
                             "-o", str(tmp_path / "x.wav"))
    assert "'fp16'" in line and "fp32" in line  # what it lacks, and what it has


@pytest.mark.parametrize("option, value", [
    ("--runtime", "decoder="),
    ("--runtime", "decoder=onnxruntime,openvino"),
    ("--precision", "=fp32"),
    ("--runtime", "dekoder=onnxruntime"),  # well formed, but no such stage
])
def test_bad_stage_option(tiny_bundle, tmp_path, capsys, option, value):
    line = fails_in_one_line(capsys, "speak", "Hi", "--bundle", str(tiny_bundle), option, value,
                             "-o", str(tmp_path / "x.wav"))
    assert value in line or "dekoder" in line


def test_unwritable_output(tiny_bundle, tmp_path, capsys):
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    for output in (tmp_path, tmp_path / "a_file" / "x.wav", tmp_path / "x.nosuchformat"):
        line = fails_in_one_line(capsys, "speak", "Hi", "--bundle", str(tiny_bundle), "-o", str(output))
        assert str(output) in line


def test_a_speaker_on_a_single_speaker_voice(tiny_bundle, tmp_path, capsys):
    line = fails_in_one_line(capsys, "speak", "Hi", "--bundle", str(tiny_bundle), "--speaker", "alice",
                             "-o", str(tmp_path / "x.wav"))
    assert "single speaker" in line


def test_verbose_shows_the_traceback(capsys):
    for argv in (["--verbose", "speak", "Hi", "--bundle", "/nonexistent"],
                 ["speak", "Hi", "--bundle", "/nonexistent", "--verbose"]):
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert "Traceback" in err and "BundleNotFoundError" in err
        assert err.strip().splitlines()[-1] == "voxport speak: no bundle directory at /nonexistent"


def test_empty_text_reports_no_audio_and_no_nan(tiny_bundle, tmp_path, capsys):
    assert main(["speak", "", "--bundle", str(tiny_bundle), "-o", str(tmp_path / "empty.wav")]) == 0
    out = capsys.readouterr().out
    assert "0.00 s of audio" in out
    assert "nan" not in out and "real-time factor" not in out
