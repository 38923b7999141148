"""The JSON report's schema, written in the subset of JSON Schema that `validate` understands.

The subset (type, required, properties, additionalProperties, items, enum, minimum) keeps the
checker small and dependency-free; the same dict is valid JSON Schema, so `jsonschema` accepts it too.
Bump SCHEMA_VERSION when a field changes meaning or disappears; adding optional fields does not.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1

_NUM = {"type": "number"}
_MS = {"type": "number", "minimum": 0}
_SPREAD = {"type": ["number", "null"], "minimum": 0}  # null: one pass, nothing to compare
_RATIO = {"type": ["number", "null"], "minimum": 0}  # null: undefined (no audio, no baseline time)
_STR_OR_NULL = {"type": ["string", "null"]}
_TEXTS = {"type": "array", "items": {"type": "string"}}
_CHOICE = {"type": ["string", "object"], "additionalProperties": {"type": "string"}}

_PERCENTILES = {
    "type": "object",
    "required": ["p50", "p90", "p99", "mean"],
    "properties": {"p50": _MS, "p90": _MS, "p99": _MS, "mean": _MS, "spread": _SPREAD},
}
_DISTRIBUTION = {**_PERCENTILES, "required": ["p50", "p90", "p99", "mean", "spread"]}

# Sentences each process spoke for the first time, beside the same sentences spoken again (measure_cold):
# a compiling backend pays for every new input shape, and real text is all new shapes.
_COLD = {
    "type": "object",
    "required": ["texts", "short_texts"],
    "properties": {
        "texts": {"type": "integer", "minimum": 0},
        "short_texts": {"type": "integer", "minimum": 0},
        "rtf": _RATIO,
        "rtf_warm": _RATIO,
        "cold_over_warm": _RATIO,
        "end_to_end_ms": _DISTRIBUTION,
        "ttfa_ms": _DISTRIBUTION,
    },
}

# An autoregressive voice's decoder steps: per-step latency and how many steps the audio took.
_DECODER_STEP = {
    **_PERCENTILES,
    "required": ["p50", "p90", "p99", "mean", "steps_per_text", "steps_per_audio_s"],
    "properties": {**_PERCENTILES["properties"], "steps_per_text": _MS, "steps_per_audio_s": _RATIO},
}

_ROW = {
    "type": "object",
    "required": ["name", "kind", "runtime", "precision", "threads", "status", "error"],
    "properties": {
        "name": {"type": "string"},
        "kind": {"enum": ["split", "baseline"]},
        "runtime": _CHOICE,
        "precision": _CHOICE,
        "threads": {"type": "integer", "minimum": 1},
        # timeout: stopped at the time limit; the row holds the statistics of what it measured before.
        "status": {"enum": ["ok", "skipped", "failed", "timeout"]},
        "error": _STR_OR_NULL,
        "samples": {"type": "integer", "minimum": 1},
        "passes": {"type": "integer", "minimum": 1},
        "audio_s_per_text": _MS,
        "stages_ms": {"type": "object", "additionalProperties": _DISTRIBUTION},
        "decoder_step_ms": _DECODER_STEP,
        "graph_ms": {"type": "object", "additionalProperties": _PERCENTILES},
        "graph_calls_per_text": {"type": "object", "additionalProperties": _MS},
        "end_to_end_ms": _DISTRIBUTION,
        "ttfa_ms": _DISTRIBUTION,
        "ttfa_stages_ms": {"type": "object", "additionalProperties": _MS},
        "ttfa_other_ms": _NUM,
        "ttfa_graph_calls": {"type": "object", "additionalProperties": _MS},
        "rtf": _RATIO,
        "rtf_spread": _SPREAD,
        "stage_sum_ratio": _RATIO,
        "load_ms": _MS,
        "first_call_ms": _MS,
        "peak_rss_mb": _MS,
        "rss_scope": {"enum": ["isolated", "process"]},
        "bundle_bytes": {"type": "integer", "minimum": 0},
        "cold": _COLD,
        "vs_baseline": {
            "type": ["object", "null"],
            "required": ["baseline", "rtf", "ttfa_p50", "end_to_end_p50"],
            "properties": {"baseline": {"type": "string"}, "rtf": _RATIO, "ttfa_p50": _RATIO, "end_to_end_p50": _RATIO,
                           "cold_rtf": _RATIO, "cold_ttfa_p50": _RATIO},
        },
    },
}

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "created_utc", "machine", "versions", "conditions", "bundle", "settings",
                 "baseline", "configurations"],
    "properties": {
        "schema_version": {"enum": [SCHEMA_VERSION]},
        "created_utc": {"type": "string"},
        "machine": {
            "type": "object",
            "required": ["cpu_model", "cpu_flags", "physical_cores", "logical_cores", "memory_gib", "gpus", "os",
                         "python"],
            "properties": {
                "cpu_model": {"type": "string"},
                "cpu_flags": {"type": "array", "items": {"type": "string"}},
                "physical_cores": {"type": ["integer", "null"]},
                "logical_cores": {"type": ["integer", "null"]},
                "usable_cores": {"type": ["integer", "null"]},
                "memory_gib": {"type": ["number", "null"]},
                "gpus": {"type": "array", "items": {"type": "object"}},
                "os": {"type": "string"},
                "python": {"type": "string"},
            },
        },
        "versions": {
            "type": "object",
            "required": ["voxport", "onnxruntime", "openvino", "tensorrt"],
            "additionalProperties": _STR_OR_NULL,
        },
        "conditions": {
            "type": "object",
            "required": ["load_average_1m"],
            "properties": {"load_average_1m": {"type": "array", "items": {"type": ["number", "null"]}}},
        },
        "bundle": {
            "type": "object",
            "required": ["path", "name", "family", "source_kind", "size_bytes"],
            "properties": {"path": {"type": "string"}, "name": {"type": "string"}, "family": {"type": "string"},
                           "source_kind": _STR_OR_NULL, "size_bytes": {"type": "integer", "minimum": 0}},
        },
        "settings": {
            "type": "object",
            "required": ["runs", "warmup", "passes", "seed", "isolated", "texts", "scales"],
            "properties": {
                "runs": {"type": "integer", "minimum": 1},
                "warmup": {"type": "integer", "minimum": 0},
                "passes": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer"},
                "isolated": {"type": "boolean"},
                "texts": {"type": "array", "items": {"type": "string"}},
                "scales": {"type": "object", "additionalProperties": _NUM},
                "cold": {"type": "object", "properties": {"texts": _TEXTS, "short": _TEXTS}},
                "timeout_s": {"type": ["number", "null"], "minimum": 0},
                "decoder_steps": {"type": ["integer", "null"], "minimum": 1},
                "language": {"type": "string"},  # the voice's: it chose the built-in texts and the corpus
            },
        },
        "baseline": {
            "type": "object",
            "required": ["status", "file", "note"],
            "properties": {"status": {"enum": ["ok", "not_found", "not_applicable"]}, "file": _STR_OR_NULL,
                           "note": {"type": "string"}, "rows": {"type": "array", "items": _ROW}},
        },
        "configurations": {"type": "array", "items": _ROW},
    },
}

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,), "null": (type(None),),
    "integer": (int,), "number": (int, float),
}


def _is(value: Any, kind: str) -> bool:
    # bool is an int subclass in Python but not a number in JSON.
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


def schema_errors(value: Any, schema: dict[str, Any] = REPORT_SCHEMA, path: str = "$") -> list[str]:
    """Every place where `value` breaks `schema`, as 'path: problem' strings ([] means valid)."""
    errors: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            return [f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:
        errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
    if isinstance(value, dict):
        errors += [f"{path}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        others = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{path}.{key}")
            elif others is False:
                errors.append(f"{path}: unexpected key {key!r}")
            elif isinstance(others, dict):
                errors += schema_errors(item, others, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    return errors


def validate_report(report: Any) -> None:
    """Raise ValueError listing every schema violation of a report."""
    errors = schema_errors(report)
    if errors:
        raise ValueError("profile report does not match schema version "
                         f"{SCHEMA_VERSION}:\n  " + "\n  ".join(errors[:50]))
