"""The per-stage breakdown as a PNG: one stacked bar of stage p50s per configuration, baselines hatched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voxport.tools.profiling.plan import stage_order
from voxport.tools.profiling.report import all_rows

MISSING_MATPLOTLIB = "the profile chart needs matplotlib: pip install 'voxport[profile]'"


class ChartUnavailableError(RuntimeError):
    pass


def save_chart(report: dict[str, Any], path: str | Path) -> Path:
    """Write the chart; raises ChartUnavailableError when matplotlib is missing or nothing ran."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never needs a display
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise ChartUnavailableError(f"{MISSING_MATPLOTLIB} ({exc})") from exc
    rows = [r for r in all_rows(report) if r["status"] == "ok"]
    if not rows:
        raise ChartUnavailableError("no configuration ran, so there is nothing to chart")
    stages = stage_order({s for r in rows for s in r["stages_ms"]})
    colors = dict(zip(stages, plt.get_cmap("tab10").colors, strict=False))

    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 2.5), 4.8), dpi=100)
    positions = range(len(rows))
    bottoms = [0.0] * len(rows)
    for stage in stages:
        heights = [r["stages_ms"].get(stage, {}).get("p50", 0.0) for r in rows]
        bars = ax.bar(positions, heights, bottom=bottoms, color=colors[stage], edgecolor="white")
        for bar, row in zip(bars, rows, strict=True):
            if row["kind"] == "baseline":
                bar.set_hatch("//")
                bar.set_edgecolor("black")
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for x, (row, top) in enumerate(zip(rows, bottoms, strict=True)):
        label = f"RTF {row['rtf']:.3f}" if row.get("rtf") is not None else ""
        ratio = (row.get("vs_baseline") or {}).get("rtf")
        if ratio is not None:
            label += f"\n×{ratio:.2f} base"
        ax.annotate(label, (x, top), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")
    names = [("BASELINE\n" if r["kind"] == "baseline" else "") + r["name"].replace("/", "\n", 1) for r in rows]
    ax.set_xticks(list(positions), names, fontsize=8)
    ax.set_ylabel("stage p50 per text (ms)")
    machine = report["machine"]
    ax.set_title(f"{report['bundle']['name']} on {machine['cpu_model']} "
                 f"({machine['physical_cores']} cores)", fontsize=9)
    # Handles built by hand: a bar container's own handle would copy the hatch of a baseline bar.
    handles = [Patch(facecolor=colors[s], label=s) for s in stages]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label="baseline"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylim(0, 1.2 * max(bottoms) if max(bottoms) > 0 else 1.0)  # room for the labels above the bars
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
