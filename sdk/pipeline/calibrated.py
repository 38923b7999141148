"""`precision="calibrated"` on this machine: which of a bundle's calibrated policies fits it, or the
fallback when none does.

In order: a policy made for this device class (timed ones first); else one whose every precision this
machine's runtime lists (made elsewhere: the closest class, timed policies first); else, stage by stage, the precision
of the closest policy where this machine runs it, or the fastest-kind precision any policy proved safe
for that stage (it passed the gate alone) that this machine lists, or fp32 -- with one warning naming
what to run on the device. A quality-checked policy whose speed was never measured on its class is used
with a warning naming `voxport calibrate --time-only`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from voxport.bundle.policy import CalibrationPolicy
from voxport.runtimes.device_class import DeviceClass

__all__ = ["CalibratedChoice", "CalibrationFallbackWarning", "choose", "warn"]

# Fallback preference when a stage's own precision is not listed here: what usually runs fastest first.
_PREFERENCE = ("int8-bf16", "int8", "fp16", "bf16", "fp32")


class CalibrationFallbackWarning(UserWarning):
    """The bundle's calibrated policies were not made for this machine; a fallback runs instead."""


@dataclass(frozen=True)
class CalibratedChoice:
    """What `precision="calibrated"` runs per stage here, the policy it came from, and why."""

    precisions: dict[str, str]
    policy: CalibrationPolicy | None  # None: a per-stage fallback over several policies
    how: str  # "this device", "fits", "untimed" or "fallback"
    warning: str | None = None


def _fits(policy: CalibrationPolicy, device: DeviceClass) -> bool:
    return all(device.runs(p) for p in policy.precisions.values())


def _rank(policy: CalibrationPolicy, device: DeviceClass) -> tuple[int, int, int]:
    # Closest class first; a policy of unknown class ranks with the least alike; timed before untimed.
    likeness = device.likeness(policy.device) if policy.device else (0, -1)
    return (*likeness, int(policy.timed))


def choose(policies: Sequence[CalibrationPolicy], device: DeviceClass, stages: Sequence[str],
           runtime: str) -> CalibratedChoice:
    """The policy (or per-stage fallback) `device` runs for `runtime`; `policies` are that runtime's."""
    mine = sorted((p for p in policies if p.device == device), key=lambda p: int(p.timed), reverse=True)
    fitting = sorted((p for p in policies if _fits(p, device)), key=lambda p: _rank(p, device), reverse=True)
    if not (mine or fitting):
        return _fallback(policies, device, stages, runtime)
    policy = (mine or fitting)[0]
    if policy.timed:
        return CalibratedChoice(_full(policy, stages), policy, "this device" if mine else "fits")
    return CalibratedChoice(_full(policy, stages), policy, "untimed", (
        f"{runtime}'s calibrated policy for {policy.device.name if policy.device else 'this bundle'} was "
        f"quality-checked by emulation, its speed never measured on such a device: run `voxport calibrate "
        f"--bundle DIR --runtime {runtime} --time-only` here to keep only what is faster"))


def _full(policy: CalibrationPolicy, stages: Sequence[str]) -> dict[str, str]:
    return {stage: policy.precisions.get(stage, "fp32") for stage in stages}


def _fallback(policies: Sequence[CalibrationPolicy], device: DeviceClass, stages: Sequence[str],
              runtime: str) -> CalibratedChoice:
    ranked = sorted(policies, key=lambda p: _rank(p, device), reverse=True)
    closest = ranked[0]
    precisions = {}
    for stage in stages:
        wanted = closest.precisions.get(stage, "fp32")
        safe = {p for policy in ranked for p in policy.safe(stage)}
        listed = [p for p in _PREFERENCE if p in safe and device.runs(p)]
        precisions[stage] = wanted if device.runs(wanted) else (listed[0] if listed else "fp32")
    made_for = "; ".join(sorted({p.device.name if p.device else "an unrecorded device" for p in policies}))
    substituted = [f"{s} {closest.precisions.get(s, 'fp32')}->{p}" for s, p in precisions.items()
                   if p != closest.precisions.get(s, "fp32")]
    warning = (f"this bundle's {runtime} policies were calibrated for {made_for}; this machine is {device.name}, "
               f"so calibrated runs {', '.join(substituted)} (precisions the gate passed alone, this combination "
               f"never gated; fp32 where none is listed here): run `voxport calibrate --bundle DIR --runtime "
               f"{runtime}` on this device for a policy of its own")
    return CalibratedChoice(precisions, None, "fallback", warning)


def warn(choice: CalibratedChoice) -> None:
    """The choice's warning, once per distinct message (Python's default filter)."""
    if choice.warning:
        warnings.warn(choice.warning, CalibrationFallbackWarning, stacklevel=4)
