"""How many threads a compute-bound backend should use by default."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

__all__ = ["physical_core_count"]


@functools.lru_cache(maxsize=1)
def physical_core_count() -> int:
    """Physical cores this process may use: the default thread count for compute-bound backends.

    ``os.cpu_count()`` counts SMT siblings and cores outside our affinity mask or container quota;
    running one compute thread per logical CPU makes siblings fight over the same FPU and makes
    throttled containers stall.  Cached: call ``physical_core_count.cache_clear()`` after changing
    the affinity mask.
    """
    try:
        allowed: set[int] | None = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        allowed = None
    logical = len(allowed) if allowed else (os.cpu_count() or 1)
    count = _cores_from_cpuinfo(allowed) or logical
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    return max(1, count)


def _cores_from_cpuinfo(allowed: set[int] | None) -> int | None:
    """Distinct (package, core) pairs among the allowed CPUs, or None when cpuinfo lacks topology
    (ARM, some VMs) -- the caller then falls back to the logical count."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores: set[tuple[str, str]] = set()
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "processor" not in fields:
            continue
        if "core id" not in fields:
            return None
        if allowed is not None and fields["processor"].isdigit() and int(fields["processor"]) not in allowed:
            continue
        cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def _cgroup_cpu_quota() -> float | None:
    """CPU limit of the container (cgroup v2, then v1), in CPUs; None when unlimited or unknown."""
    try:
        quota, _, period = Path("/sys/fs/cgroup/cpu.max").read_text().partition(" ")
        if quota.strip() != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None
