"""Which input shapes a pipeline runs its graphs on: any (dynamic), or a few fixed buckets.

Runtimes that compile per input shape (OpenVINO's CPU plugin, TensorRT profiles, NPUs that accept
only static shapes) pay on the first call with every new shape, and real text never repeats one. A
`ShapePlan` lists the sizes the SDK pads each time axis to instead, so only those few shapes are ever
seen and each is prepared once when the voice loads.
"""

from __future__ import annotations

from dataclasses import dataclass

# Runtimes whose first call with a new shape compiles: fixed shapes are their default. onnxruntime
# runs any shape at the same cost, so padding would only add work there.
FIXED_SHAPE_RUNTIMES = ("openvino", "tensorrt")

# What `Voice.load(shapes=...)` and the CLI's --shapes take besides a plan: "latency" is "fixed" with
# more graphs compiled per bucket (the model family says which).
SHAPE_CHOICES = ("fixed", "dynamic", "latency")


@dataclass(frozen=True)
class ShapePlan:
    """Bucket sizes per time axis. Phoneme-level graphs run on the smallest phoneme bucket that holds
    the utterance; frame-level graphs on frame buckets, in windows of the largest bucket when longer."""

    # Steps of 1.5x and 2x alternately: padding wastes at most a third. Finer phoneme buckets matter for
    # time to first audio, which waits for the whole sentence's encoder (32.5 vs 41.4 ms median with
    # powers of two, OpenVINO bf16, 2-core AMD EPYC, AVX-512 BF16).
    phoneme_buckets: tuple[int, ...] = (32, 48, 64, 96, 128, 192, 256, 384, 512)
    frame_buckets: tuple[int, ...] = (32, 48, 64, 96, 128, 192, 256, 384)
    # Graphs compiled one copy per bucket where the runtime offers it (OpenVINO; runtimes/openvino_buckets.py).
    # None: the model family's choice (voxport.families). A load-time choice, not part of a bundle:
    # `to_dict` leaves it out.
    specialize: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("phoneme_buckets", "frame_buckets"):
            sizes = tuple(sorted(set(getattr(self, name))))
            if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
                raise ValueError(f"ShapePlan.{name} must be a non-empty list of ints >= 1, got {sizes!r}")
            object.__setattr__(self, name, sizes)
        if self.specialize is None:
            return
        if isinstance(self.specialize, str) or not all(isinstance(s, str) for s in self.specialize):
            raise ValueError(f"ShapePlan.specialize must be a tuple of graph names, got {self.specialize!r}")
        object.__setattr__(self, "specialize", tuple(self.specialize))

    def bucket(self, n: int, axis: str) -> int | None:
        """The smallest bucket of `axis` ("phonemes" or "frames") holding n, or None if none does."""
        sizes = self.phoneme_buckets if axis == "phonemes" else self.frame_buckets
        return next((s for s in sizes if s >= n), None)

    def to_dict(self) -> dict[str, list[int]]:
        return {"phoneme_buckets": list(self.phoneme_buckets), "frame_buckets": list(self.frame_buckets)}
