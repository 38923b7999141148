"""Running a profile: the matrix and its baselines, pass after pass, each in its own process, into one report.

Passes alternate over the configurations (A B C, A B C) so that drift of a shared machine hits all of
them alike, and the difference between passes is reported as each statistic's spread. Each pass runs
under a time limit (child.run_child; in-process, checked between texts: measure.Deadline); one that
exceeds it is reported with status "timeout" and the statistics of what it measured before it was
stopped, and the other configurations still run.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from voxport.pipeline.precision import DEFAULT_PRECISION, DEFAULT_RUNTIME
from voxport.tools.profiling.baseline import resolve_piper_file
from voxport.tools.profiling.child import Recorder, run_child
from voxport.tools.profiling.cold import draw_cold_sets
from voxport.tools.profiling.machine import library_versions, load_average, machine_info
from voxport.tools.profiling.measure import measure_job
from voxport.tools.profiling.plan import (
    Choice,
    Configuration,
    build_matrix,
    default_texts,
    parse_choice,
    unavailable_reason,
)
from voxport.tools.profiling.plan import baseline_job as make_baseline_job
from voxport.tools.profiling.plan import split_job as make_split_job
from voxport.tools.profiling.progress import ProgressLine
from voxport.tools.profiling.schema import SCHEMA_VERSION
from voxport.tools.profiling.stats import summarize
from voxport.tools.profiling.worker import PROGRESS

# Per process (configuration and pass): far above a normal pass on a small CPU (tens of seconds), far
# below a precision the device emulates (OpenVINO fp16 without native fp16: minutes per sentence).
DEFAULT_TIMEOUT_S = 300.0


def profile(
    bundle: str | Path | None = None,
    *,
    runtimes: Sequence[Choice] = (DEFAULT_RUNTIME,),
    precisions: Sequence[Choice] = (DEFAULT_PRECISION,),
    threads: Sequence[int] | None = None,
    texts: Sequence[str] | None = None,
    runs: int = 5,
    warmup: int = 1,
    passes: int = 2,
    seed: int = 0,
    piper: str | Path | None = None,
    baseline: bool = True,
    isolate: bool = True,
    progress: bool = True,
    cold: int = 8,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    decoder_steps: int | None = None,
) -> dict[str, Any]:
    """Profile every runtime × precision × threads configuration of a bundle on the same texts (default:
    four built-in ones in the voice's language, plan.default_texts).

    Returns the report as a JSON-ready dict (see voxport.tools.profiling.schema). `runtimes`/`precisions`
    items are names or per-stage mappings (`{"decoder": "openvino", "default": "onnxruntime"}`); `threads`
    defaults to the usable physical cores. Each configuration is loaded `passes` times (in a fresh
    process each time when `isolate`), warmed up with `warmup` rounds over the texts, then timed
    `runs` rounds. A configuration that cannot run is reported with status "skipped" and its error.

    Before the warm-up each process speaks `cold` corpus sentences new to it, in the voice's language
    (and `cold` short ones through `voice.stream`), then the same sentences again: the row's "cold"
    section (0: off).
    `timeout` limits each configuration and pass in seconds (None: no limit): an isolated process is
    stopped at it; in-process (`isolate` False) the clock is checked between texts, so no new text is
    timed past it but a single long call is not cut short. Either way the row says "timeout" and keeps
    what was measured.
    `decoder_steps` makes an autoregressive (Tacotron2) voice run exactly that many decoder steps per
    sentence, the stop gate ignored: random weights stop at random points, a benchmark must not.
    """
    from voxport.bundle import Bundle
    from voxport.bundle.default_voice import ensure_default_bundle
    from voxport.runtimes import physical_core_count

    _check_counts(runs, warmup, passes, cold, decoder_steps)
    bundle_path = Path(bundle) if bundle is not None else ensure_default_bundle(progress=progress)
    loaded = Bundle.load(bundle_path, verify=False)
    language = loaded.manifest.language()  # the built-in texts and the cold sentences are in the voice's language
    texts = list(texts or default_texts(language))
    thread_counts = list(dict.fromkeys(threads or [physical_core_count()]))
    configs = build_matrix([_choice(r) for r in runtimes], [_choice(p) for p in precisions], thread_counts)

    found = resolve_piper_file(loaded.manifest.source, piper)
    piper_path = str(found.path) if baseline and found.path is not None else None
    cold_texts, cold_short = draw_cold_sets(cold, cold, exclude=texts, seed=seed, language=language)
    rows, jobs = _plan_jobs(configs, piper_path, thread_counts, str(loaded.root), texts, runs, warmup, seed,
                            decoder_steps)
    for job in jobs:  # the same cold sentences for every configuration, each new to its process
        job["cold"] = {"texts": cold_texts, "short": cold_short}
    settings = {"runs": runs, "warmup": warmup, "passes": passes, "seed": seed, "isolated": isolate, "texts": texts,
                "scales": loaded.manifest.inference.to_dict(), "cold": {"texts": cold_texts, "short": cold_short},
                "timeout_s": timeout, "decoder_steps": decoder_steps, "language": language}
    load_start = load_average()
    _fill_rows(rows, _run_passes(jobs, passes, isolate, progress, timeout), isolate)
    base_names = [job["name"] for job in jobs if job["kind"] == "baseline"]
    _add_ratios(rows, base_names)
    return _report(loaded, settings, [load_start, load_average()], _baseline_info(found, baseline, rows, base_names),
                   [_clean(rows[name]) for name in dict.fromkeys(c.name for c in configs)])


def _baseline_info(found: Any, baseline: bool, rows: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {"status": found.status if baseline else "not_applicable",
            "file": str(found.path) if found.path else None,
            "note": found.note if baseline else "not applicable: baseline turned off",
            "rows": [_clean(rows[n]) for n in names]}


def _check_counts(runs: int, warmup: int, passes: int, cold: int, decoder_steps: int | None) -> None:
    if decoder_steps is not None and decoder_steps < 1:
        raise ValueError(f"decoder_steps must be >= 1, got {decoder_steps}")
    if runs < 1 or warmup < 0 or passes < 1 or cold < 0:
        raise ValueError(f"need runs >= 1, warmup >= 0, passes >= 1, cold >= 0 (got {runs}, {warmup}, {passes}, "
                         f"{cold})")


def _report(loaded: Any, settings: dict[str, Any], load_averages: list[Any], baseline: dict[str, Any],
            configurations: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's JSON-ready dict (voxport.tools.profiling.schema)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": library_versions(),
        "conditions": {"load_average_1m": load_averages},
        "bundle": _bundle_info(loaded),
        "settings": settings,
        "baseline": baseline,
        "configurations": configurations,
    }


def _plan_jobs(
    configs: list[Configuration], piper: str | None, thread_counts: list[int], bundle: str, texts: list[str],
    runs: int, warmup: int, seed: int, decoder_steps: int | None = None,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """A report row per configuration and baseline, and the jobs to measure them (baselines first).
    A runtime that is not installed is skipped here, without starting a process for it."""
    rows: dict[str, dict[str, Any]] = {}
    jobs: list[dict[str, Any]] = []
    for n in thread_counts if piper else []:
        job = make_baseline_job(piper, bundle, n, texts, runs, warmup)
        rows[job["name"]] = _row(job["name"], "baseline", job["runtime"], job["precision"], n)
        jobs.append(job)
    for config in configs:
        if config.name in rows:  # the same item given twice
            continue
        rows[config.name] = _row(config.name, "split", config.runtime, config.precision, config.threads)
        reason = unavailable_reason(config.runtime)
        if reason is not None:
            rows[config.name].update(status="skipped", error=reason)
        else:
            jobs.append(make_split_job(config, bundle, texts, runs, warmup, seed, decoder_steps))
    return rows, jobs


def _run_passes(
    jobs: list[dict[str, Any]], passes: int, isolate: bool, progress: bool, timeout: float | None
) -> dict[str, list[Any]]:
    """Every job once per pass, alternating (A B C, A B C); a job that could not run, or ran out of
    time, is not run again."""
    bar = ProgressLine(len(jobs) * passes, enabled=progress)
    results: dict[str, list[dict[str, Any]]] = {job["name"]: [] for job in jobs}
    try:
        for pass_index in range(passes):
            for job in jobs:
                name = job["name"]
                if results[name] and results[name][-1]["status"] != "ok":
                    bar.end_step()  # once is enough to say why
                    continue
                bar.start_step(f"{name} pass {pass_index + 1}/{passes}")
                results[name].append(_execute(job, isolate, bar, timeout))
                bar.end_step()
    finally:
        bar.close()
    return results


def _fill_rows(rows: dict[str, dict[str, Any]], results: dict[str, list[Any]], isolate: bool) -> None:
    """Each row's statistics from every pass that measured something, and the status and error of its
    first pass that did not end well (a timed-out pass keeps what it measured)."""
    for name, outcome in results.items():
        failed = next((r for r in outcome if r["status"] != "ok"), None)
        if failed is not None:
            rows[name].update(status=failed["status"], error=failed["error"])
        measured = [r for r in outcome if r["status"] == "ok" or (r["status"] in PARTIAL and _measured(r))]
        if measured:
            rows[name].update(summarize(measured), rss_scope="isolated" if isolate else "process")


PARTIAL = ("failed", "timeout")  # statuses whose results may still hold samples


def _measured(result: dict[str, Any]) -> bool:
    return any(result.get(key) for key in ("samples", "cold", "cold_ttfa"))


def _choice(value: Choice) -> Choice:
    return parse_choice(value) if isinstance(value, str) else dict(value)


def _row(name: str, kind: str, runtime: Choice, precision: Choice, threads: int) -> dict[str, Any]:
    return {"name": name, "kind": kind, "runtime": runtime, "precision": precision, "threads": threads,
            "status": "ok", "error": None}


def _execute(job: dict[str, Any], isolate: bool, bar: ProgressLine, timeout: float | None) -> dict[str, Any]:
    if not isolate:
        return measure_job(job, Recorder(), bar.update, timeout)

    def on_stderr(line: str) -> bool:
        if not line.startswith(PROGRESS):
            return False
        done, total = line.split()[1:3]
        bar.update(int(done), int(total))
        return True

    with tempfile.TemporaryDirectory(prefix="voxport-profile-") as tmp:
        job_path = Path(tmp) / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        outcome = run_child(worker_command(job_path), timeout, on_stderr=on_stderr)
    return {**outcome.result, "status": outcome.status, "error": outcome.error}


def worker_command(job_path: Path) -> list[str]:
    """The measuring process for one job (a test replaces it with a worker that sleeps)."""
    return [sys.executable, "-m", "voxport.tools.profiling.worker", str(job_path)]


def _add_ratios(rows: dict[str, dict[str, Any]], base_names: Iterable[str]) -> None:
    """Each measured split row against the baseline with its thread count: > 1 means slower than the
    monolith; warm figures against warm, cold against cold."""
    bases = {rows[n]["threads"]: rows[n] for n in base_names if rows[n]["status"] == "ok"}
    for row in rows.values():
        if row["kind"] != "split" or not _has_measurements(row):
            continue
        base = bases.get(row["threads"])
        if base is None:
            row["vs_baseline"] = None
            continue
        cold, base_cold = row.get("cold", {}), base.get("cold", {})
        row["vs_baseline"] = {
            "baseline": base["name"],
            "rtf": _ratio(row.get("rtf"), base.get("rtf")),
            "ttfa_p50": _ratio(_p50(row.get("ttfa_ms")), _p50(base.get("ttfa_ms"))),
            "end_to_end_p50": _ratio(_p50(row.get("end_to_end_ms")), _p50(base.get("end_to_end_ms"))),
            "cold_rtf": _ratio(cold.get("rtf"), base_cold.get("rtf")),
            "cold_ttfa_p50": _ratio(_p50(cold.get("ttfa_ms")), _p50(base_cold.get("ttfa_ms"))),
        }


def _has_measurements(row: dict[str, Any]) -> bool:
    return "rtf" in row or "cold" in row


def _p50(distribution: dict[str, Any] | None) -> float | None:
    return None if distribution is None else distribution["p50"]


def _ratio(a: float | None, b: float | None) -> float:
    return a / b if a is not None and b else float("nan")


def _clean(value: Any) -> Any:
    """NaN (no audio, no baseline time) becomes null: the report must be strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _bundle_info(bundle: Any) -> dict[str, Any]:
    m = bundle.manifest
    return {"path": str(bundle.root), "name": m.name, "family": m.family, "source_kind": m.source.get("kind"),
            "size_bytes": _bundle_bytes(bundle)}


def _bundle_bytes(bundle: Any) -> int:
    sizes = {v.file: v.size for g in bundle.manifest.graphs.values() for v in g.variants.values()}
    return sum(sizes.values()) + bundle.manifest_path.stat().st_size
