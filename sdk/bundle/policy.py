"""Calibrated policies as a bundle records them: one per (runtime, device class) that `voxport calibrate`
gated, with the machine it was measured on and what it proved.

A bundle built and calibrated on a desktop travels to a board whose runtime lists other precisions, so a
policy says which class of machine chose it (`device`), whether its speed was measured there (`timed`:
false for a cross-calibrated policy, gated on the host's numerical emulation of the class's precisions),
and which precisions passed the quality gate alone per stage (`passed`), so a machine that cannot run a
stage's chosen precision can fall back to one that was proved safe (voxport.pipeline.calibrated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voxport.bundle.contract import STAGES
from voxport.bundle.fields import JsonObject, ManifestPath, fail
from voxport.runtimes.device_class import DeviceClass

__all__ = ["PRECISIONS", "CalibrationPolicy", "policies_from_json"]

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int8-bf16")
_KEYS = {"runtime", "precisions", "int8_stages", "report", "seed", "method", "device", "machine", "timed",
         "emulated", "passed"}


@dataclass(frozen=True)
class CalibrationPolicy:
    """What `voxport calibrate` accepted for one runtime on one class of device: a precision per stage,
    and where its report is. `device` None: recorded before device classes (assumed to fit any machine
    whose runtime lists its precisions)."""

    precisions: dict[str, str]
    report: str
    seed: int = 0
    method: str = ""
    runtime: str = ""
    device: DeviceClass | None = None
    machine: str = ""  # the CPU model it was measured (or emulated) on, for people
    timed: bool = True  # False: quality-checked by emulation only, speed not measured on the class
    emulated: bool = False  # True: the gate ran the host's numerical emulation of the precisions
    passed: dict[str, list[str]] = field(default_factory=dict)  # stage -> precisions that passed alone

    @property
    def int8_stages(self) -> list[str]:
        return [s for s, p in self.precisions.items() if p.startswith("int8")]

    def safe(self, stage: str) -> list[str]:
        """The precisions this policy proved safe for `stage`: its own, and any that passed alone."""
        own = self.precisions.get(stage, "fp32")
        return [own, *(p for p in self.passed.get(stage, []) if p != own)]

    def describe(self) -> str:
        """One line for people: the class, how it was proved, the precisions."""
        where = self.device.name if self.device else "a device recorded before device classes"
        how = "timed" if self.timed else "quality-checked by emulation, speed unmeasured"
        if self.emulated and self.timed:
            how = "timed; quality-checked by emulation"
        stages = ", ".join(f"{s} {p}" for s, p in self.precisions.items()) or "fp32"
        return f"{self.runtime} on {where} ({how}): {stages}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"runtime": self.runtime, "precisions": dict(self.precisions),
                             "int8_stages": self.int8_stages, "report": self.report, "seed": self.seed,
                             "method": self.method, "timed": self.timed, "emulated": self.emulated}
        if self.device is not None:
            d["device"] = self.device.to_dict()
        if self.machine:
            d["machine"] = self.machine
        if self.passed:
            d["passed"] = {s: list(p) for s, p in self.passed.items()}
        return d

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "calibration",
                  stages: tuple[str, ...] = STAGES, runtime: str = "") -> CalibrationPolicy:
        o = JsonObject(d, field, manifest_path, _KEYS)
        precisions = _stage_precisions(o, "precisions", stages)
        passed = o.obj("passed", default={})
        safe = {s: [_precision(passed, s, i, p) for i, p in enumerate(passed.array(s))] for s in passed.d}
        for stage in safe:
            if stage not in stages:
                fail(o.mp, passed.name(stage), f"is not a stage of this bundle ({list(stages)})")
        return cls(precisions=precisions, report=o.string("report"), seed=o.integer("seed", 0, default=0),
                   method=str(o.get("method", "")), runtime=str(o.get("runtime", runtime)) or runtime,
                   device=_device(o), machine=str(o.get("machine", "")), timed=o.boolean("timed", True),
                   emulated=o.boolean("emulated", False), passed=safe)


def _stage_precisions(o: JsonObject, key: str, stages: tuple[str, ...]) -> dict[str, str]:
    precisions = o.obj(key)
    for stage in precisions.d:
        if stage not in stages:
            fail(o.mp, precisions.name(stage), f"is not a stage of this bundle ({list(stages)})")
        precisions.choice(stage, PRECISIONS)
    return dict(precisions.d)


def _precision(o: JsonObject, stage: str, i: int, value: Any) -> str:
    if value not in PRECISIONS:
        fail(o.mp, f"{o.name(stage)}[{i}]", f"must be one of {list(PRECISIONS)}, got {value!r}")
    return value


def _device(o: JsonObject) -> DeviceClass | None:
    if o.get("device", None) is None:
        return None
    device = o.obj("device", allowed={"arch", "features", "precisions"})
    arch = device.string("arch")
    features = [str(f) for f in device.array("features")] if "features" in device.d else []
    listed = device.array("precisions") if "precisions" in device.d else ["fp32"]
    for i, p in enumerate(listed):
        if p not in PRECISIONS:
            fail(o.mp, f"{device.name('precisions')}[{i}]", f"must be one of {list(PRECISIONS)}, got {p!r}")
    return DeviceClass(arch, tuple(features), tuple(listed))


def policies_from_json(value: Any, manifest_path: ManifestPath, stages: tuple[str, ...]
                       ) -> tuple[CalibrationPolicy, ...]:
    """The manifest's `calibration` field: a list of policies (format 3), or the older object keyed by
    runtime with one policy each (formats 1-2: no device class recorded)."""
    if isinstance(value, list):
        policies = []
        for i, item in enumerate(value):
            policy = CalibrationPolicy.from_dict(item, manifest_path, f"calibration[{i}]", stages)
            if not policy.runtime:
                fail(manifest_path, f"calibration[{i}].runtime", "is required but missing")
            policies.append(policy)
        return tuple(policies)
    legacy = JsonObject(value, "calibration", manifest_path)
    return tuple(CalibrationPolicy.from_dict(p, manifest_path, legacy.name(r), stages, runtime=r)
                 for r, p in legacy.d.items())
