"""Cold sentences and time limits of the profiler and the benchmarks: fast, no real voice.

A configuration that runs past its time limit must be reported with what it measured (fake workers
that send some results, then sleep), and the cold sentences must be new to the process: drawn from
the corpus, never repeated, never one of the warm texts.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from voxport.tools.profiling.child import Recorder, run_child
from voxport.tools.profiling.cold import SHORT_WORDS, corpus_sentences, draw_cold_sets, draw_cold_texts, word_count
from voxport.tools.profiling.measure import measure_cold

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 3.0  # the fake workers sleep far longer; what they sent before must survive the stop

# Sends two of five planned cold measurements, then hangs: a configuration that would never finish.
SLOW_WORKER = """
import sys, time
from voxport.tools.profiling.child import Recorder
rec = Recorder(sys.stdout)
rec.set(planned={"cold": 5}, sample_rate=1000)
for i in range(2):
    rec.add("cold", {"text": i, "s": 0.5, "audio_s": 2.0})
print("not a record: libraries print to stdout too", flush=True)
time.sleep(600)
"""


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# --- the child protocol ------------------------------------------------------------------------------

def test_a_child_past_its_limit_is_stopped_and_keeps_what_it_sent(tmp_path):
    outcome = run_child([sys.executable, str(_script(tmp_path, "slow.py", SLOW_WORKER))], timeout=LIMIT_S)
    assert outcome.status == "timeout" and "time limit" in outcome.error
    assert outcome.seconds < LIMIT_S + 10  # stopped, not waited for
    assert [e["text"] for e in outcome.result["cold"]] == [0, 1]
    assert outcome.result["planned"] == {"cold": 5}


def test_a_child_that_crashes_is_failed_with_its_error_and_partial_results(tmp_path):
    crash = """
    import sys
    from voxport.tools.profiling.child import Recorder
    Recorder(sys.stdout).add("cold", {"s": 1})
    raise RuntimeError("compiler exploded")
    """
    outcome = run_child([sys.executable, str(_script(tmp_path, "crash.py", crash))], timeout=60)
    assert outcome.status == "failed" and "compiler exploded" in outcome.error
    assert outcome.result["cold"] == [{"s": 1}]


def test_recorder_replays_to_the_same_result(capsys):
    rec = Recorder(sys.stdout)
    rec.set(a=1)
    rec.add("xs", {"v": 1})
    rec.add("xs", {"v": 2})
    rec.set(a=2, status="ok")
    from voxport.tools.profiling.child import apply_record, parse_record

    rebuilt: dict = {}
    for line in capsys.readouterr().out.splitlines():
        apply_record(rebuilt, parse_record(line))
    assert rebuilt == rec.result == {"a": 2, "xs": [{"v": 1}, {"v": 2}], "status": "ok"}


# --- cold sentences ----------------------------------------------------------------------------------

def test_cold_sentences_never_repeat_and_avoid_the_warm_texts():
    pool = corpus_sentences()
    warm = pool[:20]
    long, short = draw_cold_sets(40, 15, exclude=[w.upper() for w in warm])  # case does not make it new
    everything = [*long, *short]
    assert len(set(everything)) == len(everything) == 55
    assert not set(everything) & set(warm)
    assert all(SHORT_WORDS[0] <= word_count(s) <= SHORT_WORDS[1] for s in short)
    assert draw_cold_sets(40, 15, exclude=warm) == (long, short)  # every configuration gets the same ones
    with pytest.raises(ValueError, match="cold sentences"):
        draw_cold_texts(len(pool) + 1)


def test_the_cold_phase_speaks_each_sentence_once_before_repeating_it():
    spoken: list[tuple[str, str]] = []

    def synthesize(text: str, index: int) -> dict:
        spoken.append(("synthesize", text))
        return {"text": index}

    def first_audio(text: str, index: int) -> dict:
        spoken.append(("stream", text))
        return {"text": index}

    long, short = draw_cold_sets(4, 3)
    rec = Recorder()
    measure_cold({"cold": {"texts": long, "short": short}}, rec, synthesize, first_audio, lambda: None)
    cold_phase = [t for _, t in spoken[: len(long) + len(short)]]
    assert len(set(cold_phase)) == len(cold_phase)  # nothing in the cold phase was heard before
    assert [t for _, t in spoken[len(long) + len(short):]] == long  # then the same sentences: warm
    assert len(rec.result["cold"]) == len(rec.result["cold_warm"]) == 4 and len(rec.result["cold_ttfa"]) == 3


# --- the profiler: a configuration past its limit stays in the report --------------------------------

PROFILE_WORKER = """
import json, sys, time
from voxport.tools.profiling.child import Recorder
job = json.load(open(sys.argv[1]))
rec = Recorder(sys.stdout)
rec.set(load_ms=12.0, bundle_bytes=1000, first_call_ms=30.0)
sample = {"end_to_end_ms": 40.0, "audio_s": 1.0, "stages_ms": {"encoder": 10.0, "decoder": 25.0},
          "graph_ms": {"encoder": 9.0}, "graph_calls": {"encoder": 1}}
