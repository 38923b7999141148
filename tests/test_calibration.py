"""int8 calibration on the tiny bundle: deterministic capture and quantization, a gate that can fail."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict

import numpy as np
import pytest

from voxport.runtimes.device_class import this_device

pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")

from voxport import Voice  # noqa: E402
from voxport.bundle import Bundle, MissingVariantError  # noqa: E402
from voxport.calibration import CalibrationRefused, GateThresholds, calibrate  # noqa: E402
from voxport.calibration.capture import capture_stage_inputs  # noqa: E402
from voxport.calibration.corpus import CORPUS, HELDOUT, read_sentences  # noqa: E402
from voxport.calibration.gate import Evaluation, Gate  # noqa: E402
from voxport.calibration.install import variant_of  # noqa: E402
from voxport.calibration.quantize_ort import quantize_graph  # noqa: E402
from voxport.calibration.report import markdown  # noqa: E402
from voxport.calibration.search import PolicySearch, ladders  # noqa: E402
from voxport.pipeline.sessions import StageSessions  # noqa: E402
from voxport.runtimes import RuntimeOptions  # noqa: E402

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
    precisions = {**dict.fromkeys(files, "int8"), "default": "fp32"}
    return StageSessions.open(Bundle.load(bundle_dir), "onnxruntime", precisions, RuntimeOptions(threads=1),
                              files=files)


def test_gate_refuses_a_deliberately_bad_quantization(tiny_voice, tiny_bundle, tmp_path):
    captured = capture_stage_inputs(tiny_voice, SENTENCES, seed=0, frame_crop=16)
    # Everything, duration predictor and edge convolutions included, with one scale per tensor.
    files = {stage: quantize_graph(tiny_bundle / f"{stage}.onnx", tmp_path / f"{stage}.onnx", captured[stage],
                                   per_channel=False)
             for stage in ("encoder", "duration", "decoder", "vocoder")}
    gate = Gate(tiny_voice, read_sentences(HELDOUT)[:4], 0, GateThresholds(), recognizer=None)
    with _int8_sessions(tiny_bundle, files) as sessions:
        result = gate.evaluate("all per-tensor", sessions, dict.fromkeys(files, "int8"))
    assert not result.passed
    assert any("MCD" in r for r in result.reasons) or any("durations moved" in r for r in result.reasons)
    # The same gate passes the fp32 graphs themselves: it measures, it does not refuse everything.
    with _int8_sessions(tiny_bundle, {}) as sessions:
        same = gate.evaluate("fp32", sessions, {})
    assert same.passed and same.mean["mcd_db"] == 0.0 and same.duration_change_fraction == 0.0


def test_gate_reference_is_what_the_voice_says_with_the_same_seed(tiny_voice):
    # One pipeline: the gate's fp32 reference is the SDK's own synthesis, seeded per held-out line.
    heldout = read_sentences(HELDOUT)[:3]
    gate = Gate(tiny_voice, heldout, 5, GateThresholds(), recognizer=None)
    expected = [tiny_voice.synthesize_ids(ids, seed=5 + i)
                for i, line in enumerate(heldout) for _, _, ids in tiny_voice.frontend.text_to_ids(line)]
    assert len(gate.references) == len(expected) >= len(heldout)
    for ref, audio in zip(gate.references, expected, strict=True):
        np.testing.assert_array_equal(ref.audio, audio)


class _Judged:
    def __init__(self, mcd: float, limit: float) -> None:
        self.mean, self.passed = {"mcd_db": mcd}, mcd <= limit


def _fake_evaluate(solo_mcd: dict[tuple[str, str], float], limit: float = 1.0):
    """An evaluator where a configuration's MCD is the sum of its stages' solo MCDs; it records each call."""
    calls: list[tuple[str, dict[str, str]]] = []

    def evaluate(name, precisions):
        calls.append((name, dict(precisions)))
        return _Judged(sum(solo_mcd[item] for item in precisions.items()), limit)

    return evaluate, calls


def test_search_falls_back_to_a_stages_next_candidate_when_its_fastest_fails():
    evaluate, calls = _fake_evaluate({("vocoder", "int8-bf16"): 2.0, ("vocoder", "int8"): 0.8,
                                      ("vocoder", "bf16"): 0.1})
    chosen = PolicySearch({"vocoder": ["int8-bf16", "int8", "bf16"]}, evaluate).run()
    assert chosen == {"vocoder": "int8"}
    assert [name for name, _ in calls] == ["vocoder int8-bf16", "vocoder int8"]  # bf16 never judged


def test_search_demotes_the_worst_solo_stage_until_the_combination_passes():
    evaluate, calls = _fake_evaluate({("decoder", "int8"): 0.4, ("vocoder", "int8"): 0.7, ("vocoder", "bf16"): 0.1})
    search = PolicySearch({"decoder": ["int8"], "vocoder": ["int8", "bf16"]}, evaluate)
    assert search.run() == {"decoder": "int8", "vocoder": "bf16"}
    assert calls == [("decoder int8", {"decoder": "int8"}), ("vocoder int8", {"vocoder": "int8"}),
                     ("combined", {"decoder": "int8", "vocoder": "int8"}),  # 1.1 dB: vocoder (0.7 alone) demoted
                     ("vocoder bf16", {"vocoder": "bf16"}),
                     ("combined", {"decoder": "int8", "vocoder": "bf16"})]
    assert len(search.evaluations) == len(calls)


def test_search_demotes_by_the_dtw_aligned_mcd_when_durations_may_shift():
    """A duration predictor scores 0 dB at the reference's frames; its cost is the DTW-MCD of its own."""
    class Shifted(_Judged):
        def __init__(self, mcd: float, dtw: float) -> None:
            super().__init__(mcd, 1.0)
            self.mean["dtw_mcd_db"], self.passed = dtw, dtw <= 1.0

    solo = {"duration": Shifted(0.0, 0.8), "decoder": Shifted(0.5, 0.5)}
    calls = []

    def evaluate(name, precisions):
        calls.append(name)
        if len(precisions) == 1:
            return solo[next(iter(precisions))]
        return Shifted(0.5, 1.3 if "duration" in precisions else 0.5)

    search = PolicySearch({"duration": ["bf16"], "decoder": ["bf16"]}, evaluate)
    assert search.run() == {"decoder": "bf16"}  # the duration stage (0.8 dB DTW-MCD) was demoted
    assert calls == ["duration bf16", "decoder bf16", "combined"]


