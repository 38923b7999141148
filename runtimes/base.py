"""The interface every runtime backend implements: graph interfaces, sessions, backends.

A voxport bundle splits a TTS model into several ONNX graphs (encoder, duration predictor, decoder,
vocoder); each graph is opened as one :class:`Session` by one :class:`Backend`.  The base classes
own everything that must behave the same on every runtime -- option and feed validation, checking
the manifest's specs against what the runtime loaded, timing, error types -- so a backend only says
how to load a graph (``Session._load``), what the runtime reports about its inputs and outputs
(``Session._graph_io``) and how to run it (``Session._run``).

Only numpy is imported here: runtime libraries are optional extras and are imported by the backend
modules, lazily, when a session is opened.
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .cores import physical_core_count
from .errors import InputMismatchError, UnsupportedPrecisionError, VoxportRuntimeError
from .specs import RuntimeOptions, TensorSpec
from .stats import CallStats

# TensorSpec, RuntimeOptions, CallStats and physical_core_count live in their own modules and are
# re-exported here, where bundle code has always imported them from.
__all__ = [
    "TensorSpec",
    "RuntimeOptions",
    "CallStats",
    "GraphTensor",
    "GraphIO",
    "Session",
    "Backend",
    "physical_core_count",
]


@dataclass(frozen=True)
class GraphTensor:
    """One input or output as the runtime reports it, in the neutral form the spec check reads.

    ``dtype`` is a numpy dtype name, or None where the runtime's type has no numpy equivalent (bf16,
    int4): such a dtype is not checked.  ``shape`` is None when the runtime does not know the rank;
    otherwise it holds an int per fixed dimension and None (or the runtime's axis name) per dynamic one.
    """

    name: str
    dtype: str | None
    shape: tuple[int | str | None, ...] | None
    aliases: tuple[str, ...] = ()  # further names of the same tensor: an OpenVINO port can carry several
    required: bool = True  # False: may be fed but need not be (onnxruntime's overridable initializers)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def describe(self) -> str:
        """Short form for messages, e.g. ``float32[1, ?]`` (``?``: dynamic, as is an unknown rank)."""
        if self.shape is None:
            return f"{self.dtype or '?'}[...]"
        dims = ", ".join(str(d) if isinstance(d, int) else repr(d) if d else "?" for d in self.shape)
        return f"{self.dtype or '?'}[{dims}]"


@dataclass(frozen=True)
class GraphIO:
    """What a runtime reports about a loaded graph's interface."""

    inputs: tuple[GraphTensor, ...]
    outputs: tuple[GraphTensor, ...]
    # What the runtime loaded, as messages name it: TensorRT's is an engine built from the ONNX file.
    kind: str = "graph"


class Session(ABC):
    """One opened graph on one runtime.

    Subclasses implement ``_load`` (open the model with the runtime), ``_graph_io`` (the runtime's own
    view of the inputs and outputs), ``_run``, and ``_close`` if they hold resources.  The constructor
    loads the model and checks the declared specs against it, so a wrong manifest fails at open rather
    than at the first call; :meth:`run` validates feeds, times the call and checks the outputs.
    """

    runtime: ClassVar[str] = ""  # the owning backend's canonical name
    # Whether `run` may be called from several threads at once, so that loaded copies of a voice can share
    # one session (onnxruntime's InferenceSession.run is thread-safe; an OpenVINO infer request is not).
    concurrent: ClassVar[bool] = False

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
        try:
            self._load()
            self._check_against_graph()
        except BaseException:
            # Release what _load acquired (a compiled model, device memory) before the error leaves.  A
            # failure while closing a half-built session must not replace the error that caused it.
            with contextlib.suppress(Exception):
                self.close()
            raise

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
        self._ensure_open()
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
    def _load(self) -> None:
        """Open the model with the runtime (from ``model_path``, ``precision`` and ``options``).
        Raise VoxportRuntimeError, naming the graph, when the runtime refuses it."""

    @abstractmethod
    def _graph_io(self) -> GraphIO:
        """The loaded graph's inputs and outputs as the runtime reports them."""

    @abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the runtime on already-validated feeds; return outputs by name."""

    def prepare_buckets(self, axis: str, sizes: Sequence[int], *,  # noqa: B027 - optional hook
                        specialize: bool = False) -> None:
        """Hint that the calls to come will have the input axis ``axis`` (a contract axis name:
        "phonemes" or "frames") at one of exactly these ``sizes``.

        The fixed-shape runner calls it once per stage, before warming each bucket, so a runtime that
        specialises per shape can prepare each size once, at load (TensorRT: one optimization
        profile per bucket).  ``specialize`` asks for a separately compiled graph per size where the
        runtime has that choice (OpenVINO: faster calls for more memory and load time; the runner asks
        for it where measured worth it).  A later call with another list replaces the first.  Calls at
        other sizes must keep working, if more slowly.  Default: nothing to prepare.
        """

    def release_memory(self) -> None:  # noqa: B027 - optional hook
        """Free the buffers the runtime keeps between calls for the shapes it has run (OpenVINO keeps a
        dynamic model's for the largest shape met and a static copy's for its size); the next call
        allocates what it needs again. `Voice` calls it after the small plan's warm-up (voxport.voice);
        `RuntimeOptions.lean` does the same after every call. Default: nothing."""

    def close(self) -> None:
        """Release the runtime's resources.  Idempotent."""
        if not self._closed:
            self._closed = True
            self._close()

    def _close(self) -> None:  # noqa: B027 - optional hook, not every backend holds resources
        """Backend-specific release; called once by :meth:`close`, also on a session that failed to
        open, so it must cope with whatever part of ``_load`` ran."""

    def _ensure_open(self) -> None:
        """Raise the one "session is closed" error; for ``run`` and for accessors of runtime objects."""
        if self._closed:
            raise VoxportRuntimeError(f"graph {self._name!r} ({self.runtime}): session is closed")

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self._name!r} {self.runtime}/{self._precision}{state}>"

    def _check_against_graph(self) -> None:
        """Compare the declared specs with the runtime's view of the graph: names (every required
        graph input declared, every declared tensor present), dtypes, ranks and fixed dimensions."""
        io = self._graph_io()
        declared = {spec.name for spec in self._inputs}
        problems = [
            f"{io.kind} input {tensor.name!r} is not declared"
            for tensor in io.inputs
            if tensor.required and not declared.intersection(tensor.names)
        ]
        for kind, specs, tensors in (("input", self._inputs, io.inputs), ("output", self._outputs, io.outputs)):
            by_name = {n: tensor for tensor in tensors for n in tensor.names}
            for spec in specs:
                tensor = by_name.get(spec.name)
                if tensor is None:
                    article = "an" if io.kind[:1] in "aeiou" else "a"
                    problems.append(
                        f"declared {kind} {spec.name!r} is not {article} {io.kind} {kind} {sorted(by_name)}"
                    )
                else:
                    problems += _spec_conflicts(kind, spec, tensor, io.kind)
        if problems:
            source = f"the {io.kind} built from " if io.kind != "graph" else ""
            raise VoxportRuntimeError(
                f"graph {self._name!r}: declared specs do not match {source}{self._model_path}: " + "; ".join(problems)
            )

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


