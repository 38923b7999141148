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
# more graphs compiled per bucket (the model family says which); "small" is `small_plan` of the buckets,
# for boards with little memory.
SHAPE_CHOICES = ("fixed", "dynamic", "latency", "small")

# The small plan's budget, in shapes: every bucket a stage is warmed up on costs an OpenVINO dynamic model
# per-shape memory (the default 9+9 buckets: 889 MB RSS after load on the joe-medium voice vs 393 MB with
# 2+1, fp32, 2-core Intel Xeon), and a copy per bucket costs its weights again, so the small plan keeps
# few buckets and compiles no copies.
SMALL_PHONEME_BUCKETS = 3
SMALL_FRAME_BUCKETS = 1
# Phoneme buckets the small plan keeps lie at least this factor apart: padding costs at most 4x on the
# encoder and duration predictor, the cheap stages (they are a few % of a sentence on VITS).
SMALL_PHONEME_STEP = 4
# A frame window keeps (bucket - 2 * context) frames: a bucket of at least 4x the context keeps half or
# more of what it computes.
SMALL_WINDOW_FACTOR = 4


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

    def shape_count(self) -> int:
        """How many bucket shapes the plan has (a stage runs on one axis's buckets, plus a stream's
        first-chunk sizes where its family asks for them)."""
        return len(self.phoneme_buckets) + len(self.frame_buckets)

    def to_dict(self) -> dict[str, list[int]]:
        return {"phoneme_buckets": list(self.phoneme_buckets), "frame_buckets": list(self.frame_buckets)}


def small_plan(plan: ShapePlan, context: int | None = 0) -> ShapePlan:
    """`plan` cut down for a device with little memory: the largest phoneme bucket (so sentences are split
    where they were) and at most SMALL_PHONEME_BUCKETS - 1 smaller ones, each SMALL_PHONEME_STEP below
    the next; SMALL_FRAME_BUCKETS frame bucket, the smallest of `plan`'s holding SMALL_WINDOW_FACTOR x
    `context` (the frames a windowed stage needs on each side; longer calls run in windows of it), or
    the largest when `context` is None (a stage that cannot be windowed must fit its calls in one bucket);
    no compiled copies per bucket. Costs padding per sentence and windowing of long ones
    (docs/runtimes-and-shapes.md)."""
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 0):
        raise ValueError(f"small_plan: context must be None or an int >= 0, got {context!r}")
    kept = [plan.phoneme_buckets[-1]]
    for size in reversed(plan.phoneme_buckets[:-1]):
        if len(kept) < SMALL_PHONEME_BUCKETS and size * SMALL_PHONEME_STEP <= kept[-1]:
            kept.append(size)
    if context is None:
        frames = list(plan.frame_buckets[-SMALL_FRAME_BUCKETS:])
    else:
        wanted = max(SMALL_WINDOW_FACTOR * context, 1)
        # A plan whose frame buckets are all smaller than the windows need keeps its largest: the runner
        # then windows with whatever that bucket keeps, as it does with that plan.
        frames = [s for s in plan.frame_buckets if s >= wanted][:SMALL_FRAME_BUCKETS] or [plan.frame_buckets[-1]]
    return ShapePlan(phoneme_buckets=tuple(kept), frame_buckets=tuple(frames), specialize=())
