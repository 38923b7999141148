"""`voxport profile` on the tiny bundle: stages add up, the report is valid, and its views agree."""

from __future__ import annotations

import copy
import io
import json
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voxport.cli import main
from voxport.tools.profiling import compare_reports, schema_errors, to_markdown
from voxport.tools.profiling.baseline import resolve_piper_file
from voxport.tools.profiling.measure import Deadline, TimeLimit, measure_split
from voxport.tools.profiling.plan import Configuration, parse_choice, split_job
from voxport.tools.profiling.progress import ProgressLine
from voxport.tools.profiling.stats import relative_spread, summarize

ROOT = Path(__file__).resolve().parents[1]

# Long sentences: model work grows with a sentence's length while the SDK's per-sentence Python outside
# the stage timers (RNG set-up, duration noise, concatenation: ~0.35 ms) does not, so even on the tiny
# model it stays a small share. The first text has two sentences, the second one.
LONG_TEXTS = [
    "On a cold winter morning the old lighthouse keeper climbed the narrow stairs once more, counting every "
    "step as his father had taught him, and stood at the window watching the grey sea for ships that never came. "
    "When the storm finally passed, the villagers walked down to the harbor, counted the boats that had survived "
    "the night, and began, slowly and without a word, to mend the nets that the wind had torn apart.",
    "Streaming speech synthesis lets an assistant start talking before it has finished thinking, so the first "
    "words leave the speaker while the rest of a long answer is still being decoded, and the listener hears a "
    "steady voice instead of an awkward silence followed by a sudden burst of speech.",
]


def _measure(bundle: Path, runs: int = 3) -> dict:
    job = split_job(Configuration("cpu", "fp32", 1), str(bundle), LONG_TEXTS, runs=runs, warmup=1, seed=0)
    result = measure_split(job)
    assert result["status"] == "ok", result.get("error")
    return result


def _median_coverage(result: dict) -> float:
    return statistics.median(sum(s["stages_ms"].values()) / s["end_to_end_ms"] for s in result["samples"])


# --- timings add up ------------------------------------------------------------------------------------

def test_stages_add_up_to_the_end_to_end_time(tiny_bundle):
    result = _measure(tiny_bundle)
    row = summarize([result])
    assert set(row["stages_ms"]) == {"frontend", "encoder", "duration", "length_regulation", "decoder", "vocoder"}
    # Front-end + engine stages against the wall time around synthesize(), per call; the median keeps one
    # call that the OS preempted between two stages (other jobs share these cores) from deciding the test.
    assert _median_coverage(result) == pytest.approx(1.0, abs=0.05)
    assert row["stage_sum_ratio"] > 0.9  # the report's total-based figure says the same
    for sample in result["samples"]:
        staged = sum(sample["stages_ms"].values())
        assert staged <= sample["end_to_end_ms"] * 1.001  # stages are nested inside the end-to-end window
        for stage, graph_ms in sample["graph_ms"].items():
            # The backend call (Session.stats) is part of its stage's wall time (feed checks on top).
            assert 0 < graph_ms <= sample["stages_ms"][stage] + 1e-6
        # One call per sentence and graph.
        assert sample["graph_calls"]["encoder"] == sample["graph_calls"]["vocoder"] == 2 - sample["text"]


def test_the_add_up_check_fails_when_time_is_spent_outside_the_stages(tiny_bundle, monkeypatch):
    """The same check must notice unattributed time; otherwise passing it would mean nothing."""
    import voxport.voice

    per_text_ms = summarize([_measure(tiny_bundle, runs=1)])["end_to_end_ms"]["mean"]
    original = voxport.voice.apply_volume  # runs inside synthesize(), outside every stage timer

    def slow_volume(audio, volume):
        time.sleep(0.25 * per_text_ms / 1000)
        return original(audio, volume)

    monkeypatch.setattr(voxport.voice, "apply_volume", slow_volume)
    assert _median_coverage(_measure(tiny_bundle, runs=1)) < 0.95


