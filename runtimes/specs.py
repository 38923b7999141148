"""What a caller hands a backend: the manifest's description of each tensor, and the options.

Only numpy is imported here, so bundle code (manifests, exporters) can use these without loading
any runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["TensorSpec", "RuntimeOptions"]


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of one graph input or output, as stored in a bundle manifest.

    ``dtype`` is a numpy dtype name ("float32", "int64", ...); anything ``numpy.dtype`` accepts is
    normalised to that name so ``np.float32`` and ``"float32"`` give equal specs.  In ``shape`` an int
    is a fixed dimension and a str names a dynamic axis; inputs sharing an axis name must agree on
    its size within one call (ONNX ``dim_param`` semantics).
    """

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"TensorSpec name must be a non-empty string, got {self.name!r}")
        try:
            # np.dtype(None) is float64: a missing dtype must not turn into a plausible one.
            if self.dtype is None:
                raise TypeError("dtype is None")
            dtype = np.dtype(self.dtype).name
        except TypeError as exc:
            raise ValueError(f"TensorSpec {self.name!r}: unknown dtype {self.dtype!r}") from exc
        shape = tuple(self.shape)
        for dim in shape:
            # bool is an int subclass; True as a dimension is always a bug.
            fixed = isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0
            if not fixed and not (isinstance(dim, str) and dim):
                raise ValueError(
                    f"TensorSpec {self.name!r}: dimension {dim!r} must be an int >= 0 (fixed) "
                    "or a non-empty str (named dynamic axis)"
                )
        # Frozen: normalise through object.__setattr__ so equality and hashing see canonical values.
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "shape", shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_dynamic(self) -> bool:
        return any(isinstance(dim, str) for dim in self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        missing = [key for key in ("name", "dtype", "shape") if key not in data]
        if missing:
            raise ValueError(f"TensorSpec dict is missing {missing}: {dict(data)!r}")
        return cls(name=data["name"], dtype=data["dtype"], shape=tuple(data["shape"]))

    def describe(self) -> str:
        """Short form for messages, e.g. ``float32[1, 'T']``."""
        return f"{self.dtype}[{', '.join(repr(d) if isinstance(d, str) else str(d) for d in self.shape)}]"


@dataclass
class RuntimeOptions:
    """Knobs shared by all backends; ``extra`` holds backend-specific ones (each backend documents
    the keys it accepts in ``Backend.extra_keys`` and ``Backend.open`` rejects the others, so a typo
    does not pass silently)."""

    threads: int | None = None  # None: the backend's default, the number of physical cores
    device: str | None = None  # None: the backend's default device
    cache_dir: str | None = None  # where a backend may keep compiled engines / blobs
    extra: dict[str, Any] = field(default_factory=dict)
    # Free the buffers a call used once it returns (onnxruntime: its arena shrinks; OpenVINO: the compiled
    # model's memory is released): between calls a voice holds what its load left, for some speed.
    lean: bool = False
    # The voice runs one call at a time with the machine to itself (a server's copy for a lone request):
    # onnxruntime's threads busy-wait while a call runs and stop when it returns (+2-5 % on 2 cores; with
    # two voices running at once it cost 21-29 %). Other runtimes ignore it.
    spin: bool = False
    # What the exporter recorded about the graph being opened (the manifest's GraphEntry.hints), e.g.
    # {"keep_fp32_ops": True}: layers that overflow in fp16 stay fp32 (TensorRT). Set per graph by the SDK.
    hints: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ValueError(f"RuntimeOptions.threads must be None or an int >= 1, got {self.threads!r}")