def test_with_times_the_search_gives_up_the_least_time_per_db_first():
    """The case calibrate met on the real voice: encoder bf16 and duration int8 each pass alone, not together.
    Demoting the encoder (the higher solo MCD) loses 21 ms; moving the duration to its next rung loses 1 ms."""
    evaluate, calls = _fake_evaluate({("encoder", "bf16"): 0.46, ("duration", "int8"): 0.40,
                                      ("duration", "bf16"): 0.10, ("vocoder", "bf16"): 0.12}, limit=0.8)
    times = {"encoder": {"fp32": 57.0, "bf16": 36.0}, "duration": {"fp32": 13.0, "int8": 8.8, "bf16": 9.9},
             "vocoder": {"fp32": 150.0, "bf16": 86.0}}
    ladder = {"encoder": ["bf16"], "duration": ["int8", "bf16"], "vocoder": ["bf16"]}
    search = PolicySearch(ladder, evaluate, times=times)
    assert search.run() == {"encoder": "bf16", "duration": "bf16", "vocoder": "bf16"}
    # Then the promotion pass tries the duration's faster int8 again with the others: 0.98 dB, refused.
    assert calls[-3:] == [("duration bf16", {"duration": "bf16"}),
                          ("combined", {"encoder": "bf16", "duration": "bf16", "vocoder": "bf16"}),
                          ("combined", {"encoder": "bf16", "duration": "int8", "vocoder": "bf16"})]
    # Without times the old rule holds: the stage that cost the most alone goes, with 21 ms.
    evaluate, _ = _fake_evaluate({("encoder", "bf16"): 0.46, ("duration", "int8"): 0.40,
                                  ("duration", "bf16"): 0.10, ("vocoder", "bf16"): 0.12}, limit=0.8)
    assert PolicySearch(ladder, evaluate).run() == {"duration": "int8", "vocoder": "bf16"}


