"""The fastest policy that passes, whatever its kind: a bf16-only policy is installed and
`precision="calibrated"` loads it; candidates are timed cold and warm and ranked by cold time."""

from __future__ import annotations

import importlib
import shutil
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("onnx", reason="needs onnx (the calibration extra)")

from voxport import Voice  # noqa: E402
from voxport.bundle import Bundle, MissingVariantError  # noqa: E402
from voxport.calibration import GateThresholds, calibrate  # noqa: E402
from voxport.calibration import candidates as candidates_module  # noqa: E402
from voxport.calibration.report import markdown  # noqa: E402
from voxport.calibration.search import ladders, precision_of  # noqa: E402
from voxport.calibration.timing import pick_sentences, time_session  # noqa: E402
from voxport.cli import main  # noqa: E402

# The module, not the function the package exports under the same name.
calibrate_module = importlib.import_module("voxport.calibration.calibrate")
LENIENT = GateThresholds(max_mcd_db=1e9, max_duration_changes=1.0)


class Int8RefusingGate(calibrate_module.Gate):
    """The real gate, except that any configuration with an int8 stage fails (as if int8 cost too much
    quality), so that only the float candidates can pass."""

    def evaluate(self, name, sessions, precisions):
        result = super().evaluate(name, sessions, precisions)
        if any(p.startswith("int8") for p in precisions.values()):
            result.passed, result.reasons = False, [*result.reasons, "simulated: int8 refused"]
        return result


def _int8_then_polyphase_fastest(real_time_candidates):
    """time_candidates, reordered (on the tiny model the real order is noise): the int8 candidates
    fastest, so they are judged (and refused) first, then the vocoder's polyphase bf16 graph."""

    def timed(candidates, feeds, manifest, say=lambda m: None):
        speed = real_time_candidates(candidates, feeds, manifest, say)
        for s in speed.values():
            ms = s["candidates_ms"]
            fastest = min(ms.values())
            ms.update({c: 0.2 * fastest for c in ms if c.startswith("int8")})
            if "bf16+polyphase" in ms:
                ms["bf16+polyphase"] = 0.5 * fastest
        return speed

    return timed


@pytest.fixture(scope="module")
def bf16_bundle(tiny_bundle, tmp_path_factory):
    """A copy of the tiny bundle calibrated for OpenVINO where only bf16 passes (once for the module)."""
    ov = pytest.importorskip("openvino", reason="needs the openvino extra")
    if "BF16" not in list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")):
        pytest.skip("this CPU has no bf16")
    from voxport.calibration import quantize_openvino

    bundle_dir = shutil.copytree(tiny_bundle, tmp_path_factory.mktemp("calibrated") / "bundle")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quantize_openvino, "MIN_CHANNELS", 1)  # the tiny model's convs are narrow
        patch.setitem(candidates_module.CANDIDATES, "openvino", ("int8-bf16", "int8", "bf16"))
        patch.setattr(calibrate_module, "Gate", Int8RefusingGate)
        patch.setattr(calibrate_module, "time_candidates",
                      _int8_then_polyphase_fastest(calibrate_module.time_candidates))
        report = calibrate(bundle_dir, "openvino", thresholds=LENIENT, max_sentences=12, check_wer=False,
                           threads=1, stages=("decoder", "vocoder"), require_speedup=False)
    return bundle_dir, report


def test_calibrate_installs_a_bf16_only_policy(bf16_bundle):
    bundle_dir, report = bf16_bundle
    result = report["result"]
    assert result["precisions"] == {"encoder": "fp32", "duration": "fp32", "decoder": "bf16", "vocoder": "bf16"}
    assert result["candidates"]["vocoder"] == "bf16+polyphase"  # the vocoder's upsampling, rewritten
    assert result["candidates"]["decoder"] == "bf16"  # no ConvTranspose: one float graph, as exported
    assert result["kind"] == "bf16 only" and result["int8_stages"] == []
    assert result["reduced_stages"] == ["decoder", "vocoder"]
    refused = [e for e in report["evaluations"] if not e["passed"]]
    assert refused and all("simulated: int8 refused" in e["reasons"] for e in refused)
    assert "Result (bf16 only)" in (bundle_dir / "calibration" / "report-openvino.md").read_text()

    bundle = Bundle.load(bundle_dir)  # verifies every recorded size and hash
    assert bundle.manifest.policies_for("openvino")[0].precisions == result["precisions"]
    vocoder = bundle.manifest.graphs["vocoder"].variants
    assert vocoder["bf16"].file == "bf16/vocoder.onnx" and "int8" not in vocoder
    assert set(bundle.manifest.graphs["decoder"].variants) == {"fp32"}  # bf16 compiled from the fp32 file
    import onnx

    ops = {n.op_type for n in onnx.load(str(bundle_dir / "bf16" / "vocoder.onnx")).graph.node}
    assert "ConvTranspose" not in ops


@pytest.mark.parametrize("name", ["calibrated", "int8"])
def test_calibrated_loads_the_installed_policy(bf16_bundle, tiny_voice, name):
    bundle_dir, report = bf16_bundle
    bundle = Bundle.load(bundle_dir)
    files = {"encoder": "fp32", "duration": "fp32", "decoder": "fp32", "vocoder": "bf16"}  # variant per stage
    with Voice.load(bundle_dir, runtime="openvino", precision=name, threads=1) as voice:
        for stage, precision in report["result"]["precisions"].items():
            assert voice.sessions[stage].precision == precision
            assert voice.sessions[stage].model_path.resolve() == bundle.graph_path(stage, files[stage]).resolve()
        audio = voice.synthesize("Calibrated speech.", seed=0)
    # The encoder and duration predictor stayed fp32: same frames, so the same length as fp32.
    assert audio.size == tiny_voice.synthesize("Calibrated speech.", seed=0).size > 0
    with pytest.raises(MissingVariantError, match="no calibrated policy for onnxruntime"):
        Voice.load(bundle_dir, runtime="onnxruntime", precision=name)