for i, text in enumerate(job["cold"]["texts"][:2]):
    rec.add("cold", {**sample, "text": i, "end_to_end_ms": 80.0})
rec.add("cold_ttfa", {"text": 0, "ttfa_ms": 15.0, "stages_ms": {"encoder": 10.0}})
rec.add("samples", {**sample, "text": 0})
time.sleep(600)
"""


def test_profile_reports_a_configuration_that_timed_out_with_its_partial_figures(tiny_bundle, tmp_path, monkeypatch):
    from voxport.tools.profiling import runner, schema_errors, to_markdown

    fake = _script(tmp_path, "worker.py", PROFILE_WORKER)
    monkeypatch.setattr(runner, "worker_command", lambda job: [sys.executable, str(fake), str(job)])
    report = runner.profile(tiny_bundle, threads=[1], runs=1, warmup=0, passes=2, baseline=False, progress=False,
                            cold=3, timeout=LIMIT_S)
    [row] = report["configurations"]
    assert row["status"] == "timeout" and "time limit" in row["error"]
    assert row["passes"] == 1  # a configuration out of time is not run again
    assert row["cold"]["texts"] == 2 and row["cold"]["rtf"] == pytest.approx(0.08)
    assert row["rtf"] == pytest.approx(0.04) and row["load_ms"] == 12.0 and "peak_rss_mb" not in row
    assert schema_errors(report) == []
    markdown = to_markdown(report)
    summary = next(line for line in markdown.splitlines() if line.startswith(f"| {row['name']} |"))
    assert "| timeout |" in summary and "0.0800" in summary
    assert f"`{row['name']}` (timeout)" in markdown


# --- the benchmarks: the table still prints, with what the slow configuration measured ---------------

BENCH_WORKER = """
import sys, time
from voxport.tools.profiling.child import Recorder
config = sys.argv[sys.argv.index("--worker") + 1]
rec = Recorder(sys.stdout)
rec.set(planned={"cold": 3}, sample_rate=1000)
for i in range(3 if config == "fast" else 1):
    rec.add("cold", {"text": i, "s": 0.1 * (i + 1), "audio_s": 1.0})
if config == "slow":
    time.sleep(600)
rec.set(status="ok", error=None)
"""


def test_benchmark_configurations_past_their_limit_are_reported_not_lost(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from _common import rtf_ratio, run_configurations, summarize

    script = _script(tmp_path, "bench.py", BENCH_WORKER)
    outcomes = run_configurations(str(script), ["slow", "fast"], rounds=2, args=[], timeout=LIMIT_S)
    assert len(outcomes["slow"]) == 1 and len(outcomes["fast"]) == 2  # not retried after its timeout
    slow, fast = summarize(outcomes["slow"]), summarize(outcomes["fast"])
    assert fast.status == "ok" and fast.rtf("cold") == pytest.approx(0.2)
    assert slow.status == "timeout" and slow.rtf("cold") == pytest.approx(0.1)
    assert slow.note().startswith("timeout (1/3 cold)")
    assert rtf_ratio(slow, "cold", fast) == pytest.approx(1.0)  # compared on the sentences both reached


def test_cold_shapes_table_prints_every_configuration(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import cold_shapes
    from _common import Summary

    piper = Summary("ok", None, {"sample_rate": 1000},
                    {"cold": [{"s": 0.2, "audio_s": 1.0}] * 2, "warm": [{"s": 0.1, "audio_s": 1.0}] * 2,
                     "ttfa": [{"ttfa_s": 0.2}] * 2})
    slow = Summary("timeout", "stopped at the time limit (3 s)", {"planned": {"cold": 2}},
                   {"cold": [{"s": 0.1, "audio_s": 1.0}]})
    failed = Summary("skipped", "TypeError: load() got an unexpected keyword argument 'shapes'", {})
    # A --load-only row: load seconds, RSS after load and peak, its buckets and its primed first start.
    loaded = Summary("ok", None, {"load_s": 2.5, "load_rss_mb": 401.4, "load_peak_rss_mb": 420.6,
                                  "fixed": ["encoder", "vocoder"], "buckets": {"encoder": 3, "vocoder": 2},
                                  "prime_load_s": 7.25})
    cold_shapes._print_table({"piper-tts": piper, "ov-fixed-fp32": slow, "calibrated": failed,
                              "ov-small-fp32-2nd-start": loaded})
    lines = {line.split(" | ")[0][2:]: line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    # load s, RSS after load, peak RSS, then cold RTF
    assert "| timeout | – | – | – | 0.1000 |" in lines["ov-fixed-fp32"] and "0.500" in lines["ov-fixed-fp32"]
    row = lines["ov-small-fp32-2nd-start"]
    assert "| ok | 2.50 | 401 | 421 | – |" in row
    assert "fixed shapes: encoder (3), vocoder (2)" in row and "1st start in another process: 7.25 s" in row
    assert "unexpected keyword argument 'shapes'" in lines["calibrated"]
