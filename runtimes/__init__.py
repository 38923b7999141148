"""Backends that run one ONNX graph each: a small common interface, one class per runtime
(onnxruntime CPU, OpenVINO, TensorRT; the last two are optional extras imported lazily)."""

from .base import Backend, CallStats, RuntimeOptions, Session, TensorSpec, physical_core_count
from .errors import (
    InputMismatchError,
    RuntimeUnavailableError,
    UnsupportedPrecisionError,
    VoxportRuntimeError,
)
from .onnxruntime_cpu import OnnxRuntimeCPUBackend, OnnxRuntimeSession
from .openvino_backend import DevicePrecisionError, OpenVINOBackend, OpenVINOSession
from .registry import (
    KNOWN_RUNTIMES,
    available_runtimes,
    get_backend,
    open_session,
    register_backend,
    registered_backends,
    variant_for,
)
from .tensorrt_backend import TensorRTBackend, TensorRTSession

__all__ = [
    "KNOWN_RUNTIMES",
    "Backend",
    "CallStats",
    "DevicePrecisionError",
    "InputMismatchError",
    "OnnxRuntimeCPUBackend",
    "OnnxRuntimeSession",
    "OpenVINOBackend",
    "OpenVINOSession",
    "RuntimeOptions",
    "RuntimeUnavailableError",
    "Session",
    "TensorRTBackend",
    "TensorRTSession",
    "TensorSpec",
    "UnsupportedPrecisionError",
    "VoxportRuntimeError",
    "available_runtimes",
    "get_backend",
    "open_session",
    "physical_core_count",
    "register_backend",
    "registered_backends",
    "variant_for",
]
