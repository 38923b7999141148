"""Building TensorRT engines, kept apart from running them (runtimes/tensorrt_backend.py).

As in Polygraphy's loader/runner split: :func:`build_serialized_engine` turns an ONNX file, its
optimization profiles (one dynamic one, or one per bucket: runtimes/tensorrt_profiles.py) and a
precision into serialized engine bytes, and :class:`EngineCache` keeps those bytes on disk.
Everything above :func:`build_serialized_engine` is plain Python (profiles, cache keys, which layers
stay fp32) so it is tested on machines without TensorRT or a GPU; ``tensorrt`` itself is imported
inside that function only.

Written against the TensorRT 10 Python API (``create_network(0)`` = explicit batch,
``build_serialized_network``, ``set_memory_pool_limit``, per-layer ``precision`` and
``set_output_type``, ``BuilderFlag.OBEY_PRECISION_CONSTRAINTS``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import TensorSpec
from .errors import VoxportRuntimeError

__all__ = [
    "AxisRange",
    "DEFAULT_AXIS_RANGES",
    "EngineCache",
    "FP32_OPS",
    "LayerInfo",
    "Profile",
    "build_serialized_engine",
    "default_engine_dir",
    "derive_profile",
    "engine_cache_key",
    "fp32_layer_names",
    "keeps_fp32",
    "sha256_file",
]

AxisRange = tuple[int, int, int]  # (min, opt, max) of one dynamic axis
Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]  # input -> (min, opt, max) shapes

# Ranges for the axis names voxport's exports use.  opt is a typical sentence, where TensorRT tunes
# its kernels; max bounds the memory TensorRT reserves.  frames 4096 = 47 s of audio at 22.05 kHz with
# hop 256; the SDK synthesizes sentence by sentence and always with batch 1.
DEFAULT_AXIS_RANGES: dict[str, AxisRange] = {
    "batch": (1, 1, 4),
    "phonemes": (1, 64, 512),
    "frames": (1, 256, 4096),
}

# fp16 overflows and underflows in exp/log/softplus/pow/div of flows and of stochastic duration predictors;
# NaNs from fp16 flows are a known failure.  In a graph whose exporter hinted `keep_fp32_ops` (the manifest's
# GraphEntry.hints, reaching the session as RuntimeOptions.hints) those layers stay fp32; everything else
# (the convolutions, where the time goes) runs fp16.
FP32_OPS: frozenset[str] = frozenset({"exp", "log", "softplus", "pow", "div"})


def derive_profile(
    inputs: Sequence[TensorSpec],
    overrides: Mapping[str, Sequence[int]] | None = None,
    defaults: Mapping[str, AxisRange] = DEFAULT_AXIS_RANGES,
) -> Profile:
    """One optimization profile: (min, opt, max) shapes per input, from the specs' axes.

    A fixed dimension d gives (d, d, d); a named dynamic axis takes ``overrides[name]``, else
    ``defaults[name]``.  Override names must be axes of these inputs or known default axes (one
    ``RuntimeOptions`` serves all stages, so "phonemes" is legitimate for the decoder too); anything
    else is a typo and raises ValueError.
    """
    overrides = dict(overrides or {})
    axes = {dim for spec in inputs for dim in spec.shape if isinstance(dim, str)}
    unknown = sorted(set(overrides) - axes - set(defaults))
    if unknown:
        raise ValueError(
            f"TensorRT profile overrides name unknown axes {unknown}; axes of this graph: {sorted(axes)}, "
            f"known axes: {sorted(defaults)}"
        )
    ranges = {name: _axis_range(name, value, "RuntimeOptions.extra['profiles']") for name, value in overrides.items()}
    profile: Profile = {}
    for spec in inputs:
        lows, opts, highs = [], [], []
        for dim in spec.shape:
            if isinstance(dim, int):
                low = opt = high = dim
            elif dim in ranges:
                low, opt, high = ranges[dim]
            elif dim in defaults:
                low, opt, high = _axis_range(dim, defaults[dim], "default axis ranges")
            else:
                raise ValueError(
                    f"input {spec.name!r}: dynamic axis {dim!r} has no TensorRT profile range; give one as "
                    f"RuntimeOptions(extra={{'profiles': {{{dim!r}: (min, opt, max)}}}})"
                )
            lows.append(low)
            opts.append(opt)
            highs.append(high)
        profile[spec.name] = (tuple(lows), tuple(opts), tuple(highs))
    return profile


def _axis_range(name: str, value: Any, where: str) -> AxisRange:
    try:
        values = tuple(value)
    except TypeError:
        values = ()
    ok = len(values) == 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if not ok or not 1 <= values[0] <= values[1] <= values[2]:
        raise ValueError(
            f"{where}: axis {name!r} needs (min, opt, max) ints with 1 <= min <= opt <= max, got {value!r}"
        )
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class LayerInfo:
    """What the fp32 rule needs of one network layer.  ``op`` is the lower-case operation: the
    unary op ("exp", "log"), activation ("softplus") or elementwise op ("pow", "div") for those layer
    kinds, else the layer type ("convolution", ...).  ``floating``: all outputs are float tensors
    (shape arithmetic on int tensors must not get a float precision)."""

    name: str
    op: str
    floating: bool = True


def keeps_fp32(layer: LayerInfo, ops: Iterable[str] = FP32_OPS) -> bool:
    """Whether ``layer`` is pinned to fp32 in an fp16 build that pins ``ops``."""
    return layer.floating and layer.op.lower() in {op.lower() for op in ops}


def fp32_layer_names(layers: Iterable[LayerInfo], ops: Iterable[str] = FP32_OPS) -> list[str]:
    """Names of the layers to pin to fp32 in an fp16 build that pins ``ops``, in network order."""
    ops = tuple(ops)
    return [layer.name for layer in layers if keeps_fp32(layer, ops)]


def engine_cache_key(
    graph_sha256: str,
    precision: str,
    trt_version: str,
    gpu_name: str,
    profile: Profile | Sequence[Profile],
    fp32_ops: Iterable[str] = (),
) -> str:
    """File-name-safe key of an engine: graph hash, precision, TensorRT version, GPU name, and a hash of
    the other build settings (profiles, pinned ops), since different profiles make a different engine.

    ``profile`` is one profile, or a list for an engine with one profile per bucket: the list's
    shapes, and so the bucket list, are part of the key.  A single profile hashes as it always has, so
    engines cached before bucket profiles existed keep their keys.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", graph_sha256):
        raise ValueError(f"graph_sha256 must be 64 lowercase hex digits, got {graph_sha256!r}")
    shapes: dict[str, Any] = (
        {"profile": _jsonable(profile)} if isinstance(profile, Mapping)
        else {"profiles": [_jsonable(p) for p in profile]}
    )
    settings = json.dumps({**shapes, "fp32_ops": sorted(fp32_ops)}, sort_keys=True)
    gpu = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") or "unknown-gpu"
    version = re.sub(r"[^A-Za-z0-9.]+", "-", trt_version)
    return f"{graph_sha256}-{precision}-trt{version}-{gpu}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


