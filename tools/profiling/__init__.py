"""Latency profiling on the target machine: per-stage percentiles, time to first audio, RTF, load time,
memory and size per runtime × precision × threads, against the original Piper graph.

    from voxport.tools.profiling import profile, to_markdown, save_json, save_chart
    report = profile("path/to/bundle", threads=[1, 2])     # a JSON-ready dict
    print(to_markdown(report))

The command line is `voxport profile` (voxport.cli.profile).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "SCHEMA_VERSION",
    "compare_reports",
    "load_json",
    "profile",
    "save_chart",
    "save_json",
    "schema_errors",
    "to_markdown",
    "validate_report",
]

if TYPE_CHECKING:
    from voxport.tools.profiling.chart import save_chart
    from voxport.tools.profiling.compare import compare_reports
    from voxport.tools.profiling.report import load_json, save_json, to_markdown
    from voxport.tools.profiling.runner import profile
    from voxport.tools.profiling.schema import SCHEMA_VERSION, schema_errors, validate_report

_WHERE = {
    "profile": "runner",
    "to_markdown": "report",
    "save_json": "report",
    "load_json": "report",
    "save_chart": "chart",
    "compare_reports": "compare",
    "SCHEMA_VERSION": "schema",
    "schema_errors": "schema",
    "validate_report": "schema",
}


def __getattr__(name: str) -> Any:
    # Lazy: `voxport --help` builds the profile parser and must not import numpy or onnxruntime for it.
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f"voxport.tools.profiling.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'voxport.tools.profiling' has no attribute {name!r}")
