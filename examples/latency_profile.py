"""Profiling latency from Python: what `voxport profile` does, as a function returning the report.

    python examples/latency_profile.py [--bundle DIR] [--threads 1,2] [--runs 5] [--out-dir out/]

Every configuration (here: onnxruntime at each thread count) speaks the same texts; the report holds
per-stage p50/p90/p99, time to first audio, RTF, load time, peak memory and size on disk, the original
Piper graph with the same threads as the baseline, and the machine it ran on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from voxport.tools.profiling import profile, save_chart, save_json, to_markdown

TEXTS = [
    "Your table for two is booked for seven thirty tonight.",
    "Turn left in three hundred meters, then keep right at the fork. Your destination is on the left.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle directory (default: the default voice)")
    parser.add_argument("--threads", default="1,2", help="thread counts to compare")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--out-dir", default="out")
    args = parser.parse_args()

    report = profile(
        args.bundle,
        runtimes=["onnxruntime"],
        precisions=["fp32"],
        threads=[int(n) for n in args.threads.split(",")],
        texts=TEXTS,
        runs=args.runs,
        passes=args.passes,
    )
    print(to_markdown(report))

    # The report is a plain dict: pick out what an application cares about.
    for row in report["configurations"]:
        if row["status"] != "ok":
            print(f"{row['name']}: {row['status']} ({row['error']})")
            continue
        vs = row["vs_baseline"] or {}
        print(f"{row['name']}: first audio after {row['ttfa_ms']['p50']:.0f} ms (p50), "
              f"{row['ttfa_ms']['p99']:.0f} ms (p99); RTF {row['rtf']:.3f} "
              f"({vs.get('rtf', float('nan')):.2f}× the original graph); peak RSS {row['peak_rss_mb']:.0f} MB")

    out = Path(args.out_dir)
    print(f"report: {save_json(report, out / 'latency_profile.json')}")
    try:
        print(f"chart:  {save_chart(report, out / 'latency_profile.png')}")
    except RuntimeError as exc:  # matplotlib is an optional extra
        print(f"no chart: {exc}")


if __name__ == "__main__":
    main()
