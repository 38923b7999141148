"""Does an OpenVINO device run a reduced precision fast? Measured on a tiny probe model, not guessed.

A CPU plugin can list a precision in ``OPTIMIZATION_CAPABILITIES`` and still emulate it: fp16 on an
Intel Xeon with AVX512-FP16 ran a voice about 250x slower than bf16 there. CPU names and flag lists
do not say which kernels a plugin version has, so the backend measures instead: a small model of the
ops a voice is mostly made of (1-D convolutions, dilated too, and a matmul) at a realistic width,
built in memory with OpenVINO's opset API, compiled at f32 and at the requested precision, each timed
for a few calls. The factor reduced / f32 is kept per (device, precision) for the life of the process.

The probe has no ConvTranspose on purpose: it asks whether the device has the precision's arithmetic,
not whether every op has a fast kernel. On the machine below a bf16 ConvTranspose followed by a conv
runs as a gemm 5-17x slower than at f32 while bf16 convs run at 0.55x; a probe with one refused bf16
outright. Calibration handles that op by timing the polyphase rewrite (calibration/rewrite.py).

Cost, measured on a 2-core AMD EPYC (AVX-512 BF16/VNNI, no AMX or AVX512-FP16): about 0.1 s for the
first probe of a precision (two compilations and a few dozen calls of well under a millisecond each),
nothing afterwards. An emulated precision is bounded by ``BUDGET_S`` per compiled model.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MAX_SLOWDOWN", "Probe", "clear_cache", "measure"]

# A reduced precision that runs this much slower than f32 is treated as emulated. Native bf16/fp16
# is faster than f32 (0.5-0.6x here); 2x leaves room for timing noise on a busy machine.
MAX_SLOWDOWN = 2.0
# Width and length of the probe: the default voice's decoder and vocoder run 192-512 channels; at this
# size one f32 call takes ~0.5 ms on 2 cores, long enough that call overhead does not hide a factor.
CHANNELS, FRAMES = 192, 128
RUNS = 12
BUDGET_S = 0.25  # per compiled model: an emulated precision stops being timed after this

_cache: dict[tuple[str, str], Probe] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Probe:
    """One measurement: the probe's best call time at f32 and at `hint`, and what measuring cost."""

    device: str
    hint: str  # OpenVINO's INFERENCE_PRECISION_HINT value ("bf16", "f16")
    f32_ms: float
    reduced_ms: float
    cost_s: float

    @property
    def factor(self) -> float:
        """How many times slower than f32 the reduced precision ran (below 1: faster)."""
        return self.reduced_ms / max(self.f32_ms, 1e-9)

    def describe(self) -> str:
        return (f"a probe model ran {self.factor:.1f}x slower at {self.hint} than at f32 "
                f"({self.reduced_ms:.2f} ms vs {self.f32_ms:.2f} ms per call)")


def _probe_model() -> Any:
    """conv -> leaky relu -> dilated conv -> conv to half width -> matmul, f32, built in memory."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)

    def weight(*shape: int) -> Any:
        return ops.constant((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32))

    def act(x: Any) -> Any:
        return ops.prelu(x, ops.constant(np.array([0.1], np.float32)))

    x = ops.parameter([1, CHANNELS, FRAMES], ov.Type.f32, name="x")
    h = act(ops.convolution(x, weight(CHANNELS, CHANNELS, 3), [1], [1], [1], [1]))
    h = act(ops.convolution(h, weight(CHANNELS, CHANNELS, 3), [1], [3], [3], [3]))
    half = CHANNELS // 2
    h = act(ops.convolution(h, weight(half, CHANNELS, 7), [1], [3], [3], [1]))
    h = ops.matmul(ops.transpose(h, ops.constant(np.array([0, 2, 1], np.int64))), weight(half, half), False, False)
    return ov.Model([h], [x], "voxport_precision_probe")


def _time_model(core: Any, model: Any, device: str, config: dict[str, Any]) -> float:
    """Best call time in ms of `model` compiled with `config`: one untimed call, then up to RUNS
    timed ones within BUDGET_S (the minimum is the least disturbed by other processes)."""
    compiled = core.compile_model(model, device, config)
    request = compiled.create_infer_request()
    feed = {0: np.random.default_rng(1).standard_normal((1, CHANNELS, FRAMES)).astype(np.float32)}
    request.infer(feed)
    best, deadline = float("inf"), time.perf_counter() + BUDGET_S
    for _ in range(RUNS):
        start = time.perf_counter()
        request.infer(feed)
        best = min(best, time.perf_counter() - start)
        if start > deadline:
            break
    return 1000.0 * best


def measure(core: Any, device: str, hint: str, config: dict[str, Any] | None = None) -> Probe:
    """The probe's f32 and `hint` call times on `device`, measured once per (device, hint) per process.

    `config` (threads, performance hint) applies to both compilations; the precision hint is set here.
    """
    key = (device, hint)
    with _lock:  # one measurement at a time: two at once would slow each other down
        if key not in _cache:
            start = time.perf_counter()
            base = {k: v for k, v in (config or {}).items() if k not in ("INFERENCE_PRECISION_HINT", "CACHE_DIR")}
            model = _probe_model()
            f32 = _time_model(core, model, device, {**base, "INFERENCE_PRECISION_HINT": "f32"})
            reduced = _time_model(core, model, device, {**base, "INFERENCE_PRECISION_HINT": hint})
            _cache[key] = Probe(device, hint, f32, reduced, time.perf_counter() - start)
        return _cache[key]


def clear_cache() -> None:
    """Forget every measurement (tests; a process whose load on the machine changed a lot)."""
    with _lock:
        _cache.clear()
