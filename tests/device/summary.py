"""The summary of a `make test-arm64` run, from what the device suite left in the shared folder.

    python tests/device/summary.py SHARED

Prints, per view of the arm64 root, what passed, what skipped and why, what failed, the audio measured
against the host's (metrics-VIEW.json) and how long each step took (timings.txt). Exits 1 when a view
failed or did not finish (a timeout: exit status 124), else 0.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

VIEWS = ("no-sys", "sys")


def outcomes(junit: Path) -> list[tuple[str, str, str]]:
    """(test, outcome, reason) for every test case in a JUnit XML report."""
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "?")
        outcome, reason = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[tag]
                reason = (found.get("message") or "").splitlines()[0] if found.get("message") else ""
                break
        rows.append((name, outcome, reason))
    return rows


def view_report(shared: Path, view: str) -> tuple[list[str], bool]:
    lines = [f"== view {view} =="]
    rc_file, junit = shared / f"rc-{view}", shared / f"junit-{view}.xml"
    rc = int(rc_file.read_text().strip()) if rc_file.exists() else None
    if rc is None:
        return lines + ["  did not run"], False
    if rc == 124:
        lines.append(f"  TIMED OUT (the view was stopped; see pytest-{view}.log)")
    if junit.exists():
        for name, outcome, reason in outcomes(junit):
            lines.append(f"  {outcome:8} {name}" + (f": {reason}" if reason else ""))
    else:
        lines.append(f"  no JUnit report (exit status {rc}); see pytest-{view}.log")
    metrics = shared / f"metrics-{view}.json"
    if metrics.exists():
        lines.append("  measured:")
        for key, value in json.loads(metrics.read_text(encoding="utf-8")).items():
            lines.append(f"    {key}: {json.dumps(value)}")
    return lines, rc == 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: summary.py SHARED", file=sys.stderr)
        return 2
    shared = Path(argv[0])
    ok = True
    for view in VIEWS:
        lines, passed = view_report(shared, view)
        ok = ok and passed
        print("\n".join(lines))
    timings = shared / "timings.txt"
    if timings.exists():
        print("== elapsed (s, from the start) ==")
        for line in timings.read_text(encoding="utf-8").splitlines():
            label, _, seconds = line.rpartition(" ")
            print(f"  {seconds:>6}  {label}")
    print("arm64 device suite: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
