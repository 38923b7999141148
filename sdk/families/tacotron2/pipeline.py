"""The decoder-loop pipeline strategy (Tacotron2): encoder once -> `decoder_step` once per mel frame until
the stop gate (voxport.families.tacotron2.loop) -> postnet -> vocoder (fed its slice of WaveGlow's z).

An utterance is a `DecoderRun` that advances on demand: rendering finishes it; streaming vocodes the
first frames while later ones are still to come. The postnet plays the decoder's part in windowed
streaming and in the reach measurement.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from voxport.bundle import contract as c
from voxport.bundle.manifest import Manifest, Reach
from voxport.families.base import Pipeline
from voxport.families.tacotron2.loop import GATE, DecoderRun, MelUtterance
from voxport.families.tacotron2.noise import DecoderNoise, RecordedDecoderNoise, SeededDecoderNoise
from voxport.pipeline.reach import measure_frames_reached
from voxport.pipeline.streaming import GROWTH
from voxport.pipeline.timestamps import SentenceTiming
from voxport.pipeline.windows import DEFAULT_FIRST_CHUNK_FRAMES, stream_head_frames
from voxport.synthesis import SynthesisConfig
from voxport.text.frontend import TextFrontend

__all__ = ["DecoderLoopPipeline"]


def _finished(utterance: DecoderRun | MelUtterance) -> MelUtterance:
    return utterance.finish() if isinstance(utterance, DecoderRun) else utterance


class DecoderLoopPipeline(Pipeline):
    """Autoregressive families: the decoder's frames come one step at a time."""

    def draws(self, config: SynthesisConfig) -> SeededDecoderNoise:
        return SeededDecoderNoise(config.seed)

    def utterance(self, ids: list[int], config: SynthesisConfig, draws: SeededDecoderNoise) -> DecoderRun:
        return self.decoder_run(ids, draws.next_utterance(), steps=config.decoder_steps, sigma=config.sigma)

    def decoder_run(self, ids: list[int], draws: DecoderNoise, *, steps: int | None = None,
                    sigma: float | None = None) -> DecoderRun:
        """The encoder now, the decoder steps as the run is advanced (`finish()` gives the whole utterance).
        `steps` forces that many steps (gate ignored); `sigma` replaces the manifest's scale of the vocoder's z."""
        return DecoderRun(self.engine, ids, draws, steps=steps, sigma=sigma)

    def decode(self, utterance: MelUtterance, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The postnet over decoder frames [start, stop)."""
        return self.engine.run(c.POSTNET, {c.MEL: utterance.mel[:, :, start:stop]})[c.LATENT]

    def vocode(self, utterance: MelUtterance, latent: np.ndarray, start: int = 0) -> np.ndarray:
        """The vocoder over postnet frames [start, start + n), with WaveGlow's z sliced there."""
        wanted = self.engine.sessions.input_names(c.VOCODER) if self.engine.vocoder_is_local else set()
        return self.engine.vocode(latent, utterance.vocoder_feeds(start, start + latent.shape[2], wanted))

    def render(self, utterance: DecoderRun | MelUtterance) -> np.ndarray:
        utterance = _finished(utterance)
        return self.vocode(utterance, self.decode(utterance))

    def frames(self, utterance: DecoderRun | MelUtterance) -> np.ndarray:
        return _finished(utterance).frames

    def timing(self, sentence: str, phonemes: str, utterance: DecoderRun | MelUtterance, frontend: TextFrontend,
               offset: int) -> SentenceTiming:
        from voxport.families.tacotron2.text import symbol_timing

        m = self.engine.manifest  # word times need the attention of every step: this finishes the loop
        return symbol_timing(sentence, phonemes, frontend.mapper, self.frames(utterance),  # type: ignore[arg-type]
                             m.hop_length, m.sample_rate, offset)

    def stream(self, run: DecoderRun, reach: Reach, first: int, size: int, growth: int = GROWTH
               ) -> Iterator[tuple[np.ndarray, bool]]:
        """The utterance's audio, window by window, while its decoder loop still runs.

        A window [start, stop) leaves as soon as the decoder has made its frames and the reach of the
        postnet (`reach.decoder`) and of the vocoder after them, or has stopped; joined, the audio equals
        `render(run)`. Whether a window is the last is known when it leaves: either the loop has stopped
        and the window ends at its last frame, or frames after the window already exist.
        """
        if first < 1 or size < 1 or growth < 1:
            raise ValueError(f"chunk sizes must be >= 1 frame, got first={first}, size={size}, growth={growth}")
        if reach.vocoder is None or not self.engine.vocoder_is_local:
            yield self.render(run), True
            return
        post, voc, hop = reach.decoder, reach.vocoder, self.engine.hop_length
        latent = np.zeros((1, 0, 0), np.float32)
        valid = 0  # postnet latent exact on frames [0, valid)
        start, step = 0, first
        while True:
            stop = start + step
            have = run.advance(stop + voc + post)
            utterance = run.view()
            if run.finished:
                stop = min(stop, have)
            need = min(have, stop + voc)  # latent frames this window's audio depends on
            if need > valid:
                lo = max(0, valid - post)
                hi = min(have, need + post)  # the loop has stopped, or `have` already reaches need + post
                part = self.decode(utterance, lo, hi)[:, :, valid - lo : need - lo]
                latent = part if not latent.size else np.concatenate([latent, part], axis=2)
                valid = need
            lo = max(0, start - voc)
            audio = self.vocode(utterance, latent[:, :, lo:need], lo)
            last = run.finished and stop == have
            yield audio[(start - lo) * hop : (stop - lo) * hop], last
            if last:
                return
            start, step = stop, min(size, step * growth)

    # --- receptive fields and shaped execution ------------------------------------------------------
    def measure_reach(self, n_frames: int = 256) -> Reach:
        """The postnet's and the vocoder's reach; a vocoder that samples is probed through its z as well."""
        e = self.engine
        n_mel = int(next(t for t in e.sessions[c.POSTNET].inputs if t.name == c.MEL).shape[1])
        noise = e.manifest.vocoder_noise
        sampling = noise is not None and e.vocoder_is_local and c.Z in e.sessions.input_names(c.VOCODER)

        def utterance(mel: np.ndarray, z: np.ndarray) -> MelUtterance:
            """Frames to run the postnet and vocoder on, with `z` given as is (sigma 1)."""
            none = np.zeros(0, np.int64)
            return MelUtterance(mel, np.zeros(mel.shape[2], np.float32), none,
                                RecordedDecoderNoise(np.zeros((0, 0, 0)), z), (0, 0), 0.0, noise, 1.0, GATE)

        def z_of(frames: int) -> np.ndarray:
            """z laid out [channels, frames * steps], from a fixed draw."""
            if not sampling:
                return np.zeros((0, 0), np.float32)
            return np.random.default_rng(1).standard_normal(
                (noise.z_channels, frames * noise.steps_per_frame), dtype=np.float32)  # type: ignore[union-attr]

        def vocode_z(per_frame: np.ndarray) -> np.ndarray:
            # z's columns of each frame stacked as that frame's "channels", so a frame's z can be bumped at once.
            zc, steps = noise.z_channels, noise.steps_per_frame  # type: ignore[union-attr]
            z = per_frame[0].reshape(zc, steps, per_frame.shape[2])
            z = np.ascontiguousarray(z.transpose(0, 2, 1)).reshape(zc, -1)
            latent = np.random.default_rng(2).standard_normal((1, n_mel, per_frame.shape[2]), dtype=np.float32)
            return self.vocode(utterance(latent, z), latent)

        postnet = measure_frames_reached(lambda mel: self.decode(utterance(mel, z_of(0)))[0].T, n_mel, 1, n_frames)
        vocoder = None
        if e.vocoder_is_local:
            vocoder = measure_frames_reached(lambda x: self.vocode(utterance(x, z_of(x.shape[2])), x), n_mel,
                                             e.hop_length, n_frames)
            if sampling:
                rows = noise.z_channels * noise.steps_per_frame  # type: ignore[union-attr]
                vocoder = max(vocoder, measure_frames_reached(vocode_z, rows, e.hop_length, n_frames))
        return Reach(decoder=postnet, vocoder=vocoder)

    @classmethod
    def stream_heads(cls, manifest: Manifest) -> dict[str, tuple[int, ...]]:
        """The first chunk's vocoder call (the postnet never runs on buckets)."""
        reach = manifest.streaming
        if reach is None or reach.vocoder is None:
            return {}
        _, vocoder = stream_head_frames(DEFAULT_FIRST_CHUNK_FRAMES, reach.decoder, reach.vocoder)
        return {c.VOCODER: (vocoder,)}

    @classmethod
    def context(cls, manifest: Manifest, stage: str) -> int | None:
        reach = manifest.streaming
        return reach.vocoder if reach is not None and stage == c.VOCODER else None
