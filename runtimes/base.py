"""The interface every runtime backend implements: tensor specs, options, sessions, backends.

A voxport bundle splits a TTS model into several ONNX graphs (encoder, duration predictor, decoder,
vocoder); each graph is opened as one :class:`Session` by one :class:`Backend`.  The base classes
own everything that must behave the same on every runtime -- feed validation, timing, error types --
so a backend only implements ``_open`` and ``_run``.

Only numpy is imported here: runtime libraries are optional extras and are imported by the backend
modules, lazily, when a session is opened.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import InputMismatchError, UnsupportedPrecisionError, VoxportRuntimeError

__all__ = ["TensorSpec", "RuntimeOptions", "CallStats", "Session", "Backend", "physical_core_count"]


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of one graph input or output, as stored in a bundle manifest.

    ``dtype`` is a numpy dtype name ("float32", "int64", ...); anything ``numpy.dtype`` accepts is
    normalised to that name so ``np.float32`` and ``"float32"`` give equal specs.  In ``shape`` an int
    is a fixed dimension and a str names a dynamic axis; inputs sharing an axis name must agree on
    its size within one call (ONNX ``dim_param`` semantics).
    """

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"TensorSpec name must be a non-empty string, got {self.name!r}")
        try:
            # np.dtype(None) is float64: a missing dtype must not turn into a plausible one.
            if self.dtype is None:
                raise TypeError("dtype is None")
            dtype = np.dtype(self.dtype).name
        except TypeError as exc:
            raise ValueError(f"TensorSpec {self.name!r}: unknown dtype {self.dtype!r}") from exc
        shape = tuple(self.shape)
        for dim in shape:
            # bool is an int subclass; True as a dimension is always a bug.
            fixed = isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0
            if not fixed and not (isinstance(dim, str) and dim):
                raise ValueError(
                    f"TensorSpec {self.name!r}: dimension {dim!r} must be an int >= 0 (fixed) "
                    "or a non-empty str (named dynamic axis)"
                )
        # Frozen: normalise through object.__setattr__ so equality and hashing see canonical values.
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "shape", shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_dynamic(self) -> bool:
        return any(isinstance(dim, str) for dim in self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        missing = [key for key in ("name", "dtype", "shape") if key not in data]
        if missing:
            raise ValueError(f"TensorSpec dict is missing {missing}: {dict(data)!r}")
        return cls(name=data["name"], dtype=data["dtype"], shape=tuple(data["shape"]))

    def describe(self) -> str:
        """Short form for messages, e.g. ``float32[1, 'T']``."""
        return f"{self.dtype}[{', '.join(repr(d) if isinstance(d, str) else str(d) for d in self.shape)}]"


@dataclass
class RuntimeOptions:
    """Knobs shared by all backends; ``extra`` holds backend-specific ones (each backend documents
    the keys it accepts and rejects the others, so a typo does not pass silently)."""

    threads: int | None = None  # None: the backend's default, the number of physical cores
    device: str | None = None  # None: the backend's default device
    cache_dir: str | None = None  # where a backend may keep compiled engines / blobs
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ValueError(f"RuntimeOptions.threads must be None or an int >= 1, got {self.threads!r}")


@dataclass
class CallStats:
    """Wall times of a session's ``run`` calls (the backend call only, not feed validation).

    ``count``/``total_s`` cover every call since the last reset; ``times_s`` keeps only the most recent
    ``max_history`` so a long-running server does not grow without bound.
    """

    max_history: int = 1024
    count: int = 0
    total_s: float = 0.0
    times_s: deque[float] = field(init=False, repr=False)
    # Sessions may be shared between threads (onnxruntime's run is thread-safe).
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.times_s = deque(maxlen=self.max_history)

    def record(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self.total_s += seconds
            self.times_s.append(seconds)

    def reset(self) -> None:
        with self._lock:
            self.count = 0
            self.total_s = 0.0
            self.times_s.clear()

    @property
    def last_s(self) -> float | None:
        return self.times_s[-1] if self.times_s else None

    @property
    def mean_s(self) -> float | None:
        return self.total_s / self.count if self.count else None

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"count": self.count, "total_s": self.total_s, "recent_s": list(self.times_s)}


class Session(ABC):
    """One opened graph on one runtime.  Subclasses implement ``_run`` (and ``_close`` if they hold
    resources); :meth:`run` validates feeds, times the call and checks the outputs."""

    runtime: ClassVar[str] = ""  # the owning backend's canonical name

    def __init__(
        self,
        model_path: Path,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        precision: str,
        options: RuntimeOptions,
        name: str,
    ) -> None:
        self._model_path = Path(model_path)
        self._inputs = _unique_specs(inputs, name, "input")
        self._outputs = _unique_specs(outputs, name, "output")
        self._precision = precision
        self._options = options
        self._name = name
        self._stats = CallStats()
        self._closed = False

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def name(self) -> str:
        return self._name

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def model_path(self) -> Path:
        return self._model_path

    @property
    def options(self) -> RuntimeOptions:
        return self._options

    @property
    def stats(self) -> CallStats:
        return self._stats

    @property
    def closed(self) -> bool:
        return self._closed

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph.  ``feeds`` must hold exactly the declared inputs with exact dtypes (nothing
        is cast: a silent float64->float32 copy per call is a cost the caller should see).  Returns
        the declared outputs, in declared order."""
        if self._closed:
            raise VoxportRuntimeError(f"graph {self._name!r} ({self.runtime}): session is closed")
        self._check_feeds(feeds)
        start = time.perf_counter()
        try:
            results = self._run(dict(feeds))
        except VoxportRuntimeError:
            raise
        except Exception as exc:  # one error type for callers, whatever the runtime raises
            raise VoxportRuntimeError(f"graph {self._name!r} ({self.runtime}) failed: {exc}") from exc
        self._stats.record(time.perf_counter() - start)
        missing = [spec.name for spec in self._outputs if spec.name not in results]
        if missing:
            raise VoxportRuntimeError(
                f"graph {self._name!r} ({self.runtime}) returned no output {missing[0]!r}: "
                f"expected {[s.name for s in self._outputs]}, got {sorted(results)}"
            )
        return {spec.name: results[spec.name] for spec in self._outputs}

    @abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the runtime on already-validated feeds; return outputs by name."""

    def close(self) -> None:
        """Release the runtime's resources.  Idempotent."""
        if not self._closed:
            self._closed = True
            self._close()

    def _close(self) -> None:  # noqa: B027 - optional hook, not every backend holds resources
        """Backend-specific release; called once by :meth:`close`."""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self._name!r} {self.runtime}/{self._precision}{state}>"

    def _check_feeds(self, feeds: Mapping[str, np.ndarray]) -> None:
        graph = self._name
        if not isinstance(feeds, Mapping):
            raise InputMismatchError(graph, "*", "feeds must be a mapping", "a dict", type(feeds).__name__)
        declared = [spec.name for spec in self._inputs]
        wrong = [n for n in declared if n not in feeds] + [k for k in feeds if k not in declared]
        if wrong:  # report the first; the message lists both name sets so every slip is visible
            problem = "missing input" if wrong[0] in declared else "unknown input"
            raise InputMismatchError(graph, str(wrong[0]), problem, f"inputs {declared}", f"{list(feeds)}")
        axes: dict[str, tuple[int, str]] = {}  # named axis -> (size, input that set it)
        for spec in self._inputs:
            array = feeds[spec.name]
            got_shape = f"shape {tuple(getattr(array, 'shape', ()))}"
            problem, expected, got = "", "", ""
            if not isinstance(array, np.ndarray):
                problem, expected, got = "not a numpy array", "numpy.ndarray", type(array).__name__
            elif array.dtype != spec.dtype:
                problem, expected, got = "wrong dtype", spec.dtype, str(array.dtype)
            elif array.ndim != spec.rank:
                problem, expected, got = "wrong rank", f"{spec.rank} dims {spec.describe()}", got_shape
            else:
                for axis, (dim, size) in enumerate(zip(spec.shape, array.shape, strict=True)):
                    if isinstance(dim, int) and size != dim:
                        problem, expected = f"wrong size on axis {axis}", f"{dim} in {spec.describe()}"
                        got = f"{size} in {got_shape}"
                        break
                    if isinstance(dim, str) and axes.setdefault(dim, (size, spec.name))[0] != size:
                        bound, other = axes[dim]
                        problem = f"axis {axis} ({dim!r}) disagrees with input {other!r}"
                        expected, got = f"{dim} = {bound}", f"{dim} = {size}"
                        break
            if problem:
                raise InputMismatchError(graph, spec.name, problem, expected, got)


