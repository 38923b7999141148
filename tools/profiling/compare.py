"""Two reports side by side (`voxport profile --compare a.json b.json`): the machines, then for each
configuration both ran, RTF, TTFA and stage p50s with the ratio b / a (< 1: b is faster)."""

from __future__ import annotations

from typing import Any

from voxport.tools.profiling.plan import stage_order
from voxport.tools.profiling.report import all_rows, machine_line, versions_line


def _ratio(a: float | None, b: float | None) -> str:
    return f"{b / a:.3f}" if a and b is not None else "–"


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def compare_reports(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str] = ("a", "b")) -> str:
    """The comparison as text; `names` (e.g. the two file names) label the reports in its header."""
    out = []
    for label, name, report in (("a", names[0], a), ("b", names[1], b)):
        load = report.get("conditions", {}).get("load_average_1m")
        out += [f"{label} = {name} ({report['created_utc']}; 1-min load average at start/end: {load})",
                f"    {machine_line(report['machine'])}", f"    {versions_line(report['versions'])}"]
    na, nb = "a", "b"
    machine_keys = ["cpu_model", "physical_cores", "logical_cores", "usable_cores", "memory_gib", "os", "python"]
    width = max(len(k) for k in machine_keys) + 2
    out += ["", f"{'machine':<{width}} {na:<44} {nb}"]
    for key in machine_keys:
        out.append(f"{key:<{width}} {str(a['machine'].get(key)):<44} {b['machine'].get(key)}")
    flags_a, flags_b = set(a["machine"]["cpu_flags"]), set(b["machine"]["cpu_flags"])
    out.append(f"{'cpu flags':<{width}} only {na}: {' '.join(sorted(flags_a - flags_b)) or '-'}; "
               f"only {nb}: {' '.join(sorted(flags_b - flags_a)) or '-'}")
    out.append(f"{'bundle':<{width}} {a['bundle']['name']:<44} {b['bundle']['name']}")

    rows_a = {r["name"]: r for r in all_rows(a) if r["status"] == "ok"}
    rows_b = {r["name"]: r for r in all_rows(b) if r["status"] == "ok"}
    out += ["", f"{'configuration':<36} {'metric':<24} {na:>10} {nb:>10} {'b/a':>7}"]
    for name in [n for n in rows_a if n in rows_b]:
        ra, rb = rows_a[name], rows_b[name]
        metrics = [("RTF", ra.get("rtf"), rb.get("rtf"), 4),
                   ("cold RTF", ra.get("cold", {}).get("rtf"), rb.get("cold", {}).get("rtf"), 4),
                   ("TTFA p50 ms", ra["ttfa_ms"]["p50"], rb["ttfa_ms"]["p50"], 2),
                   ("end-to-end p50 ms", ra["end_to_end_ms"]["p50"], rb["end_to_end_ms"]["p50"], 2)]
        for stage in stage_order({*ra["stages_ms"], *rb["stages_ms"]}):
            pa, pb = (r["stages_ms"].get(stage, {}).get("p50") for r in (ra, rb))
            metrics.append((f"{stage} p50 ms", pa, pb, 3))
        for i, (metric, va, vb, digits) in enumerate(metrics):
            label = name if i == 0 else ""
            out.append(f"{label:<36} {metric:<24} {_num(va, digits):>10} {_num(vb, digits):>10} {_ratio(va, vb):>7}")
    for only, rows, other in ((na, rows_a, rows_b), (nb, rows_b, rows_a)):
        missing = [n for n in rows if n not in other]
        if missing:
            out.append(f"only in {only}: {', '.join(missing)}")
    return "\n".join(out) + "\n"
