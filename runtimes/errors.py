"""Errors raised by the runtime layer.

Every error derives from :class:`VoxportRuntimeError` so callers can catch the whole layer at once.
The subclasses keep their parts as attributes (not only in the message) so a CLI or a pipeline can
react to them without parsing text.  Each defines ``__reduce__`` because an exception whose
``__init__`` takes more than the message cannot otherwise be pickled (multiprocessing workers).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "VoxportRuntimeError",
    "RuntimeUnavailableError",
    "UnsupportedPrecisionError",
    "InputMismatchError",
    "pip_install_hint",
]


def pip_install_hint(extra: str) -> str:
    """The command that installs a runtime's pip extra ("" means it ships with voxport itself)."""
    return f"pip install 'voxport[{extra}]'" if extra else "pip install voxport"


class VoxportRuntimeError(RuntimeError):
    """Base class of every error raised by :mod:`voxport.runtimes`."""


class RuntimeUnavailableError(VoxportRuntimeError):
    """The requested runtime is unknown, not installed, or not supported by this voxport version.

    ``extra`` is the pip extra for the runtime (None when the name is unknown); ``supported`` is False
    for a known runtime that has no backend in this version, where installing the extra cannot help.
    ``other_extras`` maps further runtime names to their extras, offered when the name is unknown.
    """

    def __init__(
        self,
        runtime: str,
        reason: str,
        available: Sequence[str],
        extra: str | None = None,
        other_extras: dict[str, str] | None = None,
        supported: bool = True,
    ) -> None:
        self.runtime = runtime
        self.reason = reason
        self.available = list(available)
        self.extra = extra
        self.other_extras = dict(other_extras or {})
        self.supported = supported
        parts = [f"runtime {runtime!r} is not available: {reason}."]
        if extra is not None and supported:
            parts.append(f"Install it with: {pip_install_hint(extra)}.")
        elif extra is not None:
            # Installing the package would not help yet; still say which extra it will need.
            parts.append(f"Once supported it will be installed with: {pip_install_hint(extra)}.")
        parts.append(
            "Runtimes available on this machine: "
            + (", ".join(self.available) if self.available else "none")
            + "."
        )
        if self.other_extras:
            hints = "; ".join(f"{name}: {pip_install_hint(x)}" for name, x in self.other_extras.items())
            parts.append(f"Other runtimes: {hints}.")
        super().__init__(" ".join(parts))

    def __reduce__(self):  # type: ignore[override]
        args = (self.runtime, self.reason, self.available, self.extra, self.other_extras, self.supported)
        return (type(self), args)


class UnsupportedPrecisionError(VoxportRuntimeError):
    """The backend cannot run the requested precision (e.g. ``fp16`` on the CPU backend)."""

    def __init__(self, runtime: str, precision: str, supported: Sequence[str]) -> None:
        self.runtime = runtime
        self.precision = precision
        self.supported = list(supported)
        super().__init__(
            f"runtime {runtime!r} does not support precision {precision!r}; "
            f"supported: {', '.join(self.supported) or 'none'}"
        )

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.runtime, self.precision, self.supported))


class InputMismatchError(VoxportRuntimeError, ValueError):
    """A feed does not match the graph's declared inputs.

    Also a ``ValueError`` because it is the caller's data that is wrong, not the runtime.
    ``input_name`` is the offending input (the first one, when several are missing or unknown).
    """

    def __init__(self, graph: str, input_name: str, problem: str, expected: str, got: str) -> None:
        self.graph = graph
        self.input_name = input_name
        self.problem = problem
        self.expected = expected
        self.got = got
        super().__init__(f"graph {graph!r}, input {input_name!r}: {problem}: expected {expected}, got {got}")

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.graph, self.input_name, self.problem, self.expected, self.got))
