"""OpenVINO: one compiled model per graph, for CPU, GPU, NPU or a virtual device such as AUTO.

``openvino`` is the ``openvino`` pip extra and is imported only when a session is opened (or
``describe`` is called).  The precision is a compile-time hint applied to the fp32 graph
(``INFERENCE_PRECISION_HINT``), not a separate graph file.

``RuntimeOptions`` as used here:

``device`` (default "CPU")
    Passed through to ``compile_model``: "CPU", "GPU", "GPU.1", "NPU", "AUTO", "AUTO:GPU,CPU", ...
``threads``
    ``INFERENCE_NUM_THREADS``; only sent to devices that have the property (CPU and the virtual
    devices that forward it), since GPU and NPU plugins reject properties they do not know.
``cache_dir``
    ``CACHE_DIR``: OpenVINO stores the compiled blob there, keyed by model, device and config, so a
    second load skips compilation (and ``OpenVINOSession.loaded_from_cache`` says so). A directory that
    cannot be created, or a compilation that fails with it, warns and compiles without it: a cache
    never fails a load (OpenVINO itself recompiles over a blob it cannot import). ``Voice.load`` sets
    one per bundle by default (voxport.pipeline.compile_cache).

Backend-specific ``RuntimeOptions.extra`` keys (anything else raises VoxportRuntimeError):

``config`` (dict[str, Any])
    Raw OpenVINO properties merged over voxport's, an escape hatch for knobs voxport does not name
    (e.g. ``{"ENABLE_CPU_PINNING": False}``).
``allow_slow_precision`` (bool, default False)
    Run a reduced precision that the device emulates (see below) with a :class:`SlowPrecisionWarning`
    instead of refusing it.
``bucket_copies`` (bool, default True)
    When the fixed-shape runner asks for it (``prepare_buckets(..., specialize=True)``), compile a static
    copy of the graph per bucket (:mod:`.openvino_buckets`: faster calls, more memory and load time);
    False keeps the one dynamic model.

Precision is checked, never silently substituted: OpenVINO's CPU plugin quietly runs bf16 when f16 is
asked on a CPU without fp16 arithmetic (and f32 when bf16 is asked without bf16), so a device whose
``OPTIMIZATION_CAPABILITIES`` lacks the precision, or a compiled model that reports another one,
raises :class:`DevicePrecisionError`.

Precision is also checked for speed: a device may list a precision and still emulate it (fp16 on an
Intel Xeon with AVX512-FP16 ran about 250x slower than bf16). Opening bf16, fp16 or int8-bf16 first
times a tiny probe model at f32 and at that precision on the device (:mod:`.openvino_probe`, once
per device and precision per process); slower than f32 by more than ``MAX_SLOWDOWN`` (2x) raises
:class:`DevicePrecisionError` naming the measured factor, or warns with ``allow_slow_precision``.

The default precision hint of OpenVINO's CPU plugin is bf16 on CPUs with bf16 instructions; voxport
always sends the hint, so "fp32" means f32 on every machine.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import Backend, GraphIO, GraphTensor, RuntimeOptions, Session
from .cores import physical_core_count
from .errors import UnsupportedPrecisionError, VoxportRuntimeError
from .openvino_buckets import BucketCopies
from .openvino_probe import MAX_SLOWDOWN, Probe, measure

__all__ = ["OpenVINOBackend", "OpenVINOSession", "DevicePrecisionError", "SlowPrecisionWarning", "shared_core"]

# voxport precision -> (INFERENCE_PRECISION_HINT value, OPTIMIZATION_CAPABILITIES entries needed)
# int8 runs a calibrated QDQ graph (voxport calibrate): its quantized ops run int8, the rest f32;
# int8-bf16 runs the same graph with the rest in bf16.
_PRECISIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fp32": ("f32", ("FP32",)), "bf16": ("bf16", ("BF16",)), "fp16": ("f16", ("FP16",)),
    "int8": ("f32", ("INT8",)), "int8-bf16": ("bf16", ("INT8", "BF16")),
}
# What compiled models report back for the hint (ov.Type names).
_REPORTED = {"f32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "f16": "fp16", "float16": "fp16"}
# Virtual devices take hardware properties in compile_model's config and forward them.
_VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")

_core: Any = None
_core_pid: int | None = None
_core_lock = threading.Lock()


def shared_core() -> Any:
    """The process's one ``openvino.Core``, created on first use.

    A Core loads device plugins and owns their thread pools; one per session would load every plugin
    four times per voice.  Keyed by pid because a Core inherited through ``fork`` holds thread pools
    whose threads did not survive the fork.
    """
    global _core, _core_pid
    with _core_lock:
        if _core is None or _core_pid != os.getpid():
            import openvino as ov

            _core, _core_pid = ov.Core(), os.getpid()
        return _core


class DevicePrecisionError(UnsupportedPrecisionError):
    """The OpenVINO device cannot run the requested precision (the backend can, elsewhere)."""

    def __init__(self, precision: str, supported: Sequence[str], device: str, detail: str) -> None:
        self.device = device
        self.detail = detail
        super().__init__("openvino", precision, supported)
        self.args = (f"{self.args[0]} on device {device!r}: {detail}",)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.precision, self.supported, self.device, self.detail))


class SlowPrecisionWarning(RuntimeWarning):
    """A reduced precision runs far slower than f32 on the device, and ``allow_slow_precision`` ran it anyway."""


class OpenVINOSession(Session):
    """One graph compiled by OpenVINO, run through one reused infer request."""

    runtime = "openvino"

    def _load(self) -> None:
        self._compiled: Any = None
        self._request: Any = None
        self._device = self.options.device or "CPU"
        self._probes: list[Probe] = []
        core = shared_core()
        config = self._config = _compile_config(core, self._device, self.precision, self.options, self.name)
        self._copies: BucketCopies | None = None
        virtual = _base_device(self._device) in _VIRTUAL_DEVICES
        if not virtual:  # fail before a compilation that can take seconds
            _check_capability(core, [self._device], self.precision)
            self._probes = _check_speed(core, [self._device], self.precision, self.options)
        self._compiled = self._compile(core, config)
        self._check_precision_applied(core)
        if virtual:  # the devices AUTO/MULTI picked are known only now
            self._probes = _check_speed(core, _execution_devices(self._compiled, self._device), self.precision,
                                        self.options)
        self._request = self._compiled.create_infer_request()
        # Looked up without compiled.output(name), which raises on a name the graph lacks: the base
        # class's spec check reports that, with every other mismatch, right after _load.
        ports = {name: port for port in self._compiled.outputs for name in port.get_names()}
        self._ports = [(spec.name, ports.get(spec.name)) for spec in self.outputs]
        # One infer request holds the input/output tensors of one call; sessions may be shared
        # between threads (the base class allows it), so calls on it are serialised.
        self._lock = threading.Lock()

    def _compile(self, core: Any, config: dict[str, Any]) -> Any:
        try:
            # From the path, not a read model: with CACHE_DIR set OpenVINO then hashes the file and
            # can load the cached blob without parsing the ONNX at all.
            return core.compile_model(str(self.model_path), self._device, config)
        except Exception as exc:
            error = exc
        if "CACHE_DIR" in config:
            # OpenVINO recompiles a blob it cannot import, but a cache it cannot read or write (a full
            # disk, a blob another version left) must cost a compilation, never the load.
            warnings.warn(f"graph {self.name!r}: OpenVINO failed with the compile cache {config['CACHE_DIR']} "
                          f"({error}); compiling without it", RuntimeWarning, stacklevel=3)
            del config["CACHE_DIR"]
            try:
                return core.compile_model(str(self.model_path), self._device, config)
            except Exception as exc:
                error = exc
        raise VoxportRuntimeError(f"graph {self.name!r}: OpenVINO could not compile {self.model_path} for "
                                  f"device {self._device!r}: {error}") from error

    @property
    def device(self) -> str:
        return self._device

    @property
    def compiled_model(self) -> Any:
        """The underlying ``openvino.CompiledModel`` (for properties and profiling)."""
        self._ensure_open()
        return self._compiled

    @property
    def precision_probes(self) -> tuple[Probe, ...]:
        """The speed measurements that let this reduced precision open (empty for fp32 and int8)."""
        return tuple(self._probes)

    @property
    def loaded_from_cache(self) -> bool:
        """True when the compiled blob came from ``RuntimeOptions.cache_dir`` instead of a compilation."""
        try:
            return bool(self.compiled_model.get_property("LOADED_FROM_CACHE"))
        except RuntimeError:  # devices without the property cannot have used the cache
            return False

    def prepare_buckets(self, axis: str, sizes: Sequence[int], *, specialize: bool = False) -> None:
        """With `specialize` (and ``extra['bucket_copies']`` not False), compile a static copy per size;
        calls at those sizes run on it, others on the dynamic model. Without it: nothing to prepare."""
        self._ensure_open()
        if not specialize or not self.options.extra.get("bucket_copies", True):
            return
        if self._copies is not None and (self._copies.axis, self._copies.sizes) == (axis, tuple(sorted(sizes))):
            return
        try:
            copies = BucketCopies.compile(shared_core(), str(self.model_path), self._device, self._config, axis,
                                          sizes, self.inputs, self.outputs)
        except Exception as exc:
            raise VoxportRuntimeError(f"graph {self.name!r}: OpenVINO could not compile its bucket copies "
                                      f"({axis} {list(sizes)}): {exc}") from exc
        with self._lock:
            self._copies = copies

    def release_memory(self) -> None:
        self._ensure_open()
        with self._lock:
            self._compiled.release_memory()
            if self._copies is not None:
                self._copies.release_memory()

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            chosen = self._copies.request_for(feeds) if self._copies is not None else None
            request, ports = chosen if chosen is not None else (self._request, self._ports)
            # share_outputs=False (the default) copies the outputs out of the request's tensors, which
            # the next call overwrites; they are small next to the compute.
            results = request.infer(feeds)
            out = {name: results[port] for name, port in ports}  # copies: the release cannot touch them
            if self.options.lean:
                request.get_compiled_model().release_memory()
            return out

    def _close(self) -> None:
        # The output ports hold their compiled model too: kept, they kept every graph of a closed voice
        # resident until the session object itself was collected (424 MB of 883 on the default voice).
        self._ports = []
        self._request = None
        self._compiled = None
        self._copies = None

    def _check_precision_applied(self, core: Any) -> None:
        try:
            hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        except RuntimeError:
            # Virtual devices (AUTO, MULTI) do not report the hint: check the devices they picked.
            _check_capability(core, _execution_devices(self._compiled, self._device), self.precision)
            return
        # An ov.Type prints as "<Type: 'bfloat16'>"; its type name is "bf16".
        reported = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        ran = _REPORTED.get(reported.lower())
        expected = _REPORTED[_PRECISIONS[self.precision][0]]
        if ran is not None and ran != expected:
            raise DevicePrecisionError(
                self.precision,
                _device_precisions(core, self._device),
                self._device,
                f"OpenVINO compiled it as {ran} instead, so voxport refuses it rather than report {ran} "
                f"results as {self.precision}",
            )

    def _graph_io(self) -> GraphIO:
        return GraphIO(
            tuple(_graph_tensor(port) for port in self._compiled.inputs),
            tuple(_graph_tensor(port) for port in self._compiled.outputs),
        )


def _graph_tensor(port: Any) -> GraphTensor:
    name = port.get_any_name()
    try:
        dtype: str | None = np.dtype(port.get_element_type().to_dtype()).name
    except Exception:  # element types without a numpy equivalent (bf16, u4) are not checked
        dtype = None
    shape = port.get_partial_shape()
    dims = tuple(dim.get_length() if dim.is_static else None for dim in shape) if shape.rank.is_static else None
    return GraphTensor(name, dtype, dims, aliases=tuple(sorted(set(port.get_names()) - {name})))


def _base_device(device: str) -> str:
    """"AUTO:GPU,CPU" -> "AUTO"; "GPU.1" -> "GPU"."""
    return device.split(":", 1)[0].split(".", 1)[0].upper()


def _compile_config(core: Any, device: str, precision: str, options: RuntimeOptions, name: str) -> dict[str, Any]:
    # LATENCY: one stream, every thread on the one request -- a TTS stage is one call at a time.
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": _PRECISIONS[precision][0]}
    supported = _supported_properties(core, device)
    if _base_device(device) in _VIRTUAL_DEVICES or "INFERENCE_NUM_THREADS" in supported:
        config["INFERENCE_NUM_THREADS"] = options.threads or physical_core_count()
    if options.threads and options.threads < physical_core_count() and "ENABLE_CPU_PINNING" in supported:
        # Fewer threads than cores means sharing the machine (a server's workers, one thread each): the CPU
        # plugin pins every such model to the same first cores, so two workers ran slower than one (0.84x).
        config["ENABLE_CPU_PINNING"] = False
    if options.cache_dir is not None:
        try:
            Path(options.cache_dir).mkdir(parents=True, exist_ok=True)
            config["CACHE_DIR"] = str(options.cache_dir)
        except OSError as exc:  # a read-only home on a board: start without the cache, slower
            warnings.warn(f"graph {name!r}: cannot use the compile cache {options.cache_dir} ({exc}); "
                          "compiling without it", RuntimeWarning, stacklevel=4)
    raw = options.extra.get("config", {})
    if not isinstance(raw, dict):
        raise VoxportRuntimeError(f"graph {name!r}: RuntimeOptions.extra['config'] must be a dict, got {raw!r}")
    config.update(raw)
    return config


def _supported_properties(core: Any, device: str) -> list[str]:
    try:
        return [str(p) for p in core.get_property(device, "SUPPORTED_PROPERTIES")]
    except RuntimeError:  # the device's plugin cannot load (no driver): compile_model will say why
        return []


def _capabilities(core: Any, device: str) -> list[str] | None:
    try:
        return [str(c) for c in core.get_property(device, "OPTIMIZATION_CAPABILITIES")]
    except RuntimeError:
        return None


def _device_precisions(core: Any, device: str) -> list[str]:
    caps = _capabilities(core, device)
    if caps is None:
        return list(OpenVINOBackend.precisions)
    return [p for p, (_, needed) in _PRECISIONS.items() if set(needed) <= set(caps)]


def _check_capability(core: Any, devices: Sequence[str], precision: str) -> None:
    needed = _PRECISIONS[precision][1]
    for device in devices:
        caps = _capabilities(core, device)
        if caps is not None and not set(needed) <= set(caps):
            raise DevicePrecisionError(
                precision,
                _device_precisions(core, device),
                device,
                f"its OPTIMIZATION_CAPABILITIES are {caps}, without {'/'.join(needed)} (OpenVINO would silently "
                "run another precision)",
            )


def _check_speed(core: Any, devices: Sequence[str], precision: str, options: RuntimeOptions) -> list[Probe]:
    """Refuse (or, with ``allow_slow_precision``, warn about) a reduced precision that a device runs
    more than MAX_SLOWDOWN times slower than f32, as measured by the probe model."""
    hint = _PRECISIONS[precision][0]
    if hint == "f32":  # fp32, and int8 with an f32 remainder: nothing to emulate
        return []
    allow = options.extra.get("allow_slow_precision", False)
    if not isinstance(allow, bool):
        raise VoxportRuntimeError(f"RuntimeOptions.extra['allow_slow_precision'] must be a bool, got {allow!r}")
    probes = []
    for device in devices:
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if "INFERENCE_NUM_THREADS" in _supported_properties(core, device):
            config["INFERENCE_NUM_THREADS"] = options.threads or physical_core_count()
        probe = measure(core, device, hint, config)
        probes.append(probe)
        if probe.factor <= MAX_SLOWDOWN:
            continue
        detail = (f"{probe.describe()}, over the {MAX_SLOWDOWN:g}x limit: the device emulates {hint} rather than "
                  "running it natively")
        if allow:
            warnings.warn(f"OpenVINO {device} {precision}: {detail} (allowed by allow_slow_precision)",
                          SlowPrecisionWarning, stacklevel=2)
            continue
        fast = [p for p in _device_precisions(core, device) if _PRECISIONS[p][0] != hint]
        raise DevicePrecisionError(precision, fast, device, f"{detail}; RuntimeOptions(extra="
                                   "{'allow_slow_precision': True}) runs it anyway, with a warning")
    return probes


def _execution_devices(compiled: Any, device: str) -> list[str]:
    try:
        return [str(d) for d in compiled.get_property("EXECUTION_DEVICES")]
    except RuntimeError:
        return [device]


class OpenVINOBackend(Backend):
    """OpenVINO on any of its devices; fp32, bf16 and fp16 are compile-time hints on the fp32 graph."""

    name = "openvino"
    aliases = ("ov",)
    extra = "openvino"
    module = "openvino"
    precisions = ("fp32", "bf16", "fp16", "int8", "int8-bf16")
    # Precisions compiled from the graph's fp32 file rather than loaded from a file of their own.
    compiled_precisions = ("bf16", "fp16")
    extra_keys = ("config", "allow_slow_precision", "bucket_copies")
    caches_compiled = True
    session_class = OpenVINOSession

    def device_precisions(self, device: str | None = None) -> tuple[str, ...]:
        return tuple(_device_precisions(shared_core(), device or "CPU"))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        if info["available"]:
            import openvino as ov

            core = shared_core()
            info["version"] = ov.get_version()
            info["devices"] = list(core.available_devices)
            info["precisions_by_device"] = {d: _device_precisions(core, d) for d in info["devices"]}
            info["default_device"] = "CPU"
            info["default_threads"] = physical_core_count()
        return info
