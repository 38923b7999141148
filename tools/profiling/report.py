"""A profile report as a file: JSON (the record) and Markdown (what a person reads, printed by the CLI)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voxport.tools.profiling.plan import stage_order
from voxport.tools.profiling.schema import validate_report

Row = dict[str, Any]


def save_json(report: dict[str, Any], path: str | Path) -> Path:
    validate_report(report)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def load_json(path: str | Path) -> dict[str, Any]:
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    validate_report(report)
    return report


def all_rows(report: dict[str, Any]) -> list[Row]:
    """Baseline rows first, then the configurations, in matrix order."""
    return [*report["baseline"].get("rows", []), *report["configurations"]]


def fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _one_line(text: str | None, limit: int = 400) -> str:
    """Runtime errors span lines (OpenVINO's quote C++ sources); a list item must not."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def machine_line(machine: dict[str, Any]) -> str:
    gpus = ", ".join(g["name"] for g in machine["gpus"]) or "none"
    flags = " ".join(f for f in machine["cpu_flags"] if f.startswith(("avx512", "amx", "avx2", "avx_vnni"))) or "-"
    return (f"{machine['cpu_model']} ({machine['physical_cores']} physical / {machine['logical_cores']} logical "
            f"cores, {machine.get('usable_cores')} usable), {machine['memory_gib']} GiB, GPU: {gpus}; "
            f"{machine['os']}; {machine['python']}; flags: {flags}")


def versions_line(versions: dict[str, str | None]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items())


def _at(row: Row, *path: str) -> Any:
    """row[path[0]][path[1]]..., or None where a row stopped early has no such figure."""
    value: Any = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _mb(value: float | None) -> float | None:
    return None if value is None else value / 1e6


# Summary columns: header -> (value from a row, format). Ratios are row / baseline with equal threads.
# "cold" = sentences the process speaks for the first time; the other figures repeat the same texts.
_SUMMARY: list[tuple[str, Callable[[Row], float | None], Callable[[float | None], str]]] = [
    ("RTF", lambda r: r.get("rtf"), lambda v: fmt(v, 4)),
    ("RTF × base", lambda r: _at(r, "vs_baseline", "rtf"), lambda v: fmt(v, 3)),
    ("cold RTF", lambda r: _at(r, "cold", "rtf"), lambda v: fmt(v, 4)),
    ("cold RTF × base", lambda r: _at(r, "vs_baseline", "cold_rtf"), lambda v: fmt(v, 3)),
    ("cold/warm", lambda r: _at(r, "cold", "cold_over_warm"), lambda v: fmt(v, 3)),
    ("TTFA p50 ms", lambda r: _at(r, "ttfa_ms", "p50"), lambda v: fmt(v, 2)),
    ("TTFA × base", lambda r: _at(r, "vs_baseline", "ttfa_p50"), lambda v: fmt(v, 3)),
    ("cold TTFA p50 ms", lambda r: _at(r, "cold", "ttfa_ms", "p50"), lambda v: fmt(v, 2)),
    ("cold TTFA p90 ms", lambda r: _at(r, "cold", "ttfa_ms", "p90"), lambda v: fmt(v, 2)),
    ("TTFA other ms", lambda r: r.get("ttfa_other_ms"), lambda v: fmt(v, 2)),
    ("e2e p50 ms", lambda r: _at(r, "end_to_end_ms", "p50"), lambda v: fmt(v, 2)),
    ("e2e spread %", lambda r: _at(r, "end_to_end_ms", "spread"), _pct),
    ("stages/e2e", lambda r: r.get("stage_sum_ratio"), lambda v: fmt(v, 3)),
    ("load ms", lambda r: r.get("load_ms"), lambda v: fmt(v, 1)),
    ("first call ms", lambda r: r.get("first_call_ms"), lambda v: fmt(v, 1)),
    ("peak RSS MB", lambda r: r.get("peak_rss_mb"), lambda v: fmt(v, 1)),
    ("size MB", lambda r: _mb(r.get("bundle_bytes")), lambda v: fmt(v, 2)),
]


def measured(row: Row) -> bool:
    """Rows with figures to show: complete ones, and those stopped early that measured something."""
    return row["status"] == "ok" or "rtf" in row or "cold" in row


def _table(headers: list[str], lines: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return out + ["| " + " | ".join(cells) + " |" for cells in lines]


def summary_table(report: dict[str, Any]) -> list[str]:
    lines = [[row["name"], row["kind"], row["status"], *(show(get(row)) for _, get, show in _SUMMARY)]
             for row in all_rows(report) if measured(row)]
    return _table(["configuration", "kind", "status", *(h for h, _, _ in _SUMMARY)], lines)


def stage_p50_table(report: dict[str, Any]) -> list[str]:
    rows = [r for r in all_rows(report) if "stages_ms" in r]
    stages = stage_order({s for r in rows for s in r["stages_ms"]})
    lines = [[r["name"], *(fmt(r["stages_ms"][s]["p50"], 2) if s in r["stages_ms"] else "–" for s in stages),
              fmt(r["end_to_end_ms"]["p50"], 2)] for r in rows]
    return _table(["configuration", *stages, "end-to-end"], lines)


def percentile_table(report: dict[str, Any]) -> list[str]:
    """Per stage p50/p90/p99, the backend's own time (Session.stats) and the spread between passes."""
    lines = []
    for row in all_rows(report):
        if "stages_ms" not in row:
            continue
        entries = [(s, row["stages_ms"][s], row["graph_ms"].get(s)) for s in stage_order(row["stages_ms"])]
        entries += [("end_to_end", row["end_to_end_ms"], None), ("ttfa", row["ttfa_ms"], None)]
        for stage, dist, graph in entries:
            lines.append([row["name"], stage, fmt(dist["p50"], 3), fmt(dist["p90"], 3), fmt(dist["p99"], 3),
                          fmt(graph["p50"], 3) if graph else "–", _pct(dist["spread"])])
    return _table(["configuration", "stage", "p50", "p90", "p99", "graph p50", "spread %"], lines)


def per_call_table(report: dict[str, Any]) -> list[str]:
    """Stages called more than once per sentence (a decoder loop's steps, NAR passes, windowed vocoder
    calls): mean graph time per call, from the graph timers and call counts; [] when every stage runs once."""
    lines = []
    for r in all_rows(report):
        calls, graph = r.get("graph_calls_per_text") or {}, r.get("graph_ms") or {}
        for stage, n in calls.items():
            if n > 1 and stage in graph and "mean" in graph[stage]:
                lines.append([r["name"], stage, fmt(n, 1), fmt(graph[stage]["mean"] / n, 3)])
    if not lines:
        return []
    return ["", "## Stages called more than once per sentence (graph ms per call)", "",
            *_table(["configuration", "stage", "calls/text", "mean ms per call"], lines)]


def decoder_step_table(report: dict[str, Any]) -> list[str]:
    """An autoregressive voice's per-step decoder latency; [] for the flow families."""
    rows = [r for r in all_rows(report) if "decoder_step_ms" in r]
    if not rows:
        return []
    forced = report["settings"].get("decoder_steps")
    note = (f"Every sentence ran exactly {forced} decoder steps (--decoder-steps: the gate was ignored, as "
            "random weights stop at random points)." if forced else "Steps ended by the stop gate (or the cap).")
    lines = [[r["name"], fmt(d["steps_per_text"], 1), fmt(d["steps_per_audio_s"], 1), fmt(d["mean"], 3),
              fmt(d["p50"], 3), fmt(d["p90"], 3), fmt(d["p99"], 3)] for r in rows for d in [r["decoder_step_ms"]]]
    return ["", "## Decoder steps (ms per step)", "", note, "",
            *_table(["configuration", "steps/text", "steps per audio s", "mean", "p50", "p90", "p99"], lines)]


NOISY_SPREAD = 0.2


def _noise_warning(report: dict[str, Any]) -> list[str]:
    """Say it when passes disagree a lot: the numbers then describe the machine's load, not the model."""
    spreads = [(r["end_to_end_ms"]["spread"], r["name"]) for r in all_rows(report)
               if r["status"] == "ok" and r["end_to_end_ms"]["spread"] is not None]
    worst = max(spreads, default=None)
    if worst is None or worst[0] <= NOISY_SPREAD:
        return []
    return ["", f"**Warning:** the passes of `{worst[1]}` disagree by {100 * worst[0]:.0f}% (end-to-end p50): "
                "other work was probably sharing the cores. Rerun on an idle machine, or with more --runs."]


def _cold_counts(settings: dict[str, Any]) -> str:
    cold = settings.get("cold") or {}
    limit = settings.get("timeout_s")
    counts = f"{len(cold.get('texts', []))} for RTF, {len(cold.get('short', []))} short ones for TTFA"
    where = "per process" if settings.get("isolated", True) else "per configuration and pass, checked between texts"
    return counts + (f"; time limit {limit:g} s {where}" if limit else "")


def to_markdown(report: dict[str, Any]) -> str:
    s, b, base = report["settings"], report["bundle"], report["baseline"]
    out = [
        f"# voxport profile: {b['name']} ({b['family']}, {b['size_bytes'] / 1e6:.1f} MB on disk)",
        "",
        f"- machine: {machine_line(report['machine'])}",
        f"- versions: {versions_line(report['versions'])}",
        f"- settings: {len(s['texts'])} texts × {s['runs']} runs × {s['passes']} passes "
        f"({s['warmup']} warm-up), seed {s['seed']}, scales {s['scales']}, "
        f"{'one process per configuration and pass' if s['isolated'] else 'in one process'}; "
        f"created {report['created_utc']}; 1-min load average before/after the run: "
        f"{report['conditions']['load_average_1m']}",
        f"- baseline (original Piper graph, onnxruntime): {base['note']}",
        "",
        "RTF = compute time / audio time. TTFA = time to first audio of `voice.stream`. × base = ratio to the "
        "baseline with the same threads (< 1 is faster). spread = (max − min) / median of the pass medians. "
        "TTFA other = mean time to first audio spent outside the stages (word timestamps). "
        "stages/e2e = sum of stage timers over end-to-end time. cold = corpus sentences the process speaks "
        f"for the first time ({_cold_counts(s)}); cold/warm = their RTF over the RTF of the same sentences "
        "spoken again; the other figures repeat the same texts (warm). A row stopped at the time limit "
        "(status timeout) shows what it measured before.",
        *_noise_warning(report),
        "",
        "## Summary",
        "",
        *summary_table(report),
        "",
        "## Stage p50 (ms)",
        "",
        *stage_p50_table(report),
        "",
        "## Stage percentiles (ms) and repeat spread",
        "",
        *percentile_table(report),
        *decoder_step_table(report),
        *per_call_table(report),
    ]
    problems = [r for r in all_rows(report) if r["status"] != "ok"]
    if problems:
        out += ["", "## Skipped or failed", ""]
        out += [f"- `{r['name']}` ({r['status']}): {_one_line(r['error'])}" for r in problems]
    return "\n".join(out) + "\n"

