"""TensorRT 10 on an NVIDIA GPU: engines built (or loaded from the engine cache) at open, run by name.

Needs the ``tensorrt`` extra (the ``tensorrt`` wheel and ``cuda-python`` for device memory and
streams); both are imported only when a session is opened.  Building lives in
runtimes/tensorrt_build.py; this module deserializes and runs: name-based I/O
(``set_input_shape`` / ``set_tensor_address``) and ``execute_async_v3`` on the session's own stream.

``RuntimeOptions`` as used here: ``device`` None, "cuda" or "cuda:N" (GPU index, default 0);
``threads`` is ignored (GPU); ``cache_dir`` is where engines are kept (default
``<voxport cache>/tensorrt``), keyed by graph sha256 + precision + TensorRT version + GPU name + a
hash of the build settings.  The first open of a graph builds its engine, which takes minutes for the
vocoder; later opens load it in a fraction of a second.

Fixed shapes (``Session.prepare_buckets``, called by the SDK's fixed-shape runner at load): the
session builds -- or loads from the same cache, keyed by the bucket shapes -- a second engine with one
optimization profile per bucket (min = opt = max = the bucket on that axis, other axes as below) and
one execution context per profile.  A call at a bucket size runs on its bucket's context; a call at any
other size runs on the single-profile engine, as without buckets.  Not run on a GPU yet: this path is
tested against fakes of TensorRT and CUDA only (tests/test_tensorrt_buckets.py).

Backend-specific ``RuntimeOptions.extra`` keys (anything else raises VoxportRuntimeError):

``profiles`` (dict axis name -> (min, opt, max))
    Overrides of :data:`~voxport.runtimes.tensorrt_build.DEFAULT_AXIS_RANGES`, e.g.
    ``{"phonemes": (1, 64, 512), "frames": (1, 256, 4096)}``.  Calls with sizes outside the profile
    are refused with the range in the message.
``fp32_ops`` (iterable of str, default ``FP32_OPS``)
    Ops kept in fp32 in fp16 builds of the flow and duration predictor; ``()`` pins nothing.
``workspace_bytes`` (int)
    Builder workspace limit (TensorRT's default: the whole device memory).
``rebuild`` (bool)
    Build even when the cache has the engine, and replace it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from .base import Backend, GraphIO, GraphTensor, Session
from .errors import InputMismatchError, VoxportRuntimeError
from .tensorrt_build import (
    FP32_OPS,
    EngineCache,
    Profile,
    build_serialized_engine,
    default_engine_dir,
    derive_profile,
    engine_cache_key,
    sha256_file,
)
from .tensorrt_profiles import bucket_profiles, bucket_sizes, call_size, has_axis, profile_contexts

__all__ = ["TensorRTBackend", "TensorRTSession", "cuda_gpu_name"]

log = logging.getLogger(__name__)


def _cudart() -> Any:
    """cuda-python's runtime module: ``cuda.bindings.runtime`` since 12.6, ``cuda.cudart`` before."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        from cuda import cudart
    return cudart


