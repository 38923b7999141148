"""Calibration of a Kokoro bundle: the family's plan (calibration/kokoro.py) through the shared capture,
candidates, timing and gate, on the committed tiny Kokoro-shaped bundle (random weights: this proves the
machinery, not the quality of a real voice), the F0 measure, and the corpus chosen by language."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="calibration builds its candidates with onnx (the `calibration` extra)")

from voxport import Voice  # noqa: E402
from voxport.calibration.calibrate import calibrate, read_texts, recognizer_for  # noqa: E402
from voxport.calibration.corpus import CORPUS, corpus_for  # noqa: E402
from voxport.calibration.gate import Gate, GateThresholds  # noqa: E402
from voxport.calibration.kokoro import KokoroReplay, f0_error_cents  # noqa: E402
from voxport.calibration.plan import plan_of  # noqa: E402

TINY = Path(__file__).parent / "data" / "bundles" / "kokoro"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A copy: calibration writes its report and policy into the bundle."""
    return Path(shutil.copytree(TINY, tmp_path / "kokoro"))


def test_f0_error_is_rms_cents_over_frames_both_voiced():
    ref = np.array([100.0, 200.0, 0.0, 150.0])
    assert f0_error_cents(ref, ref) == 0.0
    # An octave up on the voiced frames; the frame unvoiced in the reference is left out.
    assert f0_error_cents(ref, np.array([200.0, 400.0, 300.0, 300.0])) == pytest.approx(1200.0)
    assert f0_error_cents(np.zeros(3), np.zeros(3)) == 0.0


def test_kokoro_has_a_plan_of_its_own(bundle):
    with Voice.load(bundle, threads=1) as voice:
        plan = plan_of(voice)
    assert plan.stages == ("encoder", "prosody", "decoder")  # never the style stage (a weighted sum)
    assert plan.frame_inputs == {}  # captured whole: the decoder's inputs run at three rates


def test_the_gate_judges_f0_and_refuses_over_its_limit(bundle):
    class Strict(KokoroReplay):
        limits = {"f0_cents": -1.0}  # any candidate, even fp32 itself (0 cents), is over

    with Voice.load(bundle, threads=1) as voice:
        sentences = ["A first sentence to judge.", "And a second one."]
        gate = Gate(voice, sentences, 0, GateThresholds(), None)
        same = gate.evaluate("fp32 again", voice.sessions, {})
        strict = Gate(voice, sentences, 0, GateThresholds(), None, replay=Strict(voice, 0, False))
        refused = strict.evaluate("fp32 again", voice.sessions, {})
    assert same.passed and same.mean["f0_cents"] == 0.0 and same.mean["mcd_db"] < 1e-6
    assert not refused.passed and any(r.startswith("f0_cents") for r in refused.reasons)


def test_calibrate_a_kokoro_bundle_and_load_its_policy(bundle):
    report = calibrate(bundle, "onnxruntime", max_sentences=8, check_wer=False, require_speedup=False)
    judged = {e["name"]: e for e in report["evaluations"]}
    assert judged and all("f0_cents" in e["mean"] for e in judged.values())
    assert set(report["speed"]) <= {"encoder", "prosody", "decoder"}
    assert report["result"]["precisions"]["style"] == "fp32"
    assert report["result"]["reduced_stages"]  # something passed (else calibrate raises)
    with Voice.load(bundle, threads=1) as fp32, Voice.load(bundle, threads=1, precision="calibrated") as tuned:
        text = "Calibrated or not, the same words."
        a, b = fp32.synthesize(text), tuned.synthesize(text)
    # Durations may move on other sentences than the gate's (int8 kernels differ between CPUs): no length check.
    assert a.size > 0 and b.size > 0 and np.isfinite(b).all()
    assert tuned.manifest.policies_for("onnxruntime")


def test_the_corpus_follows_the_voice_language(bundle):
    ja_corpus, ja_heldout = corpus_for("ja")
    assert ja_corpus.name == "corpus_ja.txt" and corpus_for("ja_JP")[0] == ja_corpus
    assert corpus_for("en-us")[0] == CORPUS and corpus_for("fr")[0] == CORPUS  # no French texts: English
    texts = read_texts(None, None, None, "ja")
    assert len(texts.sentences) >= 40 and len(texts.evaluation) >= 10
    assert all(any("\u3040" <= ch <= "\u30ff" for ch in s) for s in texts.sentences)  # kana in every line
    assert not set(texts.sentences) & set(texts.evaluation)


def test_no_wer_for_a_voice_that_is_not_english(bundle, monkeypatch):
    said: list[str] = []
    with Voice.load(bundle, threads=1) as voice:
        monkeypatch.setitem(voice.manifest.phonemizer, "language", "ja")
        assert recognizer_for(voice, True, said.append) is None
        assert recognizer_for(voice, False, said.append) is None
    assert len(said) == 1 and "judged by MCD and durations" in said[0]


def test_int8_variants_are_each_judged_but_exact_rewrites_are_not():
    from voxport.calibration.search import ladders

    speed = {"decoder": {"fp32_ms": 10.0, "candidates_ms": {"int8": 8.0, "int8+bold": 6.0, "bf16": 7.0,
                                                             "bf16+polyphase": 5.0, "fp16": 12.0}}}
    # bf16+polyphase computes what bf16 does (only the faster is judged); the int8 variants keep other layers
    # float, so both are judged, the faster first; fp16 is slower than fp32 and never judged.
    assert ladders(speed)["decoder"] == ["bf16+polyphase", "int8+bold", "int8"]


def test_a_plan_s_int8_variant_is_built_and_gated(bundle, monkeypatch):
    from dataclasses import replace

    import voxport.calibration.kokoro as plan_module

    variants = {"decoder": {"bold": ()}}  # keeps nothing float: a different graph from the plain int8
    monkeypatch.setattr(plan_module, "PLAN", replace(plan_module.PLAN, int8_variants=variants))
    report = calibrate(bundle, "onnxruntime", max_sentences=8, check_wer=False, require_speedup=False)
    assert {"int8", "int8+bold"} <= set(report["speed"]["decoder"]["candidates_ms"])
    judged = [e["precisions"].get("decoder") for e in report["evaluations"] if len(e["precisions"]) == 1]
    assert "int8+bold" in judged or "int8" in judged