def _spec_conflicts(kind: str, spec: TensorSpec, tensor: GraphTensor, where: str) -> list[str]:
    """How one declared spec contradicts the tensor the runtime reports (empty: it does not)."""
    problems = []
    if tensor.dtype is not None and tensor.dtype != spec.dtype:
        problems.append(f"{kind} {spec.name!r} is {tensor.dtype} in the {where}, declared {spec.dtype}")
    if tensor.shape is None:  # the runtime does not know the rank: no shape can conflict
        return problems
    if len(tensor.shape) != spec.rank:
        problems.append(
            f"{kind} {spec.name!r} has rank {len(tensor.shape)} in the {where} ({tensor.describe()}), "
            f"declared {spec.rank} ({spec.describe()})"
        )
        return problems
    for axis, (actual, dim) in enumerate(zip(tensor.shape, spec.shape, strict=True)):
        # A declared fixed size over a dynamic graph axis is a legitimate restriction, and a declared
        # axis name over a fixed graph axis only names it: only two different fixed sizes conflict.
        if isinstance(actual, int) and isinstance(dim, int) and actual != dim:
            problems.append(f"{kind} {spec.name!r} axis {axis} is {actual} in the {where}, declared {dim}")
    return problems


class Backend:
    """One runtime.  Subclasses set the class attributes, ``session_class`` at least, and extend
    ``describe``; :meth:`open` checks the precision, the options and the model file, then constructs
    ``session_class``, which loads the model and checks the specs against it."""

    name: ClassVar[str]  # canonical runtime name, e.g. "onnxruntime"
    aliases: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = ""  # pip extra that installs the runtime ("" = core dependency)
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    module: ClassVar[str] = ""  # top-level module whose presence means the runtime is installed
    # The RuntimeOptions.extra keys the backend understands; open() refuses others, so that a typo
    # raises instead of silently leaving the backend's default in place.
    extra_keys: ClassVar[tuple[str, ...]] = ()
    # True when ``RuntimeOptions.cache_dir`` holds compiled graphs that make the next start skip
    # compilation (OpenVINO's CACHE_DIR): the SDK then gives it a directory per bundle by default
    # (voxport.pipeline.compile_cache).
    caches_compiled: ClassVar[bool] = False
    session_class: ClassVar[type[Session]]

    @classmethod
    def is_available(cls) -> bool:
        """Cheap check (no import of the runtime): is the runtime library installed?"""
        return bool(cls.module) and find_spec(cls.module) is not None

    def device_precisions(self, device: str | None = None) -> tuple[str, ...]:
        """The precisions this backend runs natively on `device` (its default when None), as the runtime
        reports them; what a calibrated policy may use on this machine (voxport.runtimes.device_class)."""
        return tuple(self.precisions)

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
        VoxportRuntimeError when the options are not the backend's, the runtime rejects the model or
        the specs contradict it."""
        precision = str(precision).strip().lower()
        if precision not in self.precisions:
            raise UnsupportedPrecisionError(self.name, precision, self.precisions)
        options = options or RuntimeOptions()
        unknown = sorted(str(key) for key in set(options.extra) - set(self.extra_keys))
        if unknown:
            accepted = list(self.extra_keys) if self.extra_keys else "none"
            raise VoxportRuntimeError(
                f"graph {name!r}: runtime {self.name!r} does not understand RuntimeOptions.extra keys "
                f"{unknown}; it accepts {accepted}"
            )
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"graph {name!r}: model file not found: {path}")
        return self._open(path, tuple(inputs), tuple(outputs), precision, options, name)

    def _open(
        self,
        model_path: Path,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
        precision: str,
        options: RuntimeOptions,
        name: str,
    ) -> Session:
        """Create the session; arguments are already normalised and checked.  A backend overrides it
        only to choose among session classes."""
        return self.session_class(model_path, inputs, outputs, precision, options, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