def _unique_specs(specs: Sequence[TensorSpec], graph: str, kind: str) -> tuple[TensorSpec, ...]:
    specs = tuple(specs)
    for spec in specs:
        if not isinstance(spec, TensorSpec):
            raise TypeError(f"graph {graph!r}: {kind} specs must be TensorSpec, got {type(spec).__name__}")
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"graph {graph!r}: duplicate {kind} names {duplicates}")
    return specs


class Backend(ABC):
    """One runtime.  Subclasses set the class attributes and implement ``_open`` (and extend
    ``describe``); :meth:`open` checks the precision and the model file first."""

    name: ClassVar[str]  # canonical runtime name, e.g. "cpu"
    aliases: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = ""  # pip extra that installs the runtime ("" = core dependency)
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    module: ClassVar[str] = ""  # top-level module whose presence means the runtime is installed

    @classmethod
    def is_available(cls) -> bool:
        """Cheap check (no import of the runtime): is the runtime library installed?"""
        return bool(cls.module) and find_spec(cls.module) is not None

    def describe(self) -> dict[str, Any]:
        """What ``voxport runtimes`` prints; backends add ``version``, ``devices`` and their own keys."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "extra": self.extra,
            "available": self.is_available(),
            "precisions": list(self.precisions),
            "version": None,
            "devices": [],
        }

    def open(
        self,
        model_path: str | os.PathLike[str],
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        precision: str = "fp32",
        options: RuntimeOptions | None = None,
        name: str = "graph",
    ) -> Session:
        """Open one graph.  Raises UnsupportedPrecisionError, FileNotFoundError, or
        VoxportRuntimeError when the runtime rejects the model or the specs contradict it."""
        precision = str(precision).strip().lower()
        if precision not in self.precisions:
            raise UnsupportedPrecisionError(self.name, precision, self.precisions)
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"graph {name!r}: model file not found: {path}")
        return self._open(path, tuple(inputs), tuple(outputs), precision, options or RuntimeOptions(), name)

    @abstractmethod
    def _open(
        self,
        model_path: Path,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
        precision: str,
        options: RuntimeOptions,
        name: str,
    ) -> Session:
        """Create the session; arguments are already normalised and checked."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


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
