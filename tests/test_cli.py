"""The `voxport` command line on a tiny bundle."""

from __future__ import annotations

import soundfile as sf

from voxport.cli import main


def test_speak_writes_a_wav_and_reports_rtf(tiny_bundle, tmp_path, capsys):
    out = tmp_path / "hello.wav"
    assert main(["speak", "Hello there. How are you?", "-o", str(out), "--bundle", str(tiny_bundle),
                 "--seed", "1", "--length-scale", "1.2"]) == 0
    audio, rate = sf.read(out)
    assert rate == 16000 and audio.size > 0
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed and "real-time factor" in printed


def test_build_from_a_piper_voice(tiny_piper_voice, tmp_path, capsys):
    target = tmp_path / "built"
    assert main(["build", "--piper", str(tiny_piper_voice), "-o", str(target), "--quiet"]) == 0
    assert (target / "manifest.json").is_file()
    assert sorted(p.name for p in target.glob("*.onnx")) == ["decoder.onnx", "duration.onnx", "encoder.onnx",
                                                              "vocoder.onnx"]


def test_build_reports_a_missing_voice_file(tmp_path, capsys):
    assert main(["build", "--piper", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "x")]) == 2
    assert "no such Piper voice file" in capsys.readouterr().err


def test_phonemize_shows_ids(tiny_bundle, capsys):
    assert main(["phonemize", "Hi there.", "--bundle", str(tiny_bundle)]) == 0
    assert "[1, 0," in capsys.readouterr().out
