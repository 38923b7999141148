"""int8 calibration on the tiny bundle: deterministic capture and quantization, a gate that can fail."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")

from voxport import Voice  # noqa: E402
from voxport.bundle import Bundle, MissingVariantError  # noqa: E402
from voxport.calibration import CalibrationRefused, GateThresholds, calibrate  # noqa: E402
from voxport.calibration.calibrate import open_candidate_sessions  # noqa: E402
from voxport.calibration.capture import capture_stage_inputs  # noqa: E402
from voxport.calibration.corpus import CORPUS, HELDOUT, read_sentences  # noqa: E402
from voxport.calibration.gate import Gate  # noqa: E402
from voxport.calibration.quantize_ort import quantize_graph  # noqa: E402
from voxport.stages import StageSessions  # noqa: E402

SENTENCES = read_sentences(CORPUS)[:12]


def test_shipped_corpus_is_large_varied_and_disjoint_from_the_held_out_set():
    corpus, heldout = read_sentences(CORPUS), read_sentences(HELDOUT)
    assert len(corpus) >= 300 and len(heldout) >= 30
    assert not {s.lower() for s in corpus} & {s.lower() for s in heldout}
    lengths = [len(s.split()) for s in corpus]
    assert min(lengths) <= 3 and max(lengths) >= 40
    assert any("?" in s for s in corpus) and any("$" in s for s in corpus)


def test_capture_is_deterministic_and_crops_frame_stages(tiny_voice):
    a = capture_stage_inputs(tiny_voice, SENTENCES, seed=3, frame_crop=16)
    b = capture_stage_inputs(tiny_voice, SENTENCES, seed=3, frame_crop=16)
    assert a.keys() == b.keys() == {"encoder", "duration", "decoder", "vocoder"}
    for stage in a:
        assert len(a[stage]) == len(b[stage]) > 0
        for fa, fb in zip(a[stage], b[stage], strict=True):
            for name in fa:
                np.testing.assert_array_equal(fa[name], fb[name])
    assert {f["latent"].shape[-1] for f in a["vocoder"]} == {16}
    assert len(a["encoder"]) == len(SENTENCES)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_identical_int8_graphs(tiny_voice, tiny_bundle, tmp_path):
    feeds = capture_stage_inputs(tiny_voice, SENTENCES, seed=0, frame_crop=16)["vocoder"]
    first = quantize_graph(tiny_bundle / "vocoder.onnx", tmp_path / "a.onnx", feeds)
    second = quantize_graph(tiny_bundle / "vocoder.onnx", tmp_path / "b.onnx", feeds)
    assert _sha(first) == _sha(second)


def _int8_sessions(bundle_dir, files) -> StageSessions:
    return open_candidate_sessions(Bundle.load(bundle_dir), "cpu", files, threads=1)


def test_gate_refuses_a_deliberately_bad_quantization(tiny_voice, tiny_bundle, tmp_path):
    captured = capture_stage_inputs(tiny_voice, SENTENCES, seed=0, frame_crop=16)
    # Everything, duration predictor and edge convolutions included, with one scale per tensor.
    files = {stage: quantize_graph(tiny_bundle / f"{stage}.onnx", tmp_path / f"{stage}.onnx", captured[stage],
                                   per_channel=False)
             for stage in ("encoder", "duration", "decoder", "vocoder")}
    gate = Gate(tiny_voice, read_sentences(HELDOUT)[:4], 0, GateThresholds(), recognizer=None)
    result = gate.evaluate("all per-tensor", _int8_sessions(tiny_bundle, files), list(files))
    assert not result.passed
    assert any("MCD" in r for r in result.reasons) or any("durations moved" in r for r in result.reasons)
    # The same gate passes the fp32 graphs themselves: it measures, it does not refuse everything.
    same = gate.evaluate("fp32", _int8_sessions(tiny_bundle, {}), [])
    assert same.passed and same.mean["mcd_db"] == 0.0


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    return shutil.copytree(tiny_bundle, tmp_path / "bundle")


def test_without_int8_graphs_voice_load_says_to_calibrate(bundle_copy):
    with pytest.raises(MissingVariantError, match="voxport calibrate"):
        Voice.load(bundle_copy, precision="int8")


def test_refused_calibration_writes_a_report_and_no_int8(bundle_copy):
    strict = GateThresholds(max_mcd_db=0.0, max_duration_changes=0.0)
    with pytest.raises(CalibrationRefused) as info:
        calibrate(bundle_copy, "cpu", thresholds=strict, max_sentences=12, check_wer=False, threads=1,
                  require_speedup=False)
    report = info.value.report
    assert report["result"]["int8_stages"] == []
    assert all(not e["passed"] and e["reasons"] for e in report["evaluations"])
    assert (bundle_copy / "calibration" / "report-cpu.json").is_file()
    assert "REFUSED" in (bundle_copy / "calibration" / "report-cpu.md").read_text()
    assert "int8" not in Bundle.load(bundle_copy).manifest.graphs["vocoder"].variants


def test_accepted_calibration_installs_int8_that_voice_load_uses(bundle_copy):
    lenient = GateThresholds(max_mcd_db=1e9, max_duration_changes=1.0)
    report = calibrate(bundle_copy, "cpu", thresholds=lenient, max_sentences=12, check_wer=False, threads=1,
                       stages=("decoder", "vocoder"), require_speedup=False)
    assert report["result"]["int8_stages"] == ["decoder", "vocoder"]
    bundle = Bundle.load(bundle_copy)  # hashes of the new files are verified
    assert bundle.manifest.graphs["vocoder"].variants["int8"].file == "int8/vocoder.onnx"
    # "int8" means the calibrated policy: stages without an accepted int8 graph stay at their precision.
    assert "int8" not in bundle.manifest.graphs["encoder"].variants
    policy = bundle.manifest.extra["calibration"]["cpu"]["precisions"]
    assert policy == {"encoder": "fp32", "duration": "fp32", "decoder": "int8", "vocoder": "int8"}
    with Voice.load(bundle_copy, precision="int8") as voice:
        assert voice.sessions["vocoder"].precision == "int8"
        assert voice.sessions["encoder"].precision == "fp32"
        assert voice.synthesize("Quantized speech.", seed=0).size > 0


def test_tensorrt_calibration_is_refused_honestly(bundle_copy):
    with pytest.raises(NotImplementedError, match="TensorRT"):
        calibrate(bundle_copy, "tensorrt")
