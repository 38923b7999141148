"""Backends that run one ONNX graph each: a small common interface, one class per runtime
(onnxruntime on the CPU, OpenVINO, TensorRT; the last two are optional extras imported lazily).

Runtime names are case-insensitive and have aliases ("cpu" and "ort" for "onnxruntime", "ov",
"trt"); :func:`canonical_runtime` maps any of them to the one name records should be keyed by."""

from .base import Backend, CallStats, GraphIO, GraphTensor, RuntimeOptions, Session, TensorSpec, physical_core_count
from .errors import (
    InputMismatchError,
    RuntimeUnavailableError,
    UnsupportedPrecisionError,
    VoxportRuntimeError,
)
from .onnxruntime_cpu import OnnxRuntimeCPUBackend, OnnxRuntimeSession, share_thread_pool, shared_pool_threads
from .openvino_backend import DevicePrecisionError, OpenVINOBackend, OpenVINOSession
from .registry import (
    KNOWN_RUNTIMES,
    available_runtimes,
    canonical_runtime,
    compiles_precision,
    get_backend,
    open_session,
    register_backend,
    registered_backends,
)
from .shapes import FIXED_SHAPE_RUNTIMES, ShapePlan
from .tensorrt_backend import TensorRTBackend, TensorRTSession

__all__ = [
    "FIXED_SHAPE_RUNTIMES",
    "KNOWN_RUNTIMES",
    "Backend",
    "CallStats",
    "DevicePrecisionError",
    "GraphIO",
    "GraphTensor",
    "InputMismatchError",
    "OnnxRuntimeCPUBackend",
    "OnnxRuntimeSession",
    "OpenVINOBackend",
    "OpenVINOSession",
    "RuntimeOptions",
    "RuntimeUnavailableError",
    "Session",
    "ShapePlan",
    "TensorRTBackend",
    "TensorRTSession",
    "TensorSpec",
    "UnsupportedPrecisionError",
    "VoxportRuntimeError",
    "available_runtimes",
    "canonical_runtime",
    "get_backend",
    "open_session",
    "physical_core_count",
    "register_backend",
    "registered_backends",
    "compiles_precision",
    "share_thread_pool",
    "shared_pool_threads",
]
