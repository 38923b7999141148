"""The Engine runs one bundle's graphs: each stage on its session (or on fixed-shape buckets), every call
reported to the hooks that watch it (profiling, capture), and the vocoder stage with its Griffin-Lim
fallback. It knows stages and tensors, not model families: which stages run in which order, and what
happens between them, is the family's pipeline strategy (voxport.families), which calls `run`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from voxport.bundle import contract as c
from voxport.bundle.manifest import Manifest
from voxport.pipeline.griffin_lim import GriffinLim
from voxport.pipeline.sessions import StageSessions
from voxport.pipeline.shaped import ShapedRunner
from voxport.pipeline.speakers import speaker_id
from voxport.runtimes import ShapePlan
from voxport.synthesis import Scales, SynthesisConfig

if TYPE_CHECKING:
    from voxport.families.base import Family

LENGTH_REGULATION = "length_regulation"  # the numpy step between the duration and decoder graphs
FRONTEND = "frontend"  # text to phoneme ids, reported by Voice through the same hook


@dataclass(frozen=True)
class StageEvent:
    """One pipeline step as it happened: `feeds` are what its graph was given (empty for numpy steps)."""

    stage: str
    seconds: float
    feeds: Mapping[str, np.ndarray] = field(default_factory=dict)


StageHook = Callable[[StageEvent], None]


@dataclass
class StageTimes:
    """A hook that sums wall time per stage (seconds)."""

    totals: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def __call__(self, event: StageEvent) -> None:
        self.totals[event.stage] += event.seconds


class Engine:
    """Runs the graphs of one bundle; `run(stage, feeds)` is the one way a pipeline calls a graph."""

    def __init__(self, manifest: Manifest, sessions: StageSessions, shapes: ShapePlan | None = None,
                 fixed: Collection[str] = (), family: Family | None = None) -> None:
        """`fixed`: the stages run on `shapes`' buckets (the others at each utterance's own shape);
        `family` (default: the manifest's) says how its stages are windowed."""
        from voxport.families import family_of

        self.manifest = manifest
        self.sessions = sessions
        self.family = family or family_of(manifest)
        strategy = self.family.pipeline
        heads = strategy.stream_heads(manifest)
        self.runners = {s: ShapedRunner(s, sessions[s], shapes, hop_length=manifest.hop_length,
                                        frame_multiple=strategy.frame_multiple(manifest, s),
                                        context=strategy.context(manifest, s), exact=heads.get(s, ()))
                        for s in fixed} if shapes is not None else {}
        self.hop_length = manifest.hop_length
        self.griffin_lim: GriffinLim | None = None
        if c.VOCODER in self.family.contracts and c.VOCODER not in sessions.sessions:
            if manifest.mel is None:
                raise ValueError("the bundle has no vocoder graph and no `mel` parameters to run Griffin-Lim on")
            self.griffin_lim = GriffinLim(manifest.mel, manifest.sample_rate, manifest.hop_length)
        elif c.VOCODER in sessions.sessions and c.Z in sessions.input_names(c.VOCODER) \
                and manifest.vocoder_noise is None:
            raise ValueError("the bundle's vocoder takes noise `z` but its manifest has no `vocoder_noise` to "
                             "draw it with")
        self._hooks: list[StageHook] = []

    # --- observation --------------------------------------------------------------------------------
    @contextmanager
    def watch(self, hook: StageHook) -> Iterator[StageHook]:
        """Call `hook` after every pipeline step inside the block (timing, capture of stage inputs)."""
        self._hooks.append(hook)
        try:
            yield hook
        finally:
            self._hooks.remove(hook)

    def report(self, stage: str, seconds: float, feeds: Mapping[str, np.ndarray] | None = None) -> None:
        for hook in self._hooks:
            hook(StageEvent(stage, seconds, feeds or {}))

    # --- running graphs ----------------------------------------------------------------------------------
    def run(self, stage: str, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one stage's graph on the feeds it declares (others are ignored), on its buckets if it is
        fixed-shape, and report the call to the hooks."""
        wanted = self.sessions.input_names(stage)
        given = {k: v for k, v in feeds.items() if k in wanted}
        start = time.perf_counter()
        runner = self.runners.get(stage)
        out = runner.run(given) if runner is not None else self.sessions[stage].run(given)
        self.report(stage, time.perf_counter() - start, given)
        return out

    @property
    def vocoder_is_local(self) -> bool:
        """Whether audio of a frame window depends only on nearby frames (false for Griffin-Lim)."""
        return self.griffin_lim is None

    def vocode(self, latent: np.ndarray, feeds: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The vocoder stage (or Griffin-Lim when the bundle has none) over frames of `latent`: float32
        audio [n * hop_length]. `feeds`: what else the vocoder graph takes (conditioning, noise)."""
        if self.griffin_lim is not None:
            start = time.perf_counter()
            audio = self.griffin_lim(latent)
            self.report(c.VOCODER, time.perf_counter() - start)
            return audio
        mask = np.ones((1, 1, latent.shape[2]), np.float32)  # fed only to vocoders that take one
        audio = self.run(c.VOCODER, {c.LATENT: latent, c.FRAME_MASK: mask, **(feeds or {})})[c.AUDIO]
        return audio.reshape(-1).astype(np.float32, copy=False)

    def warm_up(self) -> dict[str, dict[int, float]]:
        """Run every fixed stage once per bucket, so no call during synthesis meets a new shape:
        seconds per stage and bucket."""
        return {stage: runner.warm_up() for stage, runner in self.runners.items()}

    # --- settings -----------------------------------------------------------------------------------
    def scales(self, config: SynthesisConfig | None = None) -> Scales:
        """The scales `config` asks for, the voice's defaults where it says None."""
        return (config or SynthesisConfig()).scales(self.manifest.inference)

    def speaker_id(self, speaker: int | str | None) -> np.ndarray | None:
        """The `sid` tensor of a multi-speaker voice (None for a single speaker): voxport.pipeline.speakers."""
        return speaker_id(self.manifest, speaker)
