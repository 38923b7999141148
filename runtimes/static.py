"""One graph as several static-shape copies, each opened as its own session and picked per call by the
size of the time axis: what a device that compiles only static shapes (an NPU) can run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import VoxportRuntimeError
from .specs import RuntimeOptions, TensorSpec
from .stats import CallStats

TIME_AXES = ("phonemes", "frames")


class StaticSessions:
    """Quacks like a Session (inputs, outputs, run, stats, close) over sessions keyed by axis size."""

    def __init__(self, name: str, by_size: Mapping[int, object]) -> None:
        if not by_size:
            raise ValueError(f"graph {name!r}: no static-shape sessions given")
        self._name = name
        self.by_size = dict(sorted(by_size.items()))
        first = next(iter(self.by_size.values()))
        self.inputs: tuple[TensorSpec, ...] = first.inputs  # type: ignore[attr-defined]
        self.outputs: tuple[TensorSpec, ...] = first.outputs  # type: ignore[attr-defined]
        self.runtime: str = first.runtime  # type: ignore[attr-defined]
        self.precision: str = first.precision  # type: ignore[attr-defined]
        self.model_path: Path = first.model_path  # type: ignore[attr-defined]
        self.options: RuntimeOptions = first.options  # type: ignore[attr-defined]
        self.concurrent: bool = all(getattr(x, "concurrent", False) for x in self.by_size.values())
        self._axis = {t.name: t.shape[-1] for t in self.inputs if t.shape and t.shape[-1] in TIME_AXES}
        self.stats = CallStats()

    @property
    def name(self) -> str:
        return self._name

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        size = next((v.shape[-1] for k, v in feeds.items() if k in self._axis), None)
        session = self.by_size.get(size)  # type: ignore[arg-type]
        if session is None:
            raise VoxportRuntimeError(f"graph {self._name!r} has static copies for sizes {list(self.by_size)}, "
                                      f"not {size}: run it through fixed shapes with the bundle's plan")
        start = time.perf_counter()
        out = session.run(feeds)  # type: ignore[attr-defined]
        self.stats.record(time.perf_counter() - start)
        return out

    def close(self) -> None:
        for session in self.by_size.values():
            session.close()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<StaticSessions {self._name!r} {self.runtime}/{self.precision} sizes={list(self.by_size)}>"
