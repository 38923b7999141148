"""The model pipeline between phoneme ids and audio: the one place where stages are wired.

`prepare` runs everything up to the sampled prior latent (encoder, duration predictor, length
regulation, noise); `render` turns any window of that latent into audio (decoder + vocoder). Whole-
utterance synthesis renders the full window once, streaming renders overlapping windows — both from
the same prepared latent, so they draw the same noise and agree sample for sample.

An autoregressive bundle (Tacotron2) replaces `prepare` with `decoder_run` (voxport.families.tacotron2.loop: the
encoder, then one decoder step per frame until the stop gate fires); its `MelUtterance` goes through the
same `decode` (there the postnet) and `vocode` (fed the window's slice of WaveGlow's z).

Tools reuse this pipeline rather than wiring their own: calibration replays a reference's noise and
frame counts (`Prepared.replay`, `prepare(frames=...)`) on other precisions, and profiling and
capture watch each stage through one hook (`Engine.watch`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from voxport.bundle import contract as c
from voxport.bundle.manifest import Manifest
from voxport.families.tacotron2.loop import DecoderRun, MelUtterance
from voxport.pipeline.griffin_lim import GriffinLim
from voxport.pipeline.noise import DecoderNoise, Noise, RandomNoise, RecordedNoise
from voxport.pipeline.regulate import expand_prior, fit_to_multiple, frames_per_phoneme, shift_prior
from voxport.pipeline.sessions import StageSessions
from voxport.pipeline.shaped import ShapedRunner
from voxport.pipeline.windows import DEFAULT_FIRST_CHUNK_FRAMES, stream_head_frames
from voxport.runtimes import ShapePlan
from voxport.synthesis import Scales, SynthesisConfig

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


@dataclass(frozen=True)
class Prepared:
    """One utterance up to the decoder: its sampled prior latent, its frames and the draws behind them."""

    frames: np.ndarray  # int64 [n_ids], what the latent was expanded with
    predicted_frames: np.ndarray  # int64 [n_ids], what the duration predictor said (differs if frames were given)
    prior_latent: np.ndarray  # float32 [1, C, n_frames]
    conditioning: dict[str, np.ndarray]  # speaker embedding for multi-speaker voices, else empty
    duration_noise: np.ndarray
    eps: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.prior_latent.shape[2])

    def replay(self) -> RecordedNoise:
        """This utterance's draws, to run it again elsewhere (another precision) with the same noise."""
        return RecordedNoise(self.duration_noise, self.eps)


def _stream_heads(manifest: Manifest) -> dict[str, tuple[int, ...]]:
    """Frame counts of the decoder and vocoder calls behind a default stream's first chunk. A bucket of
    their own keeps time to first audio from paying for padding: 19 frames run at the 32-frame bucket
    cost ~1.8x as much on OpenVINO (2-core AMD EPYC, AVX-512 BF16)."""
    reach = manifest.streaming
    if reach is None or reach.vocoder is None:
        return {}
    decoder, vocoder = stream_head_frames(DEFAULT_FIRST_CHUNK_FRAMES, reach.decoder, reach.vocoder,
                                          manifest.frame_multiple)
    # An autoregressive voice's first chunk comes from its postnet, which never runs on buckets.
    return {c.VOCODER: (vocoder,)} if manifest.autoregressive else {c.DECODER: (decoder,), c.VOCODER: (vocoder,)}


