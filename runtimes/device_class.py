"""What kind of machine a calibrated policy was measured on, and what kind this one is.

A policy's precisions are only as good as the machine that chose them: bf16 is fast with AMX, slow
emulation without it, and absent on most ARM boards; int8 gains most with VNNI / dot-product
instructions. A device class is what decides that, read from what the machine and the runtime report:
the CPU architecture, the ISA families that accelerate reduced precision, and the precisions the
runtime says it runs natively on this device. Two machines of one class should choose the same policy.

`VOXPORT_DEVICE_CLASS` replaces detection (tests, and checking a bundle for a board from a desktop):
`ARCH:FEATURE,...:PRECISION,...`, e.g. `arm64:fp16,dotprod:fp32,fp16,int8`.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["DEVICE_CLASS_ENV", "DeviceClass", "cpu_model", "isa_features", "parse_device_class", "this_device"]

DEVICE_CLASS_ENV = "VOXPORT_DEVICE_CLASS"
# /proc/cpuinfo flag -> ISA family, in the order a name lists them (most significant first).
_X86_FEATURES = {
    "amx_bf16": "amx-bf16", "amx_int8": "amx-int8", "amx_fp16": "amx-fp16", "avx512_fp16": "avx512-fp16",
    "avx512_bf16": "avx512-bf16", "avx512_vnni": "avx512-vnni", "avx_vnni": "avx-vnni", "avx512f": "avx512",
    "avx2": "avx2",
}
# ARMv8.2+ features (the "Features" line): half-precision arithmetic, int8 dot products, int8 matrix
# multiply, bf16, scalable vectors.
_ARM_FEATURES = {"asimdhp": "fp16", "asimddp": "dotprod", "i8mm": "i8mm", "bf16": "bf16", "sve": "sve"}
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class DeviceClass:
    """A machine as far as precision goes: `arch`, its precision-relevant ISA `features`, and the
    `precisions` the runtime lists for it (voxport's names: fp32, bf16, fp16, int8, int8-bf16)."""

    arch: str
    features: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ("fp32",)

    @property
    def name(self) -> str:
        """`x86_64 avx512-vnni avx512 avx2 [fp32 int8]`: what people read in `voxport info` and warnings."""
        return " ".join([self.arch, *self.features]) + f" [{' '.join(self.precisions)}]"

    def runs(self, precision: str) -> bool:
        return precision in self.precisions

    def likeness(self, other: DeviceClass) -> tuple[int, int]:
        """How close `other` is to this class, for ranking policies measured elsewhere: same
        architecture first, then the number of shared features."""
        return int(self.arch == other.arch), len(set(self.features) & set(other.features))

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "features": list(self.features), "precisions": list(self.precisions)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceClass:
        return cls(str(d["arch"]), tuple(str(f) for f in d.get("features", ())),
                   tuple(str(p) for p in d.get("precisions", ("fp32",))))


def parse_device_class(text: str) -> DeviceClass:
    """`ARCH:FEATURES:PRECISIONS` (comma-separated lists, either may be empty) -> DeviceClass."""
    parts = text.strip().split(":")
    if len(parts) != 3 or not parts[0]:
        raise ValueError(f"{DEVICE_CLASS_ENV}={text!r}: expected ARCH:FEATURE,...:PRECISION,... "
                         "(e.g. arm64:fp16,dotprod:fp32,fp16,int8)")
    arch, features, precisions = parts
    listed = tuple(p.strip().lower() for p in precisions.split(",") if p.strip()) or ("fp32",)
    return DeviceClass(_ARCH.get(arch.lower(), arch.lower()),
                       tuple(f.strip().lower() for f in features.split(",") if f.strip()), listed)


@cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) from /proc/cpuinfo; empty where there is none (macOS, Windows)."""
    model, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and not model:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = frozenset(value.split())
    except OSError:
        pass
    return model, flags


def machine_arch() -> str:
    machine = platform.machine().lower()
    return _ARCH.get(machine, machine)


def isa_features(arch: str | None = None, flags: frozenset[str] | None = None) -> tuple[str, ...]:
    """The precision-relevant ISA families this CPU lists, most significant first."""
    arch = arch or machine_arch()
    flags = _cpuinfo()[1] if flags is None else flags
    table = _ARM_FEATURES if arch == "arm64" else _X86_FEATURES
    return tuple(name for flag, name in table.items() if flag in flags)


def cpu_model() -> str:
    """The CPU's model name, for people (the records say which machine measured what)."""
    return _cpuinfo()[0] or platform.processor() or machine_arch()


def this_device(runtime: str) -> DeviceClass:
    """This machine's class for `runtime` (canonical name): `VOXPORT_DEVICE_CLASS` if set, else the
    architecture, ISA features and the precisions the runtime's backend lists for its default device."""
    fake = os.environ.get(DEVICE_CLASS_ENV, "").strip()
    if fake:
        return parse_device_class(fake)
    from .registry import get_backend

    return DeviceClass(machine_arch(), isa_features(), tuple(get_backend(runtime).device_precisions()))
