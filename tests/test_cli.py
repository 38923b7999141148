"""The `voxport` command line on a tiny bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
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
    pytest.importorskip("onnx", reason="`voxport build` asks for the export extra before it looks for the file")
    assert main(["build", "--piper", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "x")]) == 2
    assert "no such Piper voice file" in capsys.readouterr().err


def test_phonemize_shows_ids(tiny_bundle, capsys):
    assert main(["phonemize", "Hi there.", "--bundle", str(tiny_bundle)]) == 0
    assert "[1, 0," in capsys.readouterr().out


# --- speakers and `voxport info` --------------------------------------------------------------------------

SPEAKERS = {"alice": 0, "bob": 1, "7": 2}  # "7" is a name: --speaker 7 must mean speaker 2, not id 7


@pytest.fixture(scope="module")
def multi_speaker_bundle(tmp_path_factory, joe_phoneme_map) -> Path:
    """A tiny three-speaker VITS (about 2 s to build): Piper's monolith export has no speaker input, so the
    bundle is written from the torch model directly."""
    pytest.importorskip("torch", reason="building test voices needs the export extra (torch)")
    from support.tiny import tiny_model

    from voxport.export.vits.build import PIPER_MARKERS, build_vits_bundle
    from voxport.synthesis import Scales

    return build_vits_bundle(
        tiny_model(n_speakers=3, gin_channels=8), tmp_path_factory.mktemp("multi") / "tiny-multi",
        name="tiny-multi", phoneme_id_map=joe_phoneme_map, inference=Scales(), speaker_id_map=SPEAKERS,
        phonemizer={"type": "espeak", "voice": "en-us", **PIPER_MARKERS},
        source={"kind": "test", "license": "test-only", "audio": {"quality": "x_low"}},
    )


def speak(bundle: Path, out: Path, *extra: str):
    assert main(["speak", "Hello there.", "--bundle", str(bundle), "-o", str(out), "--seed", "3", *extra]) == 0
    return sf.read(out)[0]


def test_speaker_by_name_or_id(multi_speaker_bundle, tmp_path):
    by = {s: speak(multi_speaker_bundle, tmp_path / f"{s}.wav", "--speaker", s) for s in ("bob", "1", "7", "2", "0")}
    np.testing.assert_array_equal(by["bob"], by["1"])
    np.testing.assert_array_equal(by["7"], by["2"])  # the name "7" wins over the digits
    assert not np.array_equal(by["0"], by["1"])


def test_unknown_speaker_lists_the_known_ones(multi_speaker_bundle, tmp_path, capsys):
    for speaker in ("carol", "9"):
        code = main(["speak", "Hi", "--bundle", str(multi_speaker_bundle), "--speaker", speaker,
                     "-o", str(tmp_path / "x.wav")])
        err = capsys.readouterr().err
        assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert all(name in err for name in SPEAKERS)


def test_info_lists_speakers_and_precisions(multi_speaker_bundle, capsys):
    assert main(["info", str(multi_speaker_bundle)]) == 0
    out = capsys.readouterr().out
    for expected in ("name:", "tiny-multi", "en-us", "16000", "x_low", "alice (0), bob (1), 7 (2)", "test-only",
                     "encoder:", "fp32"):
        assert expected in out, out
    assert "calibrated" not in out and "buckets" not in out  # the tiny bundle has neither


def test_info_as_json(tiny_bundle, capsys):
    assert main(["info", str(tiny_bundle), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["name"] == "tiny" and facts["sample_rate"] == 16000 and facts["num_speakers"] == 1
    assert facts["license"] == "test-only" and facts["language"] == "en-us"
    assert set(facts["precisions"]) == {"encoder", "duration", "decoder", "vocoder"}
    assert "fp32" in facts["precisions"]["encoder"]


def test_info_shows_calibration_buckets_and_static_graphs(tiny_bundle):
    import dataclasses

    from voxport.bundle import Bundle
    from voxport.bundle.manifest import CalibrationPolicy
    from voxport.cli.info import format_facts, voice_facts
    from voxport.runtimes import ShapePlan
    from voxport.runtimes.device_class import DeviceClass

    # The manifest as calibrate and build --static leave it, without running either (both take seconds).
    m = Bundle.load(tiny_bundle, verify=False).manifest
    encoder = m.graphs["encoder"]
    static = {f"fp32@{n}": encoder.variants["fp32"] for n in (32, 64)}
    m = dataclasses.replace(
        m, calibration=(CalibrationPolicy({"decoder": "int8-bf16"}, report="calibration/ov.json", runtime="openvino",
                                          device=DeviceClass("x86_64", ("avx512",), ("fp32", "int8"))),),
        shapes=ShapePlan((32, 64), (48, 96)),
        graphs={**m.graphs, "encoder": dataclasses.replace(encoder, variants={**encoder.variants, **static})})
    facts = voice_facts(m)
    text = format_facts(facts)
    assert facts["calibrated"] == [{"runtime": "openvino", "precisions": {"decoder": "int8-bf16"}, "proved": "timed",
                                    "device": "x86_64 avx512 [fp32 int8]"}]
    assert facts["precisions"]["encoder"] == ["fp32"]  # static copies are listed apart
    assert facts["static_graphs"] == {"encoder": ["fp32@32", "fp32@64"]}
    assert "decoder int8-bf16" in text and "fp32@32, fp32@64" in text
    assert "phoneme buckets: 32, 64" in text and "frame buckets:   48, 96" in text