def _cuda(result: Any) -> Any:
    """Unwrap a cuda-python call: it returns (error, values...) instead of raising."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(getattr(err, "value", err)) != 0:  # cudaSuccess is 0 in every cuda-python version
        raise VoxportRuntimeError(f"CUDA error: {err}")
    return values[0] if len(values) == 1 else tuple(values)


def cuda_gpu_name(index: int = 0) -> str | None:
    """Name of CUDA GPU ``index``, or None without cuda-python, a driver, or that GPU."""
    try:
        cudart = _cudart()
        count = _cuda(cudart.cudaGetDeviceCount())
        if index >= count:
            return None
        name = _cuda(cudart.cudaGetDeviceProperties(index)).name
    except (ImportError, VoxportRuntimeError, OSError):
        return None
    return (name.decode(errors="replace") if isinstance(name, bytes) else str(name)).rstrip("\x00").strip()


def _device_index(device: str | None, name: str) -> int:
    text = (device or "cuda").strip().lower()
    head, _, index = text.partition(":")
    if head != "cuda" or (index and not index.isdigit()):
        raise VoxportRuntimeError(f"graph {name!r}: runtime 'tensorrt' takes device None, 'cuda' or 'cuda:N', "
                                  f"got {device!r}")
    return int(index or 0)


class TensorRTSession(Session):
    """One graph as a TensorRT engine with one optimization profile and one execution context, plus,
    once :meth:`prepare_buckets` is called, an engine with one profile and one context per bucket.

    One context per bucket rather than one context switched with ``set_optimization_profile_async``:
    after a profile switch or a shape change TensorRT recomputes shapes and per-tactic resources on the
    next ``execute_async_v3`` (TensorRT 10 performance guide, "Overhead of Shape Change and
    Optimization Profile Switching"), and consecutive sentences land in different buckets, so a switched
    context would pay that on most calls.  A context that only ever sees its own bucket's shape pays it
    once, at warm-up.  Contexts are created with ``ON_PROFILE_CHANGE`` allocation ("reallocate for a
    profile when it's selected"), so each should hold its own bucket's activation memory rather than the
    largest profile's; not measured (no GPU here).
    """

    runtime = "tensorrt"

    def _load(self) -> None:
        # Set first: close() (also called when opening fails) releases whatever exists.
        self._buffers: dict[str, tuple[int, int]] = {}  # tensor -> (device pointer, bytes); grown, reused
        self._stream: Any = None
        self._context: Any = None
        self._engine: Any = None
        self._trt_runtime: Any = None
        self._buckets: tuple[str, tuple[int, ...]] | None = None  # (axis, sizes) of the bucket engine
        self._bucket_engine: Any = None
        self._bucket_contexts: list[Any] = []  # context i runs profile i = the i-th smallest bucket
        self._bucket_profiles: list[Profile] = []
        self._bucket_engine_path: Path | None = None
        self._buckets_from_cache: bool | None = None
        self._warned_off_bucket = False
        self._device_index = _device_index(self.options.device, self.name)
        import tensorrt as trt

        self._cudart = _cudart()
        gpu = cuda_gpu_name(self._device_index)
        if gpu is None:
            raise VoxportRuntimeError(f"graph {self.name!r}: runtime 'tensorrt' found no CUDA GPU {self._device_index}")
        _cuda(self._cudart.cudaSetDevice(self._device_index))
        self._engine = self._load_engine(trt, gpu)
        self._dtypes = {name: np.dtype(trt.nptype(self._engine.get_tensor_dtype(name))) for name in self._io_names()}
        self._context = self._engine.create_execution_context()
        self._stream = _cuda(self._cudart.cudaStreamCreate())
        self._lock = threading.Lock()  # one set of buffers and one stream: one call at a time

    def _load_engine(self, trt: Any, gpu: str) -> Any:
        """The single-profile engine, from the cache or built."""
        try:
            self._profile = derive_profile(self.inputs, self.options.extra.get("profiles"))
        except ValueError as exc:
            raise VoxportRuntimeError(f"graph {self.name!r}: {exc}") from exc
        self._gpu = gpu
        self._graph_sha256 = sha256_file(self.model_path)
        # The exporter's hint says which graphs hold ops that overflow in fp16 (flows, duration predictors).
        pinned = FP32_OPS if self.options.hints.get("keep_fp32_ops") else ()
        self._fp32_ops = tuple(self.options.extra.get("fp32_ops", pinned)) if self.precision == "fp16" else ()
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._trt_runtime = trt.Runtime(self._logger)
        engine, self._engine_path, self._from_cache = self._cached_engine(trt, self._profile)
        return engine

    def _cached_engine(self, trt: Any, profiles: Profile | list[Profile]) -> tuple[Any, Path, bool]:
        """(engine, its cache file, whether it came from disk): loaded from the cache, or built (and
        cached) when the cache lacks it or holds a damaged copy."""
        name, options, precision = self.name, self.options, self.precision
        key = engine_cache_key(self._graph_sha256, precision, trt.__version__, self._gpu, profiles, self._fp32_ops)
        cache = EngineCache(options.cache_dir or default_engine_dir())

        def build() -> bytes:
            return build_serialized_engine(self.model_path, profiles, precision, name, self._fp32_ops,
                                           options.extra.get("workspace_bytes"), self._logger)

        if options.extra.get("rebuild"):
            data, from_cache = build(), False
            cache.store(key, data)
        else:
            data, from_cache = cache.get_or_build(key, build)
        engine = self._trt_runtime.deserialize_cuda_engine(data)
        if engine is None and from_cache:  # a damaged cache file: rebuild once
            data, from_cache = build(), False
            cache.store(key, data)
            engine = self._trt_runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise VoxportRuntimeError(f"graph {name!r}: TensorRT could not deserialize the engine {cache.path(key)}")
        return engine, cache.path(key), from_cache

    def prepare_buckets(self, axis: str, sizes: Sequence[int], *, specialize: bool = False) -> None:
        """Build (or load from the engine cache) an engine with one optimization profile per bucket of
        ``axis`` and one execution context per profile; later calls at a bucket size run on it.
        (TensorRT specialises every bucket this way, so ``specialize`` changes nothing here.)

        A no-op when the graph has no input with ``axis`` (its engine does not depend on it) or when
        these buckets are already prepared: only a changed bucket list builds again.  Calls at other
        sizes keep running on the single-profile engine; its context (whose device memory is sized for
        that profile's largest shapes) is released here and created again on the first such call.
        """
        self._ensure_open()
        try:
            sizes = bucket_sizes(sizes)
            if not has_axis(self.inputs, axis) or self._buckets == (axis, sizes):
                return
            profiles = bucket_profiles(self.inputs, axis, sizes, self.options.extra.get("profiles"))
        except ValueError as exc:
            raise VoxportRuntimeError(f"graph {self.name!r}: {exc}") from exc
        import tensorrt as trt

        with self._lock:
            _cuda(self._cudart.cudaSetDevice(self._device_index))
            self._drop_buckets()  # before building: the old contexts' memory is freed for the builder
            engine, path, from_cache = self._cached_engine(trt, profiles)
            contexts = profile_contexts(trt, engine, len(sizes), self._stream, self.name)
            _cuda(self._cudart.cudaStreamSynchronize(self._stream))
            self._bucket_engine, self._bucket_contexts, self._bucket_profiles = engine, contexts, profiles
            self._buckets, self._bucket_engine_path, self._buckets_from_cache = (axis, sizes), path, from_cache
            self._context = None

    def _drop_buckets(self) -> None:
        # Contexts before their engine: each context depends on it.
        self._bucket_contexts, self._bucket_profiles = [], []
        self._bucket_engine = self._buckets = self._bucket_engine_path = self._buckets_from_cache = None

    def _context_for(self, feeds: dict[str, np.ndarray]) -> tuple[Any, Profile]:
        """The context a call runs on, with its profile: its bucket's, else the single-profile one."""
        if self._buckets is not None:
            axis, sizes = self._buckets
            size = call_size(self.inputs, feeds, axis)
            if size in sizes:
                index = sizes.index(size)
                return self._bucket_contexts[index], self._bucket_profiles[index]
            if not self._warned_off_bucket:
                log.warning("graph %r: a call with %s=%s, not a prepared bucket %s, runs on the single-profile "
                            "engine", self.name, axis, size, list(sizes))
                self._warned_off_bucket = True
        if self._context is None:
            self._context = self._engine.create_execution_context()
            if self._context is None:
                raise VoxportRuntimeError(f"graph {self.name!r}: TensorRT could not create an execution context "
                                          "(out of GPU memory?)")
        return self._context, self._profile

    def _io_names(self) -> list[str]:
        return [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]

    @property
    def engine_path(self) -> Path:
        return self._engine_path

    @property
    def loaded_from_cache(self) -> bool:
        return self._from_cache

    @property
    def profile(self) -> Profile:
        """The single-profile engine's profile (every call without buckets, or off them, runs on it)."""
        return dict(self._profile)

    @property
    def buckets(self) -> tuple[str, tuple[int, ...]] | None:
        """(axis, sizes) of the bucket engine, or None before :meth:`prepare_buckets`."""
        return self._buckets

    @property
    def bucket_profiles(self) -> list[Profile]:
        """The bucket engine's profiles, in bucket order (empty without buckets)."""
        return list(self._bucket_profiles)

    @property
    def bucket_engine_path(self) -> Path | None:
        return self._bucket_engine_path

    @property
    def buckets_loaded_from_cache(self) -> bool | None:
        return self._buckets_from_cache

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart = self._cudart
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        with self._lock:
            # The CUDA device is per thread; a session may be used from a thread other than its opener's.
            _cuda(cudart.cudaSetDevice(self._device_index))
            ctx, profile = self._context_for(feeds)
            keep = []  # host arrays must outlive the asynchronous copies (synchronised below)
            for spec in self.inputs:
                array = np.ascontiguousarray(feeds[spec.name])
                if not ctx.set_input_shape(spec.name, array.shape):
                    low, _, high = profile[spec.name]
                    raise InputMismatchError(self.name, spec.name, "outside the TensorRT optimization profile",
                                             f"shape between {low} and {high} (RuntimeOptions.extra['profiles'])",
                                             str(array.shape))
                pointer = self._buffer(spec.name, array.nbytes)
                _cuda(cudart.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, h2d, self._stream))
                ctx.set_tensor_address(spec.name, pointer)
                keep.append(array)
            results = {}
            for spec in self.outputs:
                shape = tuple(ctx.get_tensor_shape(spec.name))
                if any(d < 0 for d in shape):
                    raise VoxportRuntimeError(f"graph {self.name!r}: output {spec.name!r} has a data-dependent "
                                              f"shape {shape}, which this backend does not support")
                results[spec.name] = np.empty(shape, self._dtypes[spec.name])
                ctx.set_tensor_address(spec.name, self._buffer(spec.name, results[spec.name].nbytes))
            if not ctx.execute_async_v3(int(self._stream)):
                raise VoxportRuntimeError(f"graph {self.name!r}: TensorRT execute_async_v3 failed (see its log)")
            for spec in self.outputs:
                host = results[spec.name]
                _cuda(cudart.cudaMemcpyAsync(host.ctypes.data, self._buffers[spec.name][0], host.nbytes, d2h,
                                             self._stream))
            _cuda(cudart.cudaStreamSynchronize(self._stream))
        return results

    def _buffer(self, tensor: str, nbytes: int) -> int:
        pointer, size = self._buffers.get(tensor, (0, 0))
        if nbytes > size or not pointer:
            if pointer:
                _cuda(self._cudart.cudaFree(pointer))
            size = max(nbytes, 2 * size, 256)  # grow geometrically: lengths vary call by call
            pointer = int(_cuda(self._cudart.cudaMalloc(size)))
            self._buffers[tensor] = (pointer, size)
        return pointer

    def _close(self) -> None:
        for pointer, _ in self._buffers.values():
            self._cudart.cudaFree(pointer)
        self._buffers.clear()
        if self._stream is not None:
            self._cudart.cudaStreamDestroy(self._stream)
            self._stream = None
        # Contexts before engines before runtime: each depends on the next.
        self._drop_buckets()
        self._context = self._engine = self._trt_runtime = None

    def _graph_io(self) -> GraphIO:
        import tensorrt as trt

        tensors: dict[bool, list[GraphTensor]] = {True: [], False: []}  # is an input -> tensors
        for name in self._io_names():
            # -1 marks a dimension the optimization profile leaves dynamic.
            shape = tuple(d if d >= 0 else None for d in self._engine.get_tensor_shape(name))
            is_input = self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            tensors[is_input].append(GraphTensor(name, self._dtypes[name].name, shape))
        return GraphIO(tuple(tensors[True]), tuple(tensors[False]), kind="engine")


class TensorRTBackend(Backend):
    """TensorRT 10 on a CUDA GPU; fp16 engines are built from the fp32 graph."""

    name = "tensorrt"
    aliases = ("trt",)
    extra = "tensorrt"
    module = "tensorrt"
    precisions = ("fp32", "fp16")
    compiled_precisions = ("fp16",)  # built from the fp32 graph file (see registry.compiles_precision)
    extra_keys = ("profiles", "fp32_ops", "workspace_bytes", "rebuild")
    session_class = TensorRTSession

    @classmethod
    def is_available(cls) -> bool:
        # Both halves of the extra, found without importing either (importing tensorrt loads CUDA).
        return find_spec("tensorrt") is not None and find_spec("cuda") is not None

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        if info["available"]:
            import tensorrt as trt

            info["version"] = trt.__version__
            info["devices"] = [f"cuda:0 ({gpu})"] if (gpu := cuda_gpu_name(0)) else []
            info["engine_cache"] = str(default_engine_dir())
        return info
