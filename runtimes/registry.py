"""Which backends exist, resolving a user's runtime name to one, and opening sessions.

Adding a backend: write one ``Backend`` subclass in its own module (importing its runtime lazily),
add it to ``_BUILTIN_BACKENDS`` below and make sure its name is in ``KNOWN_RUNTIMES``.  Third-party
or test backends can call :func:`register_backend` instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .base import Backend, RuntimeOptions, Session, TensorSpec
from .errors import RuntimeUnavailableError
from .onnxruntime_cpu import OnnxRuntimeCPUBackend
from .openvino_backend import OpenVINOBackend
from .tensorrt_backend import TensorRTBackend

__all__ = [
    "KNOWN_RUNTIMES",
    "available_runtimes",
    "canonical_runtime",
    "get_backend",
    "open_session",
    "register_backend",
    "registered_backends",
    "compiles_precision",
]

# Every runtime voxport knows, by canonical name -> the pip extra that installs it ("" = core
# dependency).  The single source for install hints, including runtimes that have no backend class
# yet; aliases ("cpu", "ov", "trt") are the backend classes' own.
KNOWN_RUNTIMES: dict[str, str] = {
    "onnxruntime": "",
    "openvino": "openvino",
    "tensorrt": "tensorrt",
}

_BUILTIN_BACKENDS: tuple[type[Backend], ...] = (OnnxRuntimeCPUBackend, OpenVINOBackend, TensorRTBackend)

_backends: dict[str, type[Backend]] = {}  # canonical name -> class, in registration order
_aliases: dict[str, str] = {}  # lower-case name or alias -> canonical name


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Register a backend class; usable as a decorator.  Names and aliases are case-insensitive and
    must not collide with another backend's."""
    names = [cls.name, *cls.aliases]
    for key in (n.lower() for n in names):
        owner = _aliases.get(key)
        if owner is not None and _backends[owner] is not cls:
            raise ValueError(f"runtime name {key!r} of {cls.__name__} is already used by {owner!r}")
    _backends[cls.name.lower()] = cls
    for key in names:
        _aliases[key.lower()] = cls.name.lower()
    return cls


def registered_backends() -> list[type[Backend]]:
    """All registered backend classes, available or not (for ``voxport runtimes``)."""
    return list(_backends.values())


def available_runtimes() -> list[str]:
    """Canonical names of the registered backends whose runtime library is installed."""
    return [name for name, cls in _backends.items() if cls.is_available()]


def canonical_runtime(name: str) -> str:
    """The canonical name of a runtime name or alias (case-insensitive): "cpu", "ORT" -> "onnxruntime".

    Works whether or not the runtime is installed, so it can key per-runtime records (a bundle's
    calibration results, benchmark rows) whatever name the user typed.  Raises the same
    RuntimeUnavailableError as :func:`get_backend` for a name voxport does not know.
    """
    key = str(name).strip().lower()
    canonical = _aliases.get(key)
    if canonical is not None:
        return canonical
    if key in KNOWN_RUNTIMES:  # known, but without a backend class in this version
        return key
    raise _unknown_runtime(name)


def get_backend(name: str) -> Backend:
    """The backend for a runtime name or alias (case-insensitive).

    Raises RuntimeUnavailableError, listing the runtimes that are available and the pip extra to
    install, when the name is unknown, its runtime is not installed, or voxport has no backend for
    it yet.
    """
    canonical = canonical_runtime(name)
    cls = _backends.get(canonical)
    if cls is None:
        raise RuntimeUnavailableError(
            name,
            "this version of voxport has no backend for it yet",
            available_runtimes(),
            KNOWN_RUNTIMES[canonical],
            supported=False,
        )
    if not cls.is_available():
        raise RuntimeUnavailableError(
            name, f"the {cls.module or cls.name!r} package is not installed", available_runtimes(), cls.extra
        )
    return cls()


def _unknown_runtime(name: str) -> RuntimeUnavailableError:
    available = available_runtimes()
    others = {n: extra for n, extra in KNOWN_RUNTIMES.items() if extra and n not in available}
    known = ", ".join(sorted({*KNOWN_RUNTIMES, *_aliases}))
    return RuntimeUnavailableError(name, f"unknown runtime (known names: {known})", available, None, others)


def open_session(
    runtime: str,
    model_path: str | os.PathLike[str],
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    precision: str = "fp32",
    options: RuntimeOptions | None = None,
    name: str = "graph",
) -> Session:
    """Open one graph on the named runtime: ``get_backend(runtime).open(...)``."""
    return get_backend(runtime).open(model_path, inputs, outputs, precision, options, name)


def compiles_precision(runtime: str, precision: str) -> bool:
    """Whether `runtime` lowers an fp32 graph to `precision` while compiling it (OpenVINO: bf16, fp16;
    TensorRT: fp16), so that no file of that precision is needed. False for an unknown runtime name (the
    caller opens the session next, and that names the runtimes there are)."""
    cls = _backends.get(_aliases.get(str(runtime).strip().lower(), ""))
    # Not on Backend itself (base.py): a class attribute of the backends that compile precisions.
    return str(precision).strip().lower() in getattr(cls, "compiled_precisions", ())


for _cls in _BUILTIN_BACKENDS:
    register_backend(_cls)
