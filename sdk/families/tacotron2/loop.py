"""Tacotron2's decoder loop on the host: it plays `Engine.prepare`'s part for an autoregressive bundle.

The encoder runs once; then the `decoder_step` graph runs once per mel frame, each step's state
outputs (`next_state(name)`) fed back as the next step's inputs, the frame it made fed back as
`previous_frame`, and a prenet dropout mask drawn per step from the utterance's seed (voxport.pipeline.noise).
The loop stops after the first frame whose sigmoid(gate_logit) exceeds the manifest's gate threshold
(that frame is kept), or at the step cap with a warning. Every graph call goes through `Engine.run`,
so per-stage runtimes and precisions apply and `Engine.watch` sees each step as a `decoder_step` event.

The result, a `MelUtterance`, is what `Engine.decode` (the postnet) and `Engine.vocode` (the vocoder,
fed its slice of WaveGlow's z) take, so whole-utterance rendering, windowed streaming and the reach
measurement are shared with the flow families. A `DecoderRun` advances on demand: streaming vocodes the
first frames while later ones are still to come.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from voxport.bundle import contract as c
from voxport.families.tacotron2.noise import DecoderNoise, RecordedDecoderNoise
from voxport.families.tacotron2.params import DecoderLoop, VocoderNoise

if TYPE_CHECKING:
    from voxport.pipeline.engine import Engine

__all__ = ["CAP", "FORCED", "GATE", "DecoderRun", "DecoderStepCapWarning", "MelUtterance"]

GATE, CAP, FORCED = "gate", "max_steps", "forced"  # why a loop stopped
_FIRST_CAPACITY = 256  # frames; the buffers double when a sentence runs longer


class DecoderStepCapWarning(UserWarning):
    """The decoder reached its step cap before its stop gate fired: the audio of that sentence is cut there."""


@dataclass(frozen=True)
class MelUtterance:
    """One utterance's decoder frames (a finished loop, or the frames so far while it runs) and the
    draws behind them. Its frames, masks and z can be given to NVIDIA's model to reproduce it."""

    mel: np.ndarray  # float32 [1, n_mel, n]: the decoder's frames, before the postnet
    gate_logits: np.ndarray  # float32 [n]
    frames: np.ndarray  # int64 [n_ids]: how many frames had their attention peak on each id
    draws: DecoderNoise
    mask_shape: tuple[int, int]  # one step's prenet dropout mask: [prenet layers, prenet dim]
    prenet_dropout: float
    vocoder_noise: VocoderNoise | None  # how the vocoder samples (WaveGlow's z); None: it does not
    sigma: float  # z's scale (the manifest's unless the caller chose one)
    stopped_by: str | None  # GATE, CAP or FORCED; None while the loop still runs
    conditioning: dict[str, np.ndarray] = field(default_factory=dict)  # no speakers: always empty

    @property
    def n_frames(self) -> int:
        return int(self.mel.shape[2])

    @property
    def prenet_masks(self) -> np.ndarray:
        """[steps, layers, dim]: the dropout multipliers each step was given."""
        if not self.n_frames:
            return np.zeros((0, *self.mask_shape), np.float32)
        return np.stack([self.draws.prenet_mask(k, self.mask_shape, self.prenet_dropout)
                         for k in range(self.n_frames)])

    def z_window(self, start: int, stop: int) -> np.ndarray:
        """The vocoder's z for frames [start, stop), scaled by sigma: [1, z_channels, (stop - start) * steps]."""
        v = self.vocoder_noise
        if v is None:
            raise ValueError("this voice's vocoder samples no z (the manifest has no vocoder_noise)")
        return (self.draws.z(start, stop, v.z_channels, v.steps_per_frame) * np.float32(self.sigma))[None]

    @property
    def z(self) -> np.ndarray:
        """The whole utterance's z as the vocoder is fed it (times sigma)."""
        return self.z_window(0, self.n_frames)

    def vocoder_feeds(self, start: int, stop: int, wanted: Collection[str]) -> dict[str, np.ndarray]:
        """What a sampling vocoder takes besides the latent, for frames [start, stop)."""
        feeds = {}
        if c.Z in wanted:
            feeds[c.Z] = self.z_window(start, stop)
        if c.DENOISER_STRENGTH in wanted:
            strength = self.vocoder_noise.denoiser_strength if self.vocoder_noise else 0.0
            feeds[c.DENOISER_STRENGTH] = np.array([strength], np.float32)
        return feeds

    def replay(self) -> RecordedDecoderNoise:
        """This utterance's masks and (unscaled) z, to run it again elsewhere with the same draws: pass it
        to `the pipeline's decoder_run` with `steps=n_frames`, since another runtime's gate may fire elsewhere."""
        v = self.vocoder_noise
        z = (self.draws.z(0, self.n_frames, v.z_channels, v.steps_per_frame) if v is not None
             else np.zeros((0, 0), np.float32))
        return RecordedDecoderNoise(self.prenet_masks, z)


