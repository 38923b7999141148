"""How voxport's RuntimeOptions become OpenVINO compile properties (voxport.runtimes.openvino_backend)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .base import RuntimeOptions
from .cores import physical_core_count
from .errors import VoxportRuntimeError

# voxport precision -> (INFERENCE_PRECISION_HINT value, OPTIMIZATION_CAPABILITIES entries needed)
# int8 runs a calibrated QDQ graph (voxport calibrate): its quantized ops run int8, the rest f32;
# int8-bf16 runs the same graph with the rest in bf16.
PRECISIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fp32": ("f32", ("FP32",)), "bf16": ("bf16", ("BF16",)), "fp16": ("f16", ("FP16",)),
    "int8": ("f32", ("INT8",)), "int8-bf16": ("bf16", ("INT8", "BF16")),
}
# What compiled models report back for the hint (ov.Type names).
REPORTED = {"f32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "f16": "fp16", "float16": "fp16"}
# Virtual devices take hardware properties in compile_model's config and forward them.
VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")


def base_device(device: str) -> str:
    """"AUTO:GPU,CPU" -> "AUTO"; "GPU.1" -> "GPU"."""
    return device.split(":", 1)[0].split(".", 1)[0].upper()


def compile_config(core: Any, device: str, precision: str, options: RuntimeOptions, name: str) -> dict[str, Any]:
    # LATENCY: one stream, every thread on the one request -- a TTS stage is one call at a time. Several
    # streams (RuntimeOptions.streams: a server's workers sharing the graph) run that many calls at once,
    # each on `threads` threads of its own: two streams of one thread ran two calls in 1.05x the time of one
    # (one stream: 1.7x; two compiled copies: 1.08x for 1.9x the memory), 2-core Xeon, the default vocoder.
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": PRECISIONS[precision][0]}
    supported = supported_properties(core, device)
    threads = options.threads or physical_core_count()
    if options.streams > 1 and "NUM_STREAMS" in supported:
        config["NUM_STREAMS"] = options.streams
    else:
        config["PERFORMANCE_HINT"] = "LATENCY"
    if base_device(device) in VIRTUAL_DEVICES or "INFERENCE_NUM_THREADS" in supported:
        config["INFERENCE_NUM_THREADS"] = threads * config.get("NUM_STREAMS", 1)
    if (options.threads and options.threads < physical_core_count() or "NUM_STREAMS" in config) \
            and "ENABLE_CPU_PINNING" in supported:
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


def supported_properties(core: Any, device: str) -> list[str]:
    try:
        return [str(p) for p in core.get_property(device, "SUPPORTED_PROPERTIES")]
    except RuntimeError:  # the device's plugin cannot load (no driver): compile_model will say why
        return []
