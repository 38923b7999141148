"""From raw samples (one list per pass) to a report row: percentiles, repeat spread, RTF, coverage."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from voxport.tools.profiling.plan import stage_order

Pass = dict[str, Any]  # one measure_job result with status "ok"


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 (linear interpolation: with few samples p99 is close to the maximum) and mean."""
    a = np.asarray(values, np.float64)
    if a.size == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(a.mean())}


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
    """The measured fields of one report row from its passes (each one fresh load, same texts)."""
    per_pass = [p["samples"] for p in passes]
    samples = [s for p in per_pass for s in p]
    stages = stage_order({stage for s in samples for stage in s["stages_ms"]})
    graphs = stage_order({stage for s in samples for stage in s["graph_ms"]})
    ttfa = [p["ttfa"] for p in passes]
    ttfa_all = [t for p in ttfa for t in p]
    return {
        "samples": len(samples),
        "passes": len(passes),
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
        "load_ms": statistics.median(p["load_ms"] for p in passes),
        "first_call_ms": statistics.median(p["first_call_ms"] for p in passes),
        "peak_rss_mb": max(p["peak_rss_mb"] for p in passes),
        "bundle_bytes": passes[0]["bundle_bytes"],
    }
