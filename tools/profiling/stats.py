"""From raw samples (one list per pass) to a report row: percentiles, repeat spread, RTF, coverage."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from voxport.tools.profiling.plan import stage_order
from voxport.tools.timing import percentile

Pass = dict[str, Any]  # one measure_job result with status "ok"


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """A report's distribution: p50 / p90 / p99 (voxport.tools.timing.percentile) and the mean; all 0.0
    without values, so a section measured by no pass still has the report's shape."""
    if len(values) == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0}
    points = {f"p{q}": percentile(values, q) or 0.0 for q in (50, 90, 99)}
    return {**points, "mean": float(np.mean(np.asarray(values, np.float64)))}


def relative_spread(per_pass: Sequence[float]) -> float | None:
    """(max - min) / median of one statistic measured in each pass: how far two profiles of the same
    configuration on the same machine may be expected to disagree. None with a single pass."""
    if len(per_pass) < 2:
        return None
    middle = statistics.median(per_pass)
    return (max(per_pass) - min(per_pass)) / middle if middle > 0 else 0.0


def _distribution(per_pass: list[list[float]]) -> dict[str, Any]:
    pooled = [v for values in per_pass for v in values]
    medians = [float(np.median(values)) for values in per_pass if values]
    return {**percentiles(pooled), "spread": relative_spread(medians)}


def _stage_values(samples: list[dict[str, Any]], key: str, stage: str) -> list[float]:
    return [s[key].get(stage, 0.0) for s in samples]


def rtf(samples: list[dict[str, Any]]) -> float:
    """Compute time over audio time, totals over all samples (long texts weigh more, as in use)."""
    audio = sum(s["audio_s"] for s in samples)
    return sum(s["end_to_end_ms"] for s in samples) / 1000 / audio if audio else float("nan")


def stage_sum_ratio(samples: list[dict[str, Any]]) -> float:
    """Sum of the stage timers over the end-to-end time: 1.0 means every millisecond is attributed."""
    total = sum(s["end_to_end_ms"] for s in samples)
    return sum(sum(s["stages_ms"].values()) for s in samples) / total if total else float("nan")


def summarize(passes: list[Pass]) -> dict[str, Any]:
    """The measured fields of one report row from its passes (each one fresh load, same texts).

    A pass stopped early (time limit, error) contributes what it measured: a section appears when at
    least one pass has samples for it, a per-process figure when at least one pass reached it.
    """
    row: dict[str, Any] = {"passes": len(passes)}
    if any(p.get("samples") for p in passes):
        row.update(_warm_fields([p for p in passes if p.get("samples")]))
    cold = cold_fields(passes)
    if cold is not None:
        row["cold"] = cold
    for key, pick in (("load_ms", statistics.median), ("first_call_ms", statistics.median), ("peak_rss_mb", max)):
        values = [p[key] for p in passes if key in p]
        if values:
            row[key] = pick(values)
    sizes = [p["bundle_bytes"] for p in passes if "bundle_bytes" in p]
    if sizes:
        row["bundle_bytes"] = sizes[0]
    return row


def cold_fields(passes: list[Pass]) -> dict[str, Any] | None:
    """The "cold" section: sentences each process spoke for the first time ("cold"), their RTF when
    spoken again in the same process ("cold_warm"), and stream()'s time to first audio on short unseen
    sentences ("cold_ttfa"). cold_over_warm compares the same sentences, so it measures only what
    seeing a sentence (a shape) the first time costs."""
    cold = [p.get("cold", []) for p in passes]
    again = [s for p in passes for s in p.get("cold_warm", [])]
    ttfa = [p.get("cold_ttfa", []) for p in passes]
    if not any(cold) and not any(ttfa):
        return None
    first = [s for p in cold for s in p]
    section: dict[str, Any] = {"texts": max(len(p) for p in cold), "short_texts": max(len(p) for p in ttfa)}
    if first:
        section["rtf"] = rtf(first)
        section["end_to_end_ms"] = _distribution([[s["end_to_end_ms"] for s in p] for p in cold if p])
    if again:
        # Only the sentences spoken both times: a pass stopped in between has fewer repeats.
        spoken = {(i, s["text"]) for i, p in enumerate(passes) for s in p.get("cold_warm", [])}
        paired = [s for i, p in enumerate(passes) for s in p.get("cold", []) if (i, s["text"]) in spoken]
        section["rtf_warm"] = rtf(again)
        section["cold_over_warm"] = rtf(paired) / section["rtf_warm"] if section["rtf_warm"] else float("nan")
    if any(ttfa):
        section["ttfa_ms"] = _distribution([[t["ttfa_ms"] for t in p] for p in ttfa if p])
    return section


def decoder_step_fields(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """An autoregressive voice's decoder steps, pooled over the samples: per-step latency percentiles,
    steps per text and per second of audio (the loop's share of the work grows with both)."""
    steps = [ms for s in samples for ms in s.get("step_ms", ())]
    if not steps:
        return None
    audio = sum(s["audio_s"] for s in samples)
    return {**percentiles(steps), "steps_per_text": len(steps) / len(samples),
            "steps_per_audio_s": len(steps) / audio if audio else float("nan")}


def _warm_fields(passes: list[Pass]) -> dict[str, Any]:
    """Percentiles, RTF and coverage of the timed rounds over the job's texts (after the warm-up)."""
    per_pass = [p["samples"] for p in passes]
    samples = [s for p in per_pass for s in p]
    stages = stage_order({stage for s in samples for stage in s["stages_ms"]})
    graphs = stage_order({stage for s in samples for stage in s["graph_ms"]})
    ttfa = [p.get("ttfa", []) for p in passes]
    ttfa_all = [t for p in ttfa for t in p]
    steps = decoder_step_fields(samples)
    return {
        **({"decoder_step_ms": steps} if steps else {}),
        "samples": len(samples),
        "audio_s_per_text": float(np.mean([s["audio_s"] for s in samples])),
        "stages_ms": {st: _distribution([_stage_values(p, "stages_ms", st) for p in per_pass]) for st in stages},
        "graph_ms": {g: percentiles(_stage_values(samples, "graph_ms", g)) for g in graphs},
        "graph_calls_per_text": {g: sum(_stage_values(samples, "graph_calls", g)) / len(samples) for g in graphs},
        "end_to_end_ms": _distribution([[s["end_to_end_ms"] for s in p] for p in per_pass]),
        "ttfa_ms": _distribution([[t["ttfa_ms"] for t in p] for p in ttfa]),
        "ttfa_stages_ms": {
            st: float(np.mean([t["stages_ms"].get(st, 0.0) for t in ttfa_all]))
            for st in stage_order({st for t in ttfa_all for st in t["stages_ms"]})
        },
        # Graph calls made before the first chunk: more than one decoder/vocoder call means stream()
        # computed past the first window before handing it over.
        "ttfa_graph_calls": {
            g: float(np.mean([t.get("graph_calls", {}).get(g, 0) for t in ttfa_all]))
            for g in stage_order({g for t in ttfa_all for g in t.get("graph_calls", {})})
        },
        # Time to first audio not spent in any stage: on stream() that is mostly word-timestamp alignment.
        "ttfa_other_ms": float(np.mean([t["ttfa_ms"] - sum(t["stages_ms"].values()) for t in ttfa_all]))
        if ttfa_all else 0.0,
        "rtf": rtf(samples),
        "rtf_spread": relative_spread([rtf(p) for p in per_pass]),
        "stage_sum_ratio": stage_sum_ratio(samples),
    }
