"""Measure how far the decoder and the vocoder look in time, so streaming can cut windows exactly
(for Tacotron2: the postnet and the vocoder, WaveGlow's z included).

The flow's WaveNet layers and HiFi-GAN's dilated convolutions make each output depend on latent
frames on both sides. Rather than trusting a published number, perturb one input frame and see which
outputs move: any change, however small, counts, so the margin found is the graph's true reach.
The graphs run through the engine, as in synthesis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from voxport.bundle import contract as c
from voxport.bundle.manifest import Reach
from voxport.families.tacotron2.loop import GATE, MelUtterance
from voxport.pipeline.engine import Engine, Prepared
from voxport.pipeline.noise import RecordedDecoderNoise

__all__ = ["Reach", "measure_reach", "measure_bundle_reach"]


def _frames_reached(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, probe: int, per_frame: int) -> int:
    base = run(x)
    bumped = x.copy()
    bumped[:, :, probe] += 1.0
    moved = np.flatnonzero(np.any(run(bumped) != base, axis=tuple(range(1, base.ndim))))
    if moved.size == 0:
        return 0
    return int(max(probe - moved[0] // per_frame, moved[-1] // per_frame - probe))


def _measure(run: Callable[[np.ndarray], np.ndarray], channels: int, per_frame: int, n_frames: int) -> int:
    while True:
        x = np.random.default_rng(0).standard_normal((1, channels, n_frames)).astype(np.float32)
        probe = n_frames // 2
        reach = _frames_reached(run, x, probe, per_frame)
        if reach < probe - 1:
            return reach
        n_frames *= 2  # the reach hit the edge of the test signal: measure on a longer one
        if n_frames > 1 << 14:
            raise RuntimeError("receptive field exceeds 8192 frames; streaming needs a bound")


def _as_prepared(latent: np.ndarray, conditioning: dict[str, np.ndarray]) -> Prepared:
    none = np.zeros(0, np.int64)
    return Prepared(none, none, latent, conditioning, np.zeros(0, np.float32), np.zeros(0, np.float32))


def measure_reach(engine: Engine, n_frames: int = 256) -> Reach:
    """Measure decoder and vocoder reach on the graphs as loaded (any runtime, any precision).

    Outputs are compared with time on the first axis: frames for the decoder, samples for the vocoder.
    The test signal's length stays a multiple of the decoder's frame multiple. For an autoregressive
    bundle the "decoder" is the postnet, and a vocoder that samples is probed through its z as well.
    """
    if engine.manifest.autoregressive:
        return _measure_autoregressive(engine, n_frames)
    multiple = engine.frame_multiple
    n_frames = -(-n_frames // multiple) * multiple
    decoder_inputs = {t.name: t for t in engine.sessions[c.DECODER].inputs}
    channels = int(decoder_inputs[c.PRIOR_LATENT].shape[1])
    cond = {}
    if c.SPEAKER_EMBEDDING in decoder_inputs:  # any fixed speaker shows the same temporal reach
        width = int(decoder_inputs[c.SPEAKER_EMBEDDING].shape[1])
        cond[c.SPEAKER_EMBEDDING] = np.zeros((1, width, 1), np.float32)

    def decode(z: np.ndarray) -> np.ndarray:
        return engine.decode(_as_prepared(z, cond))[0].T

    def vocode(z: np.ndarray) -> np.ndarray:
        return engine.vocode(_as_prepared(z, cond), z)

    return Reach(
        decoder=_measure(decode, channels, 1, n_frames),
        vocoder=_measure(vocode, channels, engine.hop_length, n_frames) if engine.vocoder_is_local else None,
    )


def _mel_utterance(engine: Engine, mel: np.ndarray, z: np.ndarray) -> MelUtterance:
    """Frames to run the postnet and vocoder on, with `z` given as is (sigma 1)."""
    none = np.zeros(0, np.int64)
    return MelUtterance(mel, np.zeros(mel.shape[2], np.float32), none, RecordedDecoderNoise(np.zeros((0, 0, 0)), z),
                        (0, 0), 0.0, engine.manifest.vocoder_noise, 1.0, GATE)


def _measure_autoregressive(engine: Engine, n_frames: int) -> Reach:
    n_mel = int(next(t for t in engine.sessions[c.POSTNET].inputs if t.name == c.MEL).shape[1])
    noise = engine.manifest.vocoder_noise
    sampling = noise is not None and c.Z in engine.sessions.input_names(c.VOCODER)
    z_rows = noise.z_channels * noise.steps_per_frame if sampling else 0  # type: ignore[union-attr]

    def z_of(frames: int, seed: int = 1) -> np.ndarray:
        """z laid out [channels, frames * steps], from a fixed draw."""
        if not sampling:
            return np.zeros((0, 0), np.float32)
        return np.random.default_rng(seed).standard_normal((noise.z_channels, frames * noise.steps_per_frame),
                                                           dtype=np.float32)

    def postnet(mel: np.ndarray) -> np.ndarray:
        return engine.decode(_mel_utterance(engine, mel, z_of(0)))[0].T

    def vocode(latent: np.ndarray) -> np.ndarray:
        return engine.vocode(_mel_utterance(engine, latent, z_of(latent.shape[2])), latent)

    def vocode_z(per_frame: np.ndarray) -> np.ndarray:
        # z's columns of each frame stacked as that frame's "channels", so a frame's z can be bumped at once.
        frames = per_frame.shape[2]
        z = per_frame[0].reshape(noise.z_channels, noise.steps_per_frame, frames)  # type: ignore[union-attr]
        z = np.ascontiguousarray(z.transpose(0, 2, 1)).reshape(noise.z_channels, -1)  # type: ignore[union-attr]
        latent = np.random.default_rng(2).standard_normal((1, n_mel, frames), dtype=np.float32)
        return engine.vocode(_mel_utterance(engine, latent, z), latent)

    vocoder = None
    if engine.vocoder_is_local:
        vocoder = _measure(vocode, n_mel, engine.hop_length, n_frames)
        if sampling:
            vocoder = max(vocoder, _measure(vocode_z, z_rows, engine.hop_length, n_frames))
    return Reach(decoder=_measure(postnet, n_mel, 1, n_frames), vocoder=vocoder)


def measure_bundle_reach(bundle_dir: str | Path) -> Reach:
    """Receptive fields of a bundle's graphs as the SDK runs them by default (onnxruntime, fp32)."""
    from voxport.bundle import Bundle
    from voxport.pipeline.sessions import StageSessions

    bundle = Bundle.load(bundle_dir, verify=False)
    with StageSessions.open(bundle) as sessions:
        return measure_reach(Engine(bundle.manifest, sessions))