def test_speak_accepts_calibrated(bf16_bundle, tmp_path, capsys):
    bundle_dir, _ = bf16_bundle
    wav = tmp_path / "out.wav"
    assert main(["speak", "Calibrated speech.", "--bundle", str(bundle_dir), "--runtime", "openvino",
                 "--precision", "calibrated", "--threads", "1", "-o", str(wav)]) == 0
    assert wav.stat().st_size > 44


def test_the_report_times_cold_and_warm_and_ranks_by_cold(bf16_bundle):
    _, report = bf16_bundle
    for s in report["speed"].values():
        assert s["ranked_by"] == "cold" and s["sentences"] >= 4
        assert s["shapes"] == "fixed buckets"  # OpenVINO runs buckets by default, so calibration times those
        assert s["fp32_ms"] == s["fp32"]["cold_ms"] > 0 and s["fp32"]["warm_ms"] > 0
        for name, t in s["candidates"].items():
            assert t["precision"] == precision_of(name) and t["cold_ms"] > 0 and t["warm_ms"] > 0
    text = markdown(report)
    assert "ranked by cold time" in text and "| vocoder | bf16+polyphase |" in text


def test_ladders_judge_one_graph_per_precision_the_fastest():
    speed = {"vocoder": {"fp32_ms": 10.0, "candidates_ms": {"bf16": 8.0, "bf16+polyphase": 4.0, "int8": 5.0}}}
    assert ladders(speed) == {"vocoder": ["bf16+polyphase", "int8"]}
    assert precision_of("bf16+polyphase") == "bf16" and precision_of("int8-bf16") == "int8-bf16"


def test_policy_kind_names_what_passed():
    kind = calibrate_module.policy_kind
    assert kind({"decoder": "bf16", "vocoder": "bf16", "encoder": "fp32"}) == "bf16 only"
    assert kind({"decoder": "int8-bf16", "vocoder": "bf16"}) == "bf16 + int8-bf16"
    assert kind({"decoder": "fp32"}) == "fp32 only"


def test_pick_sentences_spreads_over_lengths():
    sentences = [f"{'word ' * n}end." for n in range(1, 61)]
    picked = pick_sentences(sentences, 8)
    assert len(picked) == 9 and len(set(map(len, picked))) == 9
    assert picked[0] == sentences[0] and picked[-1] == sentences[53]  # up to the 90th percentile of lengths
    assert pick_sentences(sentences[:3], 8) == sentences[:3]


class _ShapeCompilingSession:
    """Costs 30 ms on the first call with a shape and 1 ms on a repeat, like a runtime compiling per shape."""

    runtime = "onnxruntime"  # dynamic shapes: timed call by call
    inputs = ()

    def __init__(self) -> None:
        self.seen: set = set()

    def run(self, feeds):
        shape = feeds["x"].shape
        time.sleep(0.001 if shape in self.seen else 0.03)
        self.seen.add(shape)
        return {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def test_cold_time_is_the_first_call_per_shape_and_slow_candidates_are_stopped():
    feeds = [{"x": np.zeros((1, n), np.float32)} for n in (3, 10, 20, 30, 40)]
    manifest = SimpleNamespace(shapes=None, family="vits")  # no bucket plan recorded; dynamic shapes anyway
    timing = time_session(_ShapeCompilingSession, "encoder", feeds, manifest)
    assert timing.cold_ms > 20 and timing.warm_ms < 10 and timing.shapes == "dynamic" and not timing.stopped
    stopped = time_session(_ShapeCompilingSession, "encoder", feeds, manifest, limit_s=0.05)
    assert stopped.stopped.startswith("stopped after 2 sentences")


def test_a_candidate_the_device_cannot_run_is_one_note_for_every_stage(monkeypatch, tiny_voice):
    """A CPU without BF16 cannot run any stage's bf16 candidate: one note says so, not one per stage."""
    from voxport.calibration import timing
    from voxport.runtimes.errors import UnsupportedPrecisionError

    def fake_time(open_session, stage, feeds, manifest, limit_s=None):  # noqa: ANN001, ANN202
        session = open_session()
        if session == "bf16":
            raise UnsupportedPrecisionError("openvino", "bf16", ["fp32", "int8"])
        return timing.Timing(10.0, 9.0, 0.1, "dynamic")

    monkeypatch.setattr(timing, "time_session", fake_time)
    files = {"decoder": {"bf16": "d.onnx", "int8": "d8.onnx"}, "vocoder": {"bf16": "v.onnx"}}
    candidates = SimpleNamespace(files=files, notes=[], open_stage=lambda stage, c=None: c or "fp32")
    feeds = {stage: [{}, {}, {}] for stage in files}
    speed = timing.time_candidates(candidates, feeds, tiny_voice.manifest)
    assert candidates.notes == ["bf16 (any stage): not run on this device (runtime 'openvino' does not support "
                                "precision 'bf16'; supported: fp32, int8)"]
    assert set(speed["decoder"]["candidates"]) == {"int8"} and speed["vocoder"]["candidates"] == {}