def test_a_stage_demoted_while_others_failed_is_promoted_again_when_the_final_combination_has_room():
    """calibrate on the real voice: the duration predictor went down to fp32 while an int8-bf16 decoder and
    vocoder failed the combination; once those were demoted, its bf16 (passed alone) fits again."""
    solo = {("encoder", "bf16"): 0.3, ("duration", "bf16"): 0.2, ("decoder", "int8-bf16"): 0.5,
            ("decoder", "int8"): 0.2, ("vocoder", "int8-bf16"): 0.5, ("vocoder", "bf16"): 0.1}
    evaluate, calls = _fake_evaluate(solo, limit=0.85)
    times = {"encoder": {"fp32": 22.0, "bf16": 13.0}, "duration": {"fp32": 5.2, "bf16": 4.5},
             "decoder": {"fp32": 35.0, "int8-bf16": 12.8, "int8": 13.6},
             "vocoder": {"fp32": 141.0, "int8-bf16": 77.0, "bf16": 83.0}}
    ladder = {"encoder": ["bf16"], "duration": ["bf16"], "decoder": ["int8-bf16", "int8"],
              "vocoder": ["int8-bf16", "bf16"]}
    chosen = PolicySearch(ladder, evaluate, times=times).run()
    assert chosen == {"encoder": "bf16", "duration": "bf16", "decoder": "int8", "vocoder": "bf16"}
    # The promotion was judged with everything else and kept; the decoder's and vocoder's faster int8-bf16
    # got their one try each after it, and were refused again.
    tries = [p for name, p in calls if name == "combined"]
    assert tries[-3:] == [chosen, {**chosen, "decoder": "int8-bf16"}, {**chosen, "vocoder": "int8-bf16"}]


def test_search_demotes_a_stage_without_further_candidates_to_fp32():
    evaluate, calls = _fake_evaluate({("encoder", "int8"): 0.5, ("decoder", "int8"): 0.6})
    chosen = PolicySearch({"encoder": ["int8"], "decoder": ["int8"], "vocoder": []}, evaluate).run()
    # The one stage left passed alone: it is not judged "together" with nothing.
    assert chosen == {"encoder": "int8"}
    assert [name for name, _ in calls] == ["encoder int8", "decoder int8", "combined"]


def test_ladders_order_candidates_fastest_first_and_drop_those_no_faster_than_fp32():
    speed = {"vocoder": {"fp32_ms": 10.0, "candidates_ms": {"bf16": 6.0, "int8": 4.0, "int8-bf16": 12.0}},
             "encoder": {"fp32_ms": 1.0, "candidates_ms": {"int8": 1.0}}}
    assert ladders(speed) == {"vocoder": ["int8", "bf16"], "encoder": []}
    assert ladders(speed, require_speedup=False) == {"vocoder": ["int8", "bf16", "int8-bf16"], "encoder": ["int8"]}


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
    # "cpu" is onnxruntime's alias: reports are filed under the canonical name.
    assert report["runtime"] == "onnxruntime"
    assert (bundle_copy / "calibration" / "report-onnxruntime.json").is_file()
    assert "REFUSED" in (bundle_copy / "calibration" / "report-onnxruntime.md").read_text()
    bundle = Bundle.load(bundle_copy)
    assert "int8" not in bundle.manifest.graphs["vocoder"].variants
    assert bundle.manifest.calibration == ()
    assert not (bundle_copy / "calibration" / "candidates-onnxruntime").exists()


def _report(thresholds: GateThresholds, *evaluations: Evaluation) -> dict:
    """A calibration report around `evaluations`, shaped as calibrate.build_report writes it."""
    return {"bundle": "tiny", "runtime": "onnxruntime", "corpus": {"sentences": 12, "file": "corpus.txt"},
            "seed": 0, "method": "minmax", "heldout": {"sentences": 4}, "thresholds": asdict(thresholds),
            "evaluations": [e.to_dict() for e in evaluations],
            "result": {"kind": "int8", "candidates": {"duration": "int8"}}}


def _judged(name: str, policy: str, **mean: float) -> Evaluation:
    """An evaluation as the gate fills it; lengths are measured under both policies."""
    return Evaluation(name, {"duration": "int8"}, sentences=4,
                      mean={"mcd_db": 0.25, "snr_db": 20.0, "log_mel_db": 0.5, **mean},
                      worst={"snr_db": 12.0, "max_abs": 0.01}, duration_change_fraction=0.01,
                      length_change_pct=1.234, net_length_change_pct=-0.567, worst_length_change_pct=-1.5,
                      duration_policy=policy, passed=True)


