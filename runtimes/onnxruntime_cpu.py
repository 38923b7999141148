"""onnxruntime on the CPU execution provider: the default runtime, always installed with voxport.

Its canonical name is "onnxruntime"; "cpu" (the name most users type) and "ort" are aliases.

onnxruntime is a core dependency but is still imported only when a session is opened (or
``describe`` is called), so ``import voxport.runtimes`` stays cheap and numpy-only.

Backend-specific ``RuntimeOptions.extra`` keys (anything else raises VoxportRuntimeError):

``optimized_model_path`` (str)
    Write the graph as optimised by onnxruntime to this file, to inspect what the optimiser fused.
``allow_spinning`` (bool, voxport's default: False; onnxruntime's own default is True)
    Whether idle intra-op threads busy-wait, during and after a call.  voxport runs four sessions back
    to back, each with its own pool: a spinning pool of the stage that just finished steals the cores
    from the next stage.  Measured on 2 cores (benchmarks/split_vs_monolith.py): with spinning the split
    pipeline took 1.36x the monolith's time, without it 0.93x.  Set, it overrides ``RuntimeOptions.spin``.

``RuntimeOptions.spin`` spins only while a call runs (onnxruntime's ``session.force_spinning_stop``: the
threads stop busy-waiting when the call returns, so the next stage's pool has the cores): one voice
alone on 2 cores ran 2-4 % faster in one process and 5.5 % faster served (the server's copy for a lone
request uses it), but two voices running at once lost 21-29 % (docs/serving.md). Pools of one thread
have no threads to spin: it changes nothing there.
``graph_optimization_level`` ("disable" | "basic" | "extended" | "all", default "all")
    Lower it to bisect a numerical difference against the unoptimised graph.
``session_config`` (dict[str, str])
    Raw ``SessionOptions.add_session_config_entry`` pairs, an escape hatch for onnxruntime knobs
    voxport does not name.

One pool for the whole process: ``share_thread_pool(threads)``, called before the first session opens,
makes every onnxruntime session of the process run its operators on one pool of `threads` (onnxruntime's
global thread pools; ``RuntimeOptions.threads`` and ``allow_spinning`` no longer apply). A server uses it so
that a request running alone gets every core and concurrent requests share them (see its docstring).

``RuntimeOptions.device`` must be None or "cpu"; ``cache_dir`` is not used (onnxruntime's
optimised graphs are hardware-specific and load quickly enough that caching them is not worth the
invalidation risk).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend, GraphIO, GraphTensor, RuntimeOptions, Session
from .cores import physical_core_count
from .errors import VoxportRuntimeError

__all__ = ["OnnxRuntimeCPUBackend", "OnnxRuntimeSession", "share_thread_pool", "shared_pool_threads"]

_PROVIDER = "CPUExecutionProvider"
_LOG_ERRORS_ONLY = 3  # onnxruntime severities: 0 verbose .. 3 error, 4 fatal

_OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}

# onnxruntime's type strings for the dtypes a TTS graph can carry; others are not checked at open.
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


class OnnxRuntimeSession(Session):
    """One graph in an ``onnxruntime.InferenceSession`` restricted to the CPU provider."""

    runtime = "onnxruntime"
    concurrent = True  # InferenceSession.run is thread-safe, and _run keeps no state between calls

    def _load(self) -> None:
        self._sess: Any = None
        if self.options.device not in (None, "cpu"):
            raise VoxportRuntimeError(
                f"graph {self.name!r}: runtime {self.runtime!r} has no device {self.options.device!r}; "
                "use None or 'cpu'"
            )
        import onnxruntime as ort

        self._session_options = _session_options(ort, self.options, self.name)
        try:
            self._sess = ort.InferenceSession(
                str(self.model_path), sess_options=self._session_options, providers=[_PROVIDER]
            )
        except Exception as exc:  # onnxruntime raises its own pybind types; give one with context
            raise VoxportRuntimeError(
                f"graph {self.name!r}: onnxruntime could not load {self.model_path}: {exc}"
            ) from exc
        self._output_names = [spec.name for spec in self.outputs]
        self._run_options = None
        if self.options.lean:  # the arena hands back what the call did not keep, at the end of each call
            self._run_options = ort.RunOptions()
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    @property
    def session_options(self) -> Any:
        """The ``onnxruntime.SessionOptions`` the session was built with."""
        return self._session_options

    @property
    def ort_session(self) -> Any:
        """The underlying ``onnxruntime.InferenceSession`` (for profiling or IO binding)."""
        self._ensure_open()
        return self._sess

    def _graph_io(self) -> GraphIO:
        # A manifest may declare an overridable initializer as an input (to feed it), but need not.
        inputs = [_graph_tensor(arg) for arg in self._sess.get_inputs()]
        inputs += [_graph_tensor(arg, required=False) for arg in self._sess.get_overridable_initializers()]
        return GraphIO(tuple(inputs), tuple(_graph_tensor(arg) for arg in self._sess.get_outputs()))

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # Ask for the declared outputs only: a manifest may expose a subset of the graph's outputs.
        results = self._sess.run(self._output_names, feeds, self._run_options)
        return dict(zip(self._output_names, results, strict=True))

    def _close(self) -> None:
        # onnxruntime frees the session (and its thread pool) when the last reference goes.
        self._sess = None


def _graph_tensor(arg: Any, required: bool = True) -> GraphTensor:
    # Dims are ints, dim_param names or None; an unknown shape is None (or not a list at all).
    shape = tuple(arg.shape) if isinstance(arg.shape, (list, tuple)) else None
    return GraphTensor(arg.name, _ORT_DTYPES.get(arg.type), shape, required=required)


_shared_pool_size: int | None = None  # set once, by share_thread_pool


def share_thread_pool(threads: int | None = None) -> int:
    """Run every onnxruntime session this process opens from now on on one intra-op pool of `threads`
    (default: the physical cores); returns the pool's size. Idempotent; a later call cannot resize it.

    Why: with a pool per session, a call uses the threads its session was opened with, whether or not the
    other cores are idle; a server then needs a copy per thread count. With one pool, a call running alone
    spreads over every core and concurrent calls share them, and the pool's threads may spin between
    operators (onnxruntime's global pools always do) without one stage's pool stealing the cores from the
    next stage's, which is what makes spinning lose with a pool per session. Sessions opened before the
    call keep their own pools.
    """
    global _shared_pool_size
    if _shared_pool_size is not None:
        return _shared_pool_size
    import onnxruntime.capi._pybind_state as ort_state

    size = max(1, int(threads or physical_core_count()))
    try:
        ort_state.set_global_thread_pool_sizes(size, 1)
    except Exception as exc:  # onnxruntime's own type: the pools exist already (set by other code)
        raise VoxportRuntimeError(f"onnxruntime could not share one thread pool: {exc}") from exc
    _shared_pool_size = size
    return size


def shared_pool_threads() -> int | None:
    """The size of the process-wide pool, or None while sessions keep their own pools."""
    return _shared_pool_size


def _session_options(ort: Any, options: RuntimeOptions, name: str) -> Any:
    so = ort.SessionOptions()
    threads = options.threads or physical_core_count()
    if _shared_pool_size is not None:  # onnxruntime refuses a session with its own pool once the global pools exist
        so.use_per_session_threads = False
    else:
        so.intra_op_num_threads = threads
        # TTS graphs are chains of dependent ops: inter-op parallelism only adds a second thread pool.
        so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = _LOG_ERRORS_ONLY
    level = str(options.extra.get("graph_optimization_level", "all")).lower()
    if level not in _OPTIMIZATION_LEVELS:
        raise VoxportRuntimeError(
            f"graph {name!r}: graph_optimization_level must be one of {list(_OPTIMIZATION_LEVELS)}, "
            f"got {level!r}"
        )
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPTIMIZATION_LEVELS[level])
    if "optimized_model_path" in options.extra:
        so.optimized_model_filepath = str(options.extra["optimized_model_path"])
    if "allow_spinning" in options.extra:
        spinning = bool(options.extra["allow_spinning"])
    elif options.spin and _shared_pool_size is None and threads > 1:
        spinning = True
        so.add_session_config_entry("session.force_spinning_stop", "1")
    else:
        spinning = False
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    for key, value in dict(options.extra.get("session_config", {})).items():
        so.add_session_config_entry(str(key), str(value))
    return so


class OnnxRuntimeCPUBackend(Backend):
    """onnxruntime with ``CPUExecutionProvider`` only, so results never depend on which other
    providers happen to be installed (onnxruntime-gpu would otherwise pick CUDA silently)."""

    name = OnnxRuntimeSession.runtime
    # "cpu" is the name users type and older manifests store (it was the canonical name until voxport
    # had more than one runtime, several of which run on the CPU).
    aliases = ("cpu", "ort")
    extra = ""  # core dependency
    module = "onnxruntime"
    extra_keys = ("optimized_model_path", "allow_spinning", "graph_optimization_level", "session_config")
    session_class = OnnxRuntimeSession
    # int8 is a separate calibrated (QDQ) graph file written by `voxport calibrate`; this backend just
    # loads it (onnxruntime fuses Q/DQ around convolutions into int8 kernels).
    # fp16 belongs to GPU providers (a separate backend class, e.g. "cuda"): the CPU provider lacks
    # fp16 kernels for most ops and wraps them in casts, so fp16 graphs gain nothing here.
    precisions = ("fp32", "int8")

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["devices"] = ["cpu"]
        info["default_threads"] = physical_core_count()
        if info["available"]:
            import onnxruntime as ort

            info["version"] = ort.__version__
        return info
