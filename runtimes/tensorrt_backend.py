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

import threading
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from .base import Backend, RuntimeOptions, Session, TensorSpec
from .errors import InputMismatchError, VoxportRuntimeError
from .tensorrt_build import (
    FP32_OPS,
    EngineCache,
    build_serialized_engine,
    default_engine_dir,
    derive_profile,
    engine_cache_key,
    sha256_file,
)

__all__ = ["TensorRTBackend", "TensorRTSession", "cuda_gpu_name"]

_EXTRA_KEYS = ("profiles", "fp32_ops", "workspace_bytes", "rebuild")


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
    """One graph as a TensorRT engine with one optimization profile and one execution context."""

    runtime = "tensorrt"

    def __init__(
        self,
        model_path: Path,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
        precision: str,
        options: RuntimeOptions,
        name: str,
    ) -> None:
        super().__init__(model_path, inputs, outputs, precision, options, name)
        import tensorrt as trt

        # Set first: close() (also called when a check below fails) releases whatever exists.
        self._buffers: dict[str, tuple[int, int]] = {}  # tensor -> (device pointer, bytes); grown, reused
        self._stream: Any = None
        self._context: Any = None
        unknown = sorted(set(options.extra) - set(_EXTRA_KEYS))
        if unknown:
            raise VoxportRuntimeError(f"graph {name!r}: runtime 'tensorrt' does not understand RuntimeOptions.extra "
                                      f"keys {unknown}; it accepts {list(_EXTRA_KEYS)}")
        self._cudart = _cudart()
        self._device_index = _device_index(options.device, name)
        gpu = cuda_gpu_name(self._device_index)
        if gpu is None:
            raise VoxportRuntimeError(f"graph {name!r}: runtime 'tensorrt' found no CUDA GPU {self._device_index}")
        _cuda(self._cudart.cudaSetDevice(self._device_index))
        try:
            self._profile = derive_profile(inputs, options.extra.get("profiles"))
        except ValueError as exc:
            raise VoxportRuntimeError(f"graph {name!r}: {exc}") from exc
        fp32_ops = tuple(options.extra.get("fp32_ops", FP32_OPS)) if precision == "fp16" else ()
        key = engine_cache_key(sha256_file(model_path), precision, trt.__version__, gpu, self._profile, fp32_ops)
        cache = EngineCache(options.cache_dir or default_engine_dir())
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._trt_runtime = trt.Runtime(self._logger)

        def build() -> bytes:
            return build_serialized_engine(model_path, self._profile, precision, name, fp32_ops,
                                           options.extra.get("workspace_bytes"), self._logger)

        if options.extra.get("rebuild"):
            data, self._from_cache = build(), False
            cache.store(key, data)
        else:
            data, self._from_cache = cache.get_or_build(key, build)
        self._engine = self._trt_runtime.deserialize_cuda_engine(data)
        if self._engine is None and self._from_cache:  # a damaged cache file: rebuild once
            data, self._from_cache = build(), False
            cache.store(key, data)
            self._engine = self._trt_runtime.deserialize_cuda_engine(data)
        if self._engine is None:
            raise VoxportRuntimeError(f"graph {name!r}: TensorRT could not deserialize the engine {cache.path(key)}")
        self._engine_path = cache.path(key)
        self._dtypes = {self._engine.get_tensor_name(i): np.dtype(trt.nptype(self._engine.get_tensor_dtype(
            self._engine.get_tensor_name(i)))) for i in range(self._engine.num_io_tensors)}
        self._check_against_engine(trt)
        self._context = self._engine.create_execution_context()
        self._stream = _cuda(self._cudart.cudaStreamCreate())
        self._lock = threading.Lock()  # one context and one set of buffers: one call at a time

    @property
    def engine_path(self) -> Path:
        return self._engine_path

    @property
    def loaded_from_cache(self) -> bool:
        return self._from_cache

    @property
    def profile(self) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
        return dict(self._profile)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart, ctx = self._cudart, self._context
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        with self._lock:
            # The CUDA device is per thread; a session may be used from a thread other than its opener's.
            _cuda(cudart.cudaSetDevice(self._device_index))
            keep = []  # host arrays must outlive the asynchronous copies (synchronised below)
            for spec in self.inputs:
                array = np.ascontiguousarray(feeds[spec.name])
                if not ctx.set_input_shape(spec.name, array.shape):
                    low, _, high = self._profile[spec.name]
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
        # Context before engine before runtime: each depends on the next.
        self._context = self._engine = self._trt_runtime = None

    def _check_against_engine(self, trt: Any) -> None:
        engine = self._engine
        modes = {engine.get_tensor_name(i): engine.get_tensor_mode(engine.get_tensor_name(i))
                 for i in range(engine.num_io_tensors)}
        problems = []
        for kind, specs, mode in (("input", self.inputs, trt.TensorIOMode.INPUT),
                                  ("output", self.outputs, trt.TensorIOMode.OUTPUT)):
            names = sorted(n for n, m in modes.items() if m == mode)
            for spec in specs:
                if spec.name not in names:
                    problems.append(f"declared {kind} {spec.name!r} is not an engine {kind} {names}")
                elif self._dtypes[spec.name] != spec.dtype:
                    problems.append(f"{kind} {spec.name!r} is {self._dtypes[spec.name]} in the engine, "
                                    f"declared {spec.dtype}")
        declared = {spec.name for spec in self.inputs}
        problems += [f"engine input {n!r} is not declared" for n, m in modes.items()
                     if m == trt.TensorIOMode.INPUT and n not in declared]
        if problems:
            self.close()
            raise VoxportRuntimeError(f"graph {self.name!r}: declared specs do not match the engine built from "
                                      f"{self.model_path}: " + "; ".join(problems))


class TensorRTBackend(Backend):
    """TensorRT 10 on a CUDA GPU; fp16 engines are built from the fp32 graph."""

    name = "tensorrt"
    aliases = ("trt",)
    extra = "tensorrt"
    module = "tensorrt"
    precisions = ("fp32", "fp16")
    compiled_precisions = ("fp16",)  # built from the fp32 graph file (see registry.variant_for)

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

    def _open(
        self,
        model_path: Path,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
        precision: str,
        options: RuntimeOptions,
        name: str,
    ) -> Session:
        return TensorRTSession(model_path, inputs, outputs, precision, options, name)