class DecoderRun:
    """One utterance's decoder loop: the encoder when created, then steps on demand (`advance`)."""

    def __init__(self, engine: Engine, ids: Sequence[int], draws: DecoderNoise, *, steps: int | None = None,
                 sigma: float | None = None) -> None:
        """`steps`: run exactly this many steps, the gate ignored (benchmarks, replays); `sigma` replaces
        the manifest's z scale."""
        m = engine.manifest
        if not len(ids):
            raise ValueError("the decoder needs at least one symbol id")
        if min(ids) < 0 or max(ids) >= m.n_vocab:
            raise ValueError(f"symbol ids must lie in [0, {m.n_vocab}); got min {min(ids)}, max {max(ids)}")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
        if sigma is not None and not (np.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
        self.engine, self.draws, self.forced = engine, draws, steps
        self.loop = m.decoder_loop or DecoderLoop()
        self.limit = steps if steps is not None else self.loop.max_steps
        self.vocoder_noise = m.vocoder_noise
        self.sigma = float(sigma if sigma is not None else (m.vocoder_noise.sigma if m.vocoder_noise else 0.0))
        self.n_ids = len(ids)
        encoded = engine.run(c.ENCODER, {c.PHONEME_IDS: np.asarray([ids], np.int64),
                                          c.PHONEME_LENGTHS: np.asarray([len(ids)], np.int64)})
        specs = {t.name: t for t in engine.sessions[c.DECODER_STEP].inputs}
        sizes = {c.BATCH: 1, c.PHONEMES: len(ids)}

        def zeros(name: str) -> np.ndarray:
            return np.zeros(_sized(specs[name].shape, sizes, name), np.float32)

        # Fed unchanged to every step: one array each, never copied per step.
        self._constant = {c.MEMORY: encoded[c.MEMORY], c.PROCESSED_MEMORY: encoded[c.PROCESSED_MEMORY],
                          c.MEMORY_MASK: np.ones((1, len(ids)), np.float32)}
        self._state = {name: zeros(name) for name in c.STEP_STATE}
        self._previous = zeros(c.PREVIOUS_FRAME)
        layers, dim = _sized(specs[c.PRENET_DROPOUT].shape, sizes, c.PRENET_DROPOUT)[1:]
        self.mask_shape = (layers, dim)
        capacity = min(self.limit, _FIRST_CAPACITY)
        self._mel = np.zeros((1, self._previous.shape[1], capacity), np.float32)
        self._gates = np.zeros(capacity, np.float32)
        self._peaks = np.zeros(capacity, np.int64)  # the id each step's attention peaked on
        self.n = 0
        self.stopped_by: str | None = None
        self._threshold = np.float32(self.loop.gate_threshold)

    @property
    def finished(self) -> bool:
        return self.stopped_by is not None

    def step(self) -> None:
        """One decoder step: a frame, its gate, the next state."""
        if self.finished:
            raise RuntimeError("the decoder loop has already stopped")
        k = self.n
        mask = self.draws.prenet_mask(k, self.mask_shape, self.loop.prenet_dropout)
        out = self.engine.run(c.DECODER_STEP, {c.PREVIOUS_FRAME: self._previous, c.PRENET_DROPOUT: mask[None],
                                                **self._state, **self._constant})
        self._state = {name: out[c.next_state(name)] for name in c.STEP_STATE}
        self._previous = out[c.FRAME]
        if k == self._mel.shape[2]:
            self._grow()
        self._mel[0, :, k] = self._previous[0]
        gate = np.float32(out[c.GATE_LOGIT].reshape(-1)[0])
        self._gates[k] = gate
        self._peaks[k] = int(np.argmax(self._state["attention_weights"][0]))
        self.n = k + 1
        # sigmoid in float32, as the model computes it, so a gate near the threshold decides the same way.
        with np.errstate(over="ignore"):  # exp(-gate) of a very negative gate is inf: sigmoid 0, as intended
            fired = np.float32(1) / (np.float32(1) + np.exp(-gate)) > self._threshold
        if self.forced is None and fired:
            self.stopped_by = GATE
        elif self.n >= self.limit:
            self.stopped_by = FORCED if self.forced is not None else CAP
            if self.forced is None:
                warnings.warn(
                    f"the Tacotron2 decoder reached its cap of {self.limit} steps (the manifest's decoder_loop."
                    f"max_steps) before its stop gate fired, on a sentence of {self.n_ids} symbols: its audio is "
                    "cut there", DecoderStepCapWarning, stacklevel=4)

    def advance(self, until: int) -> int:
        """Step until `until` frames exist or the loop stops; the number of frames there are."""
        while self.n < until and not self.finished:
            self.step()
        return self.n

    def view(self) -> MelUtterance:
        """The frames so far (all of them once `finished`), without copying them."""
        return MelUtterance(
            mel=self._mel[:, :, : self.n], gate_logits=self._gates[: self.n],
            frames=np.bincount(self._peaks[: self.n], minlength=self.n_ids).astype(np.int64),
            draws=self.draws, mask_shape=self.mask_shape, prenet_dropout=self.loop.prenet_dropout,
            vocoder_noise=self.vocoder_noise, sigma=self.sigma, stopped_by=self.stopped_by,
        )

    def finish(self) -> MelUtterance:
        """Run the loop to its end; the whole utterance."""
        self.advance(self.limit)
        return self.view()

    def _grow(self) -> None:
        # Double the buffers; views handed out earlier keep the old ones, whose frames are final.
        size = min(self.limit, 2 * self._mel.shape[2]) - self._mel.shape[2]
        self._mel = np.concatenate([self._mel, np.zeros((*self._mel.shape[:2], size), np.float32)], axis=2)
        self._gates = np.concatenate([self._gates, np.zeros(size, np.float32)])
        self._peaks = np.concatenate([self._peaks, np.zeros(size, np.int64)])


def _sized(shape: tuple[int | str, ...], sizes: dict[str, int], name: str) -> tuple[int, ...]:
    """A declared shape with its named axes given sizes."""
    dims = []
    for d in shape:
        if isinstance(d, int):
            dims.append(d)
        elif d in sizes:
            dims.append(sizes[d])
        else:
            raise ValueError(f"decoder_step input {name!r} has an axis {d!r} the decoder loop cannot size "
                             f"(known: {sorted(sizes)}; other axes must be fixed numbers in the manifest)")
    return tuple(dims)