def _table_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows by their first cell (header included), cells stripped."""
    return {cells[0]: cells for line in text.splitlines() if line.startswith("| ")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}


def test_markdown_report_shows_dtw_mcd_and_length_change_for_duration_shift_only():
    shifted = markdown(_report(GateThresholds(allow_duration_shift=True),
                               _judged("duration int8", "shift", dtw_mcd_db=0.789)))
    strict = markdown(_report(GateThresholds(), _judged("duration int8", "strict")))
    header = _table_rows(shifted)["configuration"]
    dtw, length = header.index("DTW-MCD dB"), header.index("length moved %")
    row = _table_rows(shifted)["duration int8"]
    assert len(row) == len(header)
    assert row[dtw] == "0.789" and row[length] == "1.23 (net -0.57)"
    # Strict: judged at fp32's frames, so neither figure applies; the other columns are as they were.
    row = _table_rows(strict)["duration int8"]
    assert len(row) == len(header) and row[dtw] == row[length] == "–"
    assert row[header.index("MCD dB")] == "0.250" and row[header.index("durations moved %")] == "1.00"
    # A report from before length changes were recorded renders too.
    old = _report(GateThresholds(), _judged("old", "strict"))
    for key in ("length_change_pct", "net_length_change_pct", "worst_length_change_pct", "duration_policy"):
        del old["evaluations"][0][key]
    assert _table_rows(markdown(old))["old"][length] == "–"


def test_accepted_calibration_installs_what_it_chose_and_int8_loads_it(bundle_copy):
    lenient = GateThresholds(max_mcd_db=1e9, max_duration_changes=1.0)
    report = calibrate(bundle_copy, "cpu", thresholds=lenient, max_sentences=12, check_wer=False, threads=1,
                       stages=("decoder", "vocoder"), require_speedup=False)
    chosen = report["result"]["precisions"]
    assert chosen == {"encoder": "fp32", "duration": "fp32", "decoder": "int8", "vocoder": "int8"}
    assert report["result"]["int8_stages"] == ["decoder", "vocoder"]

    bundle = Bundle.load(bundle_copy)  # verifies every recorded size and hash
    (policy,) = bundle.manifest.calibration
    assert policy.runtime == "onnxruntime" and policy.precisions == chosen
    # Recorded for this machine's class, measured here, with what passed the gate alone.
    assert policy.device == this_device("onnxruntime") and policy.timed and not policy.emulated and policy.machine
    assert policy.passed == {"decoder": ["int8"], "vocoder": ["int8"]}
    assert policy.report == "calibration/report-onnxruntime.json" and (bundle_copy / policy.report).is_file()
    assert policy.seed == report["seed"] and policy.method == report["method"]
    for stage in ("decoder", "vocoder"):
        variant = bundle.manifest.graphs[stage].variants["int8"]
        assert variant.file == f"int8/{stage}.onnx"
        assert _sha(bundle_copy / variant.file) == variant.sha256
        assert variant.sha256 != bundle.manifest.graphs[stage].variants["fp32"].sha256
    # "int8" means the calibrated policy: stages without an accepted int8 graph stay at their precision.
    assert "int8" not in bundle.manifest.graphs["encoder"].variants

    with Voice.load(bundle_copy, runtime="cpu", precision="int8", threads=1) as int8, \
            Voice.load(bundle_copy, threads=1) as fp32:
        for stage, precision in chosen.items():
            assert int8.sessions[stage].precision == precision
            assert int8.sessions[stage].model_path.resolve() == bundle.graph_path(stage, variant_of(precision))
        quantized = int8.synthesize("Quantized speech.", seed=0)
        reference = fp32.synthesize("Quantized speech.", seed=0)
    # The duration predictor stayed fp32, so the same seed gives the same frames: equal length, other samples.
    assert quantized.size == reference.size > 0
    assert not np.array_equal(quantized, reference)


def test_tensorrt_calibration_is_refused_honestly(bundle_copy):
    with pytest.raises(NotImplementedError, match="TensorRT"):
        calibrate(bundle_copy, "tensorrt")
