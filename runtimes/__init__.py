"""Backends that run one ONNX graph each: a small common interface, one class per runtime."""

from .base import Backend, CallStats, RuntimeOptions, Session, TensorSpec, physical_core_count
from .errors import (
    InputMismatchError,
    RuntimeUnavailableError,
    UnsupportedPrecisionError,
    VoxportRuntimeError,
)
from .onnxruntime_cpu import OnnxRuntimeCPUBackend, OnnxRuntimeSession
from .registry import (
    KNOWN_RUNTIMES,
    available_runtimes,
    get_backend,
    open_session,
    register_backend,
    registered_backends,
)

__all__ = [
    "KNOWN_RUNTIMES",
    "Backend",
    "CallStats",
    "InputMismatchError",
    "OnnxRuntimeCPUBackend",
    "OnnxRuntimeSession",
    "RuntimeOptions",
    "RuntimeUnavailableError",
    "Session",
    "TensorSpec",
    "UnsupportedPrecisionError",
    "VoxportRuntimeError",
    "available_runtimes",
    "get_backend",
    "open_session",
    "physical_core_count",
    "register_backend",
    "registered_backends",
]