def _jsonable(profile: Profile) -> dict[str, list[list[int]]]:
    return {k: [list(s) for s in v] for k, v in sorted(profile.items())}


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_engine_dir() -> Path:
    """``<voxport cache>/tensorrt``; the cache root rule of voxport.bundle.default_voice.cache_root, repeated
    here because the runtime layer must not import the SDK."""
    if env := os.environ.get("VOXPORT_CACHE_DIR"):
        root = Path(env)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "voxport"
    return root / "tensorrt"


class EngineCache:
    """Serialized engines on disk, one file per :func:`engine_cache_key`, written atomically so that
    two processes building the same engine never leave a torn file."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.engine"

    def load(self, key: str) -> bytes | None:
        path = self.path(key)
        return path.read_bytes() if path.is_file() else None

    def store(self, key: str, data: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path(key)

    def get_or_build(self, key: str, build: Callable[[], bytes]) -> tuple[bytes, bool]:
        """(engine bytes, whether they came from disk)."""
        data = self.load(key)
        if data is not None:
            return data, True
        data = build()
        self.store(key, data)
        return data, False


def build_serialized_engine(
    onnx_path: str | os.PathLike[str],
    profile: Profile | Sequence[Profile],
    precision: str,
    graph: str,
    fp32_ops: Iterable[str] = FP32_OPS,
    workspace_bytes: int | None = None,
    logger: Any = None,
) -> bytes:
    """Parse ``onnx_path`` and build an engine with one optimization profile, or with one per entry
    of a list (profile index = list position, as TensorRT numbers them); returns its bytes.

    ``precision`` "fp16" sets ``BuilderFlag.FP16`` and pins :func:`fp32_layer_names` of ``graph`` to
    fp32 with ``OBEY_PRECISION_CONSTRAINTS`` (so TensorRT fails rather than ignore a pin).
    """
    import tensorrt as trt

    if precision not in ("fp32", "fp16"):
        raise VoxportRuntimeError(f"graph {graph!r}: TensorRT builds fp32 or fp16 engines, not {precision!r}")
    logger = logger or trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise VoxportRuntimeError(f"graph {graph!r}: TensorRT's ONNX parser rejected {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    network_inputs = {network.get_input(i).name for i in range(network.num_inputs)}
    profiles = [profile] if isinstance(profile, Mapping) else list(profile)
    if not profiles:
        raise VoxportRuntimeError(f"graph {graph!r}: no optimization profile to build the engine with")
    missing = sorted(network_inputs - set(profiles[0]))
    if missing:
        raise VoxportRuntimeError(f"graph {graph!r}: network inputs {missing} are not declared, so have no profile")
    for shapes in profiles:
        opt_profile = builder.create_optimization_profile()
        for name, (low, opt, high) in shapes.items():
            if name in network_inputs:
                opt_profile.set_shape(name, low, opt, high)
        config.add_optimization_profile(opt_profile)
    if precision == "fp32":
        # TensorRT runs fp32 convolutions and matmuls as TF32 (10-bit mantissa) on Ampere and later by
        # default; "fp32" has to mean fp32 to match onnxruntime within 1e-3.
        config.clear_flag(trt.BuilderFlag.TF32)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        fp32_ops = tuple(fp32_ops)
        for info, layer in _network_layers(trt, network):
            if not keeps_fp32(info, fp32_ops):
                continue
            layer.precision = trt.float32
            for i in range(layer.num_outputs):
                layer.set_output_type(i, trt.float32)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise VoxportRuntimeError(f"graph {graph!r}: TensorRT could not build an engine (see its log above)")
    return bytes(serialized)


def _network_layers(trt: Any, network: Any) -> list[tuple[LayerInfo, Any]]:
    """Each layer with its LayerInfo.  get_layer returns the base ILayer; the op of a unary,
    activation or elementwise layer is only visible after casting it to its class (Polygraphy does
    the same ``__class__`` assignment)."""
    floats = {trt.float32, trt.float16, trt.bfloat16}
    kinds = {
        trt.LayerType.UNARY: (trt.IUnaryLayer, "op"),
        trt.LayerType.ACTIVATION: (trt.IActivationLayer, "type"),
        trt.LayerType.ELEMENTWISE: (trt.IElementWiseLayer, "op"),
    }
    result = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        layer_type = layer.type  # read before the cast: IActivationLayer.type is the activation type
        op = layer_type.name.lower()
        if layer_type in kinds:
            cls, attr = kinds[layer_type]
            layer.__class__ = cls
            op = getattr(layer, attr).name.lower()
        floating = all(layer.get_output(j).dtype in floats for j in range(layer.num_outputs))
        result.append((LayerInfo(layer.name, op, floating), layer))
    return result
