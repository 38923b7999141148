"""The original single-graph Piper voice: the baseline every split configuration is measured against.

Opened here and nowhere else, through voxport's own onnxruntime backend, so the profiler, the
benchmarks and the parity tests all run it with the session options the split graphs get (threads,
one inter-op thread, ORT_ENABLE_ALL, no spinning unless asked for) and read its time from the same
`Session.stats`. A comparison between the two then measures the split, not a difference in options.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from voxport.runtimes import CallStats, RuntimeOptions, Session, TensorSpec, get_backend
from voxport.synthesis import Scales

# Piper's graph interface (piper/train/export_onnx.py): ids, their count, and the three scales in
# Piper's order (see `piper_scales`); multi-speaker voices take a speaker id as well.
PIPER_INPUTS = (
    TensorSpec("input", "int64", ("batch", "phonemes")),
    TensorSpec("input_lengths", "int64", ("batch",)),
    TensorSpec("scales", "float32", (3,)),
)
PIPER_SID = TensorSpec("sid", "int64", ("batch",))
PIPER_OUTPUTS = (TensorSpec("output", "float32", ("batch", 1, 1, "samples")),)
MONOLITH_RUNTIME = "onnxruntime"
SPINNING = "allow_spinning"  # the RuntimeOptions.extra key of backends whose idle threads can busy-wait


def piper_scales(scales: Scales) -> np.ndarray:
    """The graph's `scales` input: Piper orders them noise_scale, length_scale, noise_w."""
    return np.array([scales.noise_scale, scales.length_scale, scales.noise_w], np.float32)


def open_monolith(
    path: str | os.PathLike[str], *, threads: int | None = None, spinning: bool = False,
    multi_speaker: bool = False, runtime: str = MONOLITH_RUNTIME, precision: str = "fp32",
) -> Session:
    """Open Piper's graph as a voxport Session (`name` "piper").

    `spinning` lets idle intra-op threads busy-wait (onnxruntime's own default; voxport's is off):
    a monolith has one pool and no next stage to steal cores from, so it may gain from spinning, and
    a fair comparison tries both. `runtime`/`precision` exist for tests of other runtimes on this graph.
    """
    backend = get_backend(runtime)
    supports_spinning = SPINNING in backend.extra_keys
    if spinning and not supports_spinning:
        raise ValueError(f"runtime {backend.name!r} has no {SPINNING!r} option")
    extra = {SPINNING: spinning} if supports_spinning else {}
    inputs = [*PIPER_INPUTS, PIPER_SID] if multi_speaker else list(PIPER_INPUTS)
    return backend.open(path, inputs, PIPER_OUTPUTS, precision, RuntimeOptions(threads=threads, extra=extra), "piper")


class PiperMonolith:
    """Phoneme ids in, audio out, from Piper's graph at given Scales (the noise is drawn inside the
    graph, so only noise scales of 0 give audio comparable sample by sample with the split bundle)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.multi_speaker = PIPER_SID.name in {t.name for t in session.inputs}

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, threads: int | None = None, spinning: bool = False,
        multi_speaker: bool = False,
    ) -> PiperMonolith:
        return cls(open_monolith(path, threads=threads, spinning=spinning, multi_speaker=multi_speaker))

    @property
    def stats(self) -> CallStats:
        """The backend's own timing of the graph call alone (what the profiler reports as graph time)."""
        return self.session.stats

    def feeds(self, ids: Sequence[int], scales: Scales, speaker: int = 0) -> dict[str, np.ndarray]:
        feeds = {"input": np.array([list(ids)], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                 "scales": piper_scales(scales)}
        if self.multi_speaker:
            feeds[PIPER_SID.name] = np.array([speaker], np.int64)
        return feeds

    def synthesize_ids(self, ids: Sequence[int], scales: Scales, speaker: int = 0) -> np.ndarray:
        """One utterance (BOS/EOS/pads included, as the graph takes them): float32 audio."""
        return self.session.run(self.feeds(ids, scales, speaker))["output"].reshape(-1)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PiperMonolith:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