class Engine:
    """Runs one bundle's graphs. What differs between model families (duration rule, frame multiple,
    vocoder graph or Griffin-Lim on the mel) comes from the manifest, not from the family's name."""

    def __init__(self, manifest: Manifest, sessions: StageSessions, shapes: ShapePlan | None = None,
                 fixed: Collection[str] = ()) -> None:
        """`fixed`: the stages run on `shapes`' buckets (the others at each utterance's own shape)."""
        self.manifest = manifest
        self.sessions = sessions
        heads = _stream_heads(manifest)
        self.runners = {s: ShapedRunner(s, sessions[s], shapes, hop_length=manifest.hop_length,
                                        frame_multiple=manifest.frame_multiple, reach=manifest.streaming,
                                        exact=heads.get(s, ()))
                        for s in fixed} if shapes is not None else {}
        self.hop_length = manifest.hop_length
        self.frame_multiple = manifest.frame_multiple
        self.griffin_lim: GriffinLim | None = None
        if c.VOCODER not in sessions.sessions:
            if manifest.mel is None:
                raise ValueError("the bundle has no vocoder graph and no `mel` parameters to run Griffin-Lim on")
            self.griffin_lim = GriffinLim(manifest.mel, manifest.sample_rate, manifest.hop_length)
        elif c.Z in sessions.input_names(c.VOCODER) and manifest.vocoder_noise is None:
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

    def _run(self, stage: str, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        wanted = self.sessions.input_names(stage)
        given = {k: v for k, v in feeds.items() if k in wanted}
        start = time.perf_counter()
        runner = self.runners.get(stage)
        out = runner.run(given) if runner is not None else self.sessions[stage].run(given)
        self.report(stage, time.perf_counter() - start, given)
        return out

    # --- settings -----------------------------------------------------------------------------------
    def scales(self, config: SynthesisConfig | None = None) -> Scales:
        """The scales `config` asks for, the voice's defaults where it says None."""
        return (config or SynthesisConfig()).scales(self.manifest.inference)

    def speaker_id(self, speaker: int | str | None) -> np.ndarray | None:
        m = self.manifest
        if m.num_speakers <= 1:
            return None
        if speaker is None:
            speaker = 0
        if isinstance(speaker, str):
            if speaker not in m.speaker_id_map:
                raise ValueError(f"unknown speaker {speaker!r}; known: {sorted(m.speaker_id_map)}")
            speaker = m.speaker_id_map[speaker]
        if not 0 <= int(speaker) < m.num_speakers:
            raise ValueError(f"speaker id {speaker} out of range 0..{m.num_speakers - 1}")
        return np.array([int(speaker)], np.int64)

    # --- the pipeline -------------------------------------------------------------------------------
    def prepare(
        self, ids: list[int], scales: Scales, noise: Noise | np.random.Generator, sid: np.ndarray | None = None,
        frames: np.ndarray | None = None,
    ) -> Prepared:
        """Encoder, duration predictor, length regulation and prior noise for one utterance.

        `noise` draws the duration noise and the prior's eps (a Generator is wrapped in RandomNoise);
        `frames` replaces the predicted frame counts (comparing precisions at one length).
        """
        if min(ids) < 0 or max(ids) >= self.manifest.n_vocab:
            raise ValueError(f"phoneme ids must lie in [0, {self.manifest.n_vocab}); got min {min(ids)}, "
                             f"max {max(ids)}")
        draws = RandomNoise(noise) if isinstance(noise, np.random.Generator) else noise
        feeds: dict[str, np.ndarray] = {
            c.PHONEME_IDS: np.asarray([ids], dtype=np.int64),
            c.PHONEME_LENGTHS: np.asarray([len(ids)], dtype=np.int64),
        }
        if sid is not None:
            feeds[c.SID] = sid
        feeds.update(self._run(c.ENCODER, feeds))
        # Drawn even for predictors without a noise input, so a seed gives one stream on every family.
        feeds[c.NOISE] = duration_noise = draws.duration(len(ids), scales.noise_w)
        logw = self._run(c.DURATION, feeds)[c.LOG_DURATIONS]
        start = time.perf_counter()
        predicted = self.frames(logw, feeds[c.PHONEME_MASK], scales.length_scale)
        used = predicted if frames is None else np.asarray(frames, np.int64)
        mean, log_std = expand_prior(feeds[c.PRIOR_MEAN], feeds[c.PRIOR_LOG_STD], used)
        eps = draws.prior(mean.shape)
        latent = shift_prior(mean, log_std, eps, scales.noise_scale)
        self.report(LENGTH_REGULATION, time.perf_counter() - start)
        conditioning = {c.SPEAKER_EMBEDDING: feeds[c.SPEAKER_EMBEDDING]} if c.SPEAKER_EMBEDDING in feeds else {}
        return Prepared(used, predicted, latent, conditioning, duration_noise, eps)

    def decoder_run(self, ids: list[int], draws: DecoderNoise, *, steps: int | None = None,
                    sigma: float | None = None) -> DecoderRun:
        """An autoregressive bundle's `prepare`: the encoder now, the decoder steps as the run is advanced
        (`finish()` gives the whole utterance). `steps` forces that many steps (gate ignored); `sigma`
        replaces the manifest's scale of the vocoder's z."""
        if not self.manifest.autoregressive:
            raise ValueError(f"a {self.manifest.family} bundle has no decoder loop: use prepare()")
        return DecoderRun(self, ids, draws, steps=steps, sigma=sigma)

    def frames(self, log_durations: np.ndarray, phoneme_mask: np.ndarray, length_scale: float) -> np.ndarray:
        """Frames per phoneme by the manifest's duration rule, fitted to its frame multiple."""
        rule = self.manifest.durations
        frames = frames_per_phoneme(
            log_durations, phoneme_mask, length_scale, offset=rule.offset, min_frames=rule.min_frames
        )
        return fit_to_multiple(frames, self.frame_multiple)

    def decode(self, prepared: Prepared | MelUtterance, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Decoder (flow, reversed) over prior-latent frames [start, stop): latent (or mel) [1, C, n];
        for an autoregressive utterance, the postnet over its decoder frames.

        `start` and `stop` must lie on the manifest's frame multiple (the decoder groups frames).
        """
        if isinstance(prepared, MelUtterance):
            return self._run(c.POSTNET, {c.MEL: prepared.mel[:, :, start:stop]})[c.LATENT]
        window = prepared.prior_latent[:, :, start:stop]
        if start % self.frame_multiple or window.shape[2] % self.frame_multiple:
            raise ValueError(f"decoder windows must start and end on multiples of {self.frame_multiple} frames")
        feeds = {c.PRIOR_LATENT: window, c.FRAME_MASK: np.ones((1, 1, window.shape[2]), np.float32)}
        return self._run(c.DECODER, {**feeds, **prepared.conditioning})[c.LATENT]

    @property
    def vocoder_is_local(self) -> bool:
        """Whether audio of a frame window depends only on nearby frames (false for Griffin-Lim)."""
        return self.griffin_lim is None

    def vocode(self, prepared: Prepared | MelUtterance, latent: np.ndarray, start: int = 0) -> np.ndarray:
        """Vocoder graph (or Griffin-Lim) over decoded frames [start, start + n): float32 audio [n * hop_length].

        `start` places the window in the utterance, for a vocoder that samples (WaveGlow's z is sliced there).
        """
        if self.griffin_lim is not None:
            start = time.perf_counter()
            audio = self.griffin_lim(latent)
            self.report(c.VOCODER, time.perf_counter() - start)
            return audio
        mask = np.ones((1, 1, latent.shape[2]), np.float32)  # fed only to vocoders that take one
        feeds = {c.LATENT: latent, c.FRAME_MASK: mask, **prepared.conditioning}
        if isinstance(prepared, MelUtterance):
            feeds.update(prepared.vocoder_feeds(start, start + latent.shape[2], self.sessions.input_names(c.VOCODER)))
        audio = self._run(c.VOCODER, feeds)[c.AUDIO]
        audio = audio.reshape(-1)
        return audio.astype(np.float32, copy=False)

    def warm_up(self) -> dict[str, dict[int, float]]:
        """Run every fixed stage once per bucket, so no call during synthesis meets a new shape:
        seconds per stage and bucket."""
        return {stage: runner.warm_up() for stage, runner in self.runners.items()}

    def render(self, prepared: Prepared | MelUtterance) -> np.ndarray:
        """The whole utterance's audio in one decoder and one vocoder call."""
        return self.vocode(prepared, self.decode(prepared))
