"""What machine and which library versions a profile ran on, so reports from two devices compare."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# Instruction sets that change which kernels onnxruntime / OpenVINO pick (x86), or their ARM peers.
_FLAG_PATTERN = re.compile(r"^(avx|avx2|fma|f16c|avx_vnni|avx512.*|amx.*|sse4_2|asimd.*|sve.*|neon|fphp|bf16|i8mm)$")

# Distribution names per library; TensorRT ships under several.
_PACKAGES: dict[str, tuple[str, ...]] = {
    "voxport": ("voxport",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "openvino": ("openvino",),
    "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt-cu11", "tensorrt-cu13"),
    "numpy": ("numpy",),
}


def _cpuinfo() -> dict[str, str]:
    """The first processor block of /proc/cpuinfo (empty off Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags(info: dict[str, str] | None = None) -> list[str]:
    info = _cpuinfo() if info is None else info
    flags = (info.get("flags") or info.get("Features") or "").split()
    return sorted(f for f in flags if _FLAG_PATTERN.match(f))


def _physical_cores() -> int | None:
    """Distinct (package, core) pairs in /proc/cpuinfo, ignoring affinity (that is `usable_cores`)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores = set()
    for block in text.split("\n\n"):
        fields = dict(
            (k.strip(), v.strip()) for k, sep, v in (line.partition(":") for line in block.splitlines()) if sep
        )
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / (1 << 20), 2)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30), 2)
    except (ValueError, OSError, AttributeError):
        return None


def gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs from nvidia-smi; [] when there is none or no driver."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        done = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = []
    for line in done.stdout.splitlines() if done.returncode == 0 else []:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            rows.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return rows


def machine_info() -> dict[str, Any]:
    from voxport.runtimes import physical_core_count

    info = _cpuinfo()
    model = info.get("model name") or info.get("Hardware") or platform.processor() or platform.machine()
    return {
        "cpu_model": model,
        "architecture": platform.machine(),
        "cpu_flags": cpu_flags(info),
        "physical_cores": _physical_cores(),
        "logical_cores": os.cpu_count(),
        # After affinity masks and cgroup quotas: what the default thread count is taken from.
        "usable_cores": physical_core_count(),
        "memory_gib": _memory_gib(),
        "gpus": gpus(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def load_average() -> float | None:
    """1-minute load average: a busy machine (other jobs on the cores) explains a noisy profile."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def library_versions() -> dict[str, str | None]:
    """Installed versions (None when absent), read from package metadata so nothing heavy is imported."""
    versions: dict[str, str | None] = {}
    for library, distributions in _PACKAGES.items():
        versions[library] = None
        for dist in distributions:
            try:
                versions[library] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    if versions["voxport"] is None:  # running from a source tree that is not installed
        from voxport import __version__

        versions["voxport"] = __version__
    return versions
