"""benchmarks/kokoro.py without running a model: a row whose interpreter is missing says why instead of running,
a row that failed or timed out still prints with what it measured, and the voxport/kokoro-onnx ratios are
taken from the same run's figures. The Japanese sentence sets never repeat a sentence."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(monkeypatch):
    import importlib.util

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _kokoro_prepare

    # By path: the name `kokoro` is the kokoro package's when it is installed (test_kokoro_compat imports it).
    spec = importlib.util.spec_from_file_location("kokoro_benchmark", ROOT / "benchmarks" / "kokoro.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, _kokoro_prepare


def _args(**kw) -> argparse.Namespace:
    base = {"threads": 2, "runs": 2, "rounds": 1, "ko_python": "/nonexistent/python", "kmodel_python": None}
    return argparse.Namespace(**{**base, **kw})


def test_sentence_sets_are_distinct_and_big_enough(bench):
    _, prep = bench
    every = prep.WARM + prep.COLD + prep.FIRST_AUDIO
    assert len(set(every)) == len(every)
    assert len(prep.COLD) >= 10 and len(prep.FIRST_AUDIO) >= 10
    sentences = [x + "。" for p in prep.PARAGRAPHS for x in p.split("。") if x]
    assert len(prep.PARAGRAPHS) >= 3 and all(p.count("。") >= 3 for p in prep.PARAGRAPHS)
    assert not set(sentences) & set(every) and len(set(sentences)) == len(sentences)


def test_rows_that_cannot_run_say_why(bench, tmp_path):
    kokoro, _ = bench
    plan = {"int8": "m.onnx", "fp32": None}
    assert "no kokoro-onnx interpreter at /nonexistent/python" in kokoro._command("ko-int8", _args(), plan, tmp_path)
    assert kokoro._command("kmodel", _args(), plan, tmp_path) == kokoro.KMODEL_ABSENT
    cmd = kokoro._command("kmodel", _args(kmodel_python="/k/python"), plan, tmp_path)
    assert cmd[0] == "/k/python" and cmd[-2:] == ["--engine", "kmodel"]
    assert "no fp32 monolith" in kokoro._command("ko-fp32", _args(ko_python=__file__), plan, tmp_path)


def test_the_calibrated_row_needs_a_policy_in_the_bundle(bench, tmp_path):
    kokoro, _ = bench
    (tmp_path / "manifest.json").write_text('{"calibration": [{"runtime": "onnxruntime"}]}', encoding="utf-8")
    plan = {"bundle": str(tmp_path), "int8": "m.onnx", "fp32": None}
    assert "no calibrated openvino policy" in kokoro._command("voxport-ov-cal", _args(), plan, tmp_path)
    (tmp_path / "manifest.json").write_text('{"calibration": [{"runtime": "openvino"}]}', encoding="utf-8")
    cmd = kokoro._command("voxport-ov-cal", _args(), plan, tmp_path)
    assert cmd[cmd.index("--worker") + 1] == "voxport-ov-cal"
    ov = kokoro._command("voxport-ov", _args(), plan, tmp_path)  # fp32 needs no policy
    assert ov[ov.index("--worker") + 1] == "voxport-ov"


def _summary(kokoro, status: str, seconds: float, samples: int, rss: float):
    entry = {"ids": 30, "s": seconds, "samples": samples}
    first = {"text": 0, "ttfa_s": seconds / 2, "s": seconds, "audio_s": samples / 24000}
    return kokoro.Summary(status, None if status == "ok" else "stopped at the time limit (600 s)",
                          {"sample_rate": 24000, "rss_mb": rss, "load_s": 1.0, "planned": {"cold": 2}},
                          {"cold": [entry], "cold_warm": [entry], "warm": [entry], "first_audio": [first],
                           "first_audio_warm": [first], "paragraph": [first]})


def test_the_report_prints_every_row_and_same_run_ratios(bench, capsys):
    kokoro, _ = bench
    results = {"voxport": _summary(kokoro, "ok", 1.0, 48000, 400.0),
               "ko-int8": _summary(kokoro, "ok", 2.0, 48000, 800.0),
               "ko-fp32": _summary(kokoro, "timeout", 4.0, 48000, 1000.0),
               "kmodel": kokoro.Summary("skipped", kokoro.KMODEL_ABSENT, {})}
    plan = {"voice": "jf_alpha", "sentences": {"warm": [1], "cold": [1], "first_audio": [1]}}
    kokoro.report(results, _args(), plan)
    out = capsys.readouterr().out
    assert ("voxport / ko-int8: time cold 0.500, warm 0.500; first audio cold 0.500, warm 0.500, on paragraphs "
            "0.500; RSS 0.50") in out
    assert "voxport / ko-fp32: time cold 0.250" in out
    assert "timeout (1/2 cold): stopped at the time limit" in out
    assert "kmodel" in out and "give --kmodel-python" in out


def test_the_worker_reports_a_missing_engine_as_a_skipped_row(tmp_path):
    """The worker runs in an interpreter without voxport; here, one without kokoro-onnx: the row is skipped
    with the reason, through the same record protocol the parent reads (tools/profiling/child.py)."""
    import importlib.util
    import json
    import sys

    if importlib.util.find_spec("kokoro_onnx") is not None:
        pytest.skip("kokoro-onnx is installed here, so its absence cannot be shown")
    from voxport.tools.profiling.child import run_child

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"voices": "v.bin", "vocab": "vocab.json", "voice": "jf_alpha", "sentences": {}}))
    outcome = run_child([sys.executable, str(ROOT / "benchmarks" / "_kokoro_worker.py"), "--engine", "onnx",
                         "--plan", str(plan), "--model", "m.onnx"], 120)
    assert outcome.status == "skipped"
    assert "kokoro_onnx" in outcome.error and "lacks what --engine onnx needs" in outcome.error