def test_time_to_first_audio_is_measured_on_stream(tiny_bundle):
    result = _measure(tiny_bundle, runs=1)
    assert len(result["ttfa"]) == len(LONG_TEXTS)
    for first in result["ttfa"]:
        # Not necessarily below the end-to-end time: stream() also aligns word timestamps before its
        # first chunk, which synthesize() never does.
        assert 0 < sum(first["stages_ms"].values()) <= first["ttfa_ms"]
    # The first chunk waits for the first of the two sentences only.
    calls = result["ttfa"][0]["graph_calls"]
    assert calls["encoder"] == calls["duration"] == 1
    assert result["samples"][0]["graph_calls"]["encoder"] == 2


# --- the time limit in-process ------------------------------------------------------------------------

class _ChecksLeft(Deadline):
    """A deadline that `left` checks still pass: where it stops must not depend on this machine's speed."""

    def __init__(self, left: int) -> None:
        super().__init__(1.0)
        self.left = left

    def check(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise TimeLimit(self.timeout)


def test_in_process_time_limit_stops_between_texts_and_keeps_what_it_measured(tiny_bundle):
    job = split_job(Configuration("cpu", "fp32", 1), str(tiny_bundle), LONG_TEXTS[:1], runs=3, warmup=0, seed=0)
    job["cold"] = {"texts": LONG_TEXTS, "short": ["A short one."]}
    # Checked before the cold phase (passes), then after each measured call: the first cold text is the last.
    result = measure_split(job, deadline=_ChecksLeft(1))
    assert result["status"] == "timeout" and "time limit (1 s)" in result["error"]
    assert len(result["cold"]) == 1 and "cold_ttfa" not in result and "samples" not in result
    assert result["load_ms"] > 0 and "peak_rss_mb" not in result  # like a process stopped at its limit
    assert summarize([result])["cold"]["rtf"] > 0  # and what it measured still makes figures


def test_in_process_profile_applies_the_time_limit(built_tiny_bundle, tmp_path):
    out = tmp_path / "report.json"  # a bundle built from the Piper-style monolith: the baseline is found
    code = main(["profile", "--bundle", str(built_tiny_bundle), "--in-process", "--timeout", "0.001", "--threads", "1",
                 "--runs", "1", "--warmup", "0", "--passes", "2", "--cold", "1", "--json", str(out), "--quiet"])
    assert code == 1  # nothing ran to the end
    report = json.loads(out.read_text())
    assert report["settings"]["timeout_s"] == 0.001 and not report["settings"]["isolated"]
    rows = [*report["baseline"]["rows"], *report["configurations"]]
    assert len(rows) == 2  # the original Piper graph and the split bundle: both stopped, neither failed
    assert all(r["status"] == "timeout" and "checked between texts" in r["error"] for r in rows)
    assert schema_errors(report) == []
    assert "time limit 0.001 s per configuration and pass, checked between texts" in to_markdown(report)


# --- the CLI's report --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_report(built_tiny_bundle, tmp_path_factory):
    """Built from the Piper-style monolith (torch), so the report has the monolith's baseline row."""
    pytest.importorskip("matplotlib", reason="the chart needs the profile extra (matplotlib)")
    out = tmp_path_factory.mktemp("profile")
    texts = out / "texts.txt"
    texts.write_text("\n".join(LONG_TEXTS) + "\n", encoding="utf-8")
    paths = {k: out / f"report.{k}" for k in ("json", "md", "png")}
    code = main(["profile", "--bundle", str(built_tiny_bundle), "--runtime", "cpu,nosuch", "--precision", "fp32,int8",
                 "--threads", "1", "--texts", str(texts), "--runs", "2", "--warmup", "1", "--passes", "2",
                 "--json", str(paths["json"]), "--markdown", str(paths["md"]), "--plot", str(paths["png"]),
                 "--quiet"])
    assert code == 0
    return json.loads(paths["json"].read_text()), paths


def test_report_matches_its_schema_and_lists_what_could_not_run(cli_report):
    report, _ = cli_report
    assert report["schema_version"] == 1
    assert schema_errors(report) == []
    rows = {r["name"]: r for r in report["configurations"]}
    assert rows["cpu/fp32/t1"]["status"] == "ok"
    assert rows["cpu/int8/t1"]["status"] == "skipped" and "int8" in rows["cpu/int8/t1"]["error"]
    assert rows["nosuch/fp32/t1"]["status"] == "skipped" and "nosuch" in rows["nosuch/fp32/t1"]["error"]
    assert report["versions"]["onnxruntime"] and "tensorrt" in report["versions"]
    assert report["machine"]["logical_cores"] >= 1 and isinstance(report["machine"]["cpu_flags"], list)


def test_every_row_has_a_baseline_ratio_and_a_repeat_spread(cli_report):
    report, _ = cli_report
    assert report["baseline"]["status"] == "ok"
    [base] = report["baseline"]["rows"]
    assert base["status"] == "ok" and base["threads"] == 1
    row = next(r for r in report["configurations"] if r["status"] == "ok")
    assert row["vs_baseline"]["baseline"] == base["name"]
    assert row["vs_baseline"]["rtf"] == pytest.approx(row["rtf"] / base["rtf"])
    for dist in [*row["stages_ms"].values(), row["end_to_end_ms"], row["ttfa_ms"]]:
        assert dist["spread"] is not None and dist["spread"] >= 0
        assert dist["p50"] <= dist["p90"] <= dist["p99"]
    assert row["passes"] == 2 and row["samples"] == 2 * 2 * len(LONG_TEXTS)
    assert row["rss_scope"] == "isolated" and row["peak_rss_mb"] > 0 and row["load_ms"] > 0
    assert 0 < row["bundle_bytes"] <= report["bundle"]["size_bytes"]


def _tables(markdown: str) -> dict[str, list[dict[str, str]]]:
    """Each `## Heading`'s table as rows of {header: cell} (parsed here, not by the code under test)."""
    tables, heading, headers = {}, None, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            heading, headers = line[3:], None
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if headers is None:
                headers, tables[heading] = cells, []
            elif set("".join(cells)) != {"-"}:
                tables[heading].append(dict(zip(headers, cells, strict=True)))
    return tables


def _close(cell: str, value: float) -> bool:
    """A printed number against the JSON's, to the printed precision."""
    digits = len(cell.split(".")[1]) if "." in cell else 0
    return abs(float(cell) - value) <= 0.5 * 10**-digits + 1e-9


def test_markdown_tables_match_the_json(cli_report):
    report, paths = cli_report
    markdown = paths["md"].read_text()
    assert markdown == to_markdown(report)
    tables = _tables(markdown)
    rows = {r["name"]: r for r in [*report["baseline"]["rows"], *report["configurations"]]}
    ok = {n for n, r in rows.items() if r["status"] == "ok"}
    summary = {line["configuration"]: line for line in tables["Summary"]}
    assert set(summary) == ok
    for name in ok:
        row, line = rows[name], summary[name]
        assert _close(line["RTF"], row["rtf"])
        assert _close(line["TTFA p50 ms"], row["ttfa_ms"]["p50"])
        assert _close(line["e2e p50 ms"], row["end_to_end_ms"]["p50"])
        assert _close(line["e2e spread %"], 100 * row["end_to_end_ms"]["spread"])
        assert _close(line["peak RSS MB"], row["peak_rss_mb"])
        assert _close(line["load ms"], row["load_ms"])
        if row["kind"] == "split":
            assert _close(line["RTF × base"], row["vs_baseline"]["rtf"])
    seen = set()
    for line in tables["Stage percentiles (ms) and repeat spread"]:
        row = rows[line["configuration"]]
        stage = line["stage"]
        dist = {"end_to_end": row["end_to_end_ms"], "ttfa": row["ttfa_ms"]}.get(stage) or row["stages_ms"][stage]
        for key in ("p50", "p90", "p99"):
            assert _close(line[key], dist[key]), (line, key)
        assert _close(line["spread %"], 100 * dist["spread"])
        seen.add((line["configuration"], stage))
    expected = {(n, s) for n in ok for s in [*rows[n]["stages_ms"], "end_to_end", "ttfa"]}
    assert seen == expected
    skipped = [n for n, r in rows.items() if r["status"] != "ok"]
    assert all(f"`{n}`" in markdown for n in skipped)


def test_report_carries_cold_and_warm_figures(cli_report):
    """Every measured row has the warm figures (the texts repeated) and a cold section (corpus sentences
    new to the process), the schema describes both, and the Markdown shows them."""
    report, paths = cli_report
    cold_texts, short = report["settings"]["cold"]["texts"], report["settings"]["cold"]["short"]
    assert len(cold_texts) == len(short) == 8  # the CLI's default
    assert len({*cold_texts, *short, *LONG_TEXTS}) == 16 + len(LONG_TEXTS)  # none repeated, none warm
    rows = [r for r in [*report["baseline"]["rows"], *report["configurations"]] if r["status"] == "ok"]
    base = report["baseline"]["rows"][0]
    for row in rows:
        cold = row["cold"]
        assert row["rtf"] > 0 and cold["rtf"] > 0 and cold["rtf_warm"] > 0
        assert cold["texts"] == cold["short_texts"] == 8
        assert cold["cold_over_warm"] == pytest.approx(cold["rtf"] / cold["rtf_warm"])
        assert cold["ttfa_ms"]["p50"] > 0 and cold["ttfa_ms"]["spread"] is not None  # two passes
        if row["kind"] == "split":
            assert row["vs_baseline"]["cold_rtf"] == pytest.approx(cold["rtf"] / base["cold"]["rtf"])
    summary = {line["configuration"]: line for line in _tables(paths["md"].read_text())["Summary"]}
    for row in rows:
        assert _close(summary[row["name"]]["cold RTF"], row["cold"]["rtf"])
        assert _close(summary[row["name"]]["cold/warm"], row["cold"]["cold_over_warm"])
    broken = copy.deepcopy(report)
    del broken["configurations"][0]["cold"]["texts"]
    broken["configurations"][0]["cold"]["rtf"] = "fast"
    errors = "\n".join(schema_errors(broken))
    assert "$.configurations[0].cold: missing 'texts'" in errors
    assert "$.configurations[0].cold.rtf: expected number or null" in errors


def test_chart_is_a_png_of_the_expected_size(cli_report):
    _, paths = cli_report
    data = paths["png"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR follows the signature
    assert width >= 600 and height >= 400
    import matplotlib.image

    assert matplotlib.image.imread(paths["png"]).shape[:2] == (height, width)


def test_compare_prints_machines_and_ratios(cli_report, tmp_path, capsys):
    report, paths = cli_report
    faster = copy.deepcopy(report)
    faster["machine"]["cpu_model"] = "Other CPU"
    row = next(r for r in faster["configurations"] if r["status"] == "ok")
    row["rtf"] /= 2
    (tmp_path / "b.json").write_text(json.dumps(faster))
    assert main(["profile", "--compare", str(paths["json"]), str(tmp_path / "b.json")]) == 0
    printed = capsys.readouterr().out
    assert "Other CPU" in printed and report["machine"]["cpu_model"] in printed
    rtf_line = next(line for line in printed.splitlines() if line.startswith(row["name"]))
    assert rtf_line.split()[1] == "RTF" and rtf_line.split()[-1] == "0.500"
    assert "encoder p50 ms" in printed
    assert compare_reports(report, report).count("1.000") >= 5


# --- pieces -------------------------------------------------------------------------------------------

def test_schema_errors_name_the_broken_field(cli_report):
    report, _ = cli_report
    broken = copy.deepcopy(report)
    del broken["machine"]["cpu_flags"]
    broken["configurations"][0]["threads"] = True  # a bool is not a JSON integer
    broken["configurations"][0]["stages_ms"]["encoder"]["p50"] = -1.0
    broken["schema_version"] = 99
    errors = "\n".join(schema_errors(broken))
    assert "$.machine: missing 'cpu_flags'" in errors
    assert "$.configurations[0].threads: expected integer" in errors
    assert "$.configurations[0].stages_ms.encoder.p50: -1.0 is below the minimum" in errors
    assert "$.schema_version: 99 is not one of [1]" in errors


def test_schema_is_valid_json_schema(cli_report):
    jsonschema = pytest.importorskip("jsonschema", reason="optional cross-check; the built-in validator is tested")
    from voxport.tools.profiling.schema import REPORT_SCHEMA

    jsonschema.validate(cli_report[0], REPORT_SCHEMA)


def test_missing_piper_file_is_reported_not_fatal(tiny_bundle, tmp_path):
    from voxport.tools.profiling import profile

    report = profile(tiny_bundle, threads=[1], texts=LONG_TEXTS[:1], runs=1, warmup=0, passes=1,
                     piper=tmp_path / "gone.onnx", isolate=False, progress=False)
    assert report["baseline"]["status"] == "not_found" and "gone.onnx" in report["baseline"]["note"]
    assert report["baseline"]["rows"] == []
    [row] = report["configurations"]
    assert row["status"] == "ok" and row["vs_baseline"] is None and row["rss_scope"] == "process"
    assert row["stages_ms"]["encoder"]["spread"] is None  # one pass: nothing to compare
    assert schema_errors(report) == []
    assert "gone.onnx" in to_markdown(report)


def test_baseline_only_for_piper_bundles(tmp_path):
    found = resolve_piper_file({"kind": "checkpoint"}, None)
    assert found.status == "not_applicable" and found.path is None
    missing = resolve_piper_file({"kind": "piper", "file": "x.onnx", "origin": str(tmp_path / "x.onnx")}, None)
    assert missing.status == "not_found" and "x.onnx" in missing.note
    (tmp_path / "x.onnx").write_bytes(b"not the original")
    changed = resolve_piper_file({"kind": "piper", "origin": str(tmp_path / "x.onnx"), "sha256": "0" * 64}, None)
    assert changed.status == "ok" and "WARNING" in changed.note


def test_spread_and_choices():
    assert relative_spread([10.0]) is None
    assert relative_spread([10.0, 11.0]) == pytest.approx(1.0 / 10.5)
    assert parse_choice("cpu") == "cpu"
    assert parse_choice("encoder=cpu;default=openvino") == {"encoder": "cpu", "default": "openvino"}
    assert Configuration({"encoder": "cpu", "default": "openvino"}, "fp32", 2).name == \
        "encoder=cpu;default=openvino/fp32/t2"


def test_progress_line_prints_one_line_per_step_off_a_terminal():
    stream = io.StringIO()
    bar = ProgressLine(2, stream=stream)
    bar.start_step("cpu/fp32/t1 pass 1/1")
    bar.update(3, 6)
    bar.end_step()
    bar.close()
    assert stream.getvalue() == "voxport profile: [1/2] cpu/fp32/t1 pass 1/1\n"


def test_plot_without_matplotlib_says_what_to_install(tiny_bundle, monkeypatch, capsys, tmp_path):
    import voxport.cli.profile as profile_cli

    monkeypatch.setattr(profile_cli, "find_spec", lambda name: None)
    assert main(["profile", "--bundle", str(tiny_bundle), "--plot", str(tmp_path / "x.png")]) == 2
    assert "pip install 'voxport[profile]'" in capsys.readouterr().err


def test_example_runs(tiny_bundle, tmp_path):
    pytest.importorskip("matplotlib", reason="the example also draws the chart")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "latency_profile.py"), "--bundle", str(tiny_bundle),
         "--threads", "1", "--runs", "1", "--passes", "1", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "onnxruntime/fp32/t1: first audio after" in done.stdout
    assert (tmp_path / "latency_profile.json").is_file() and (tmp_path / "latency_profile.png").is_file()



def test_markdown_warns_when_passes_disagree(cli_report):
    quiet = copy.deepcopy(cli_report[0])
    rows = [r for r in [*quiet["baseline"]["rows"], *quiet["configurations"]] if r["status"] == "ok"]
    for r in rows:
        r["end_to_end_ms"]["spread"] = 0.01
    assert "**Warning:**" not in to_markdown(quiet)
    rows[-1]["end_to_end_ms"]["spread"] = 0.5
    assert f"**Warning:** the passes of `{rows[-1]['name']}` disagree by 50%" in to_markdown(quiet)
