"""The WaveGlow vocoder graph's spec and the manifest's vocoder noise defaults."""

from __future__ import annotations

import numpy as np

from voxport.bundle.contract import DENOISER_STRENGTH, LATENT, VOCODER, Z, waveglow_tensors
from voxport.families.tacotron2.params import VocoderNoise

from ..spec import GraphSpec
from .vocoder import WaveGlowVocoder

# DLE Tacotron2 inference.py: `--sigma-infer` 0.9 (0.6 in its 2019 versions), `--denoising-strength` 0.01.
NVIDIA_SIGMA = 0.9
NVIDIA_DENOISER_STRENGTH = 0.01
# |onnx - torch| of the tiny test models stays near 1e-6; the full 12-flow, 512-channel network
# compounds rounding through its inverse, so the bound leaves room.
ATOL = 1e-3


def default_vocoder_noise(module: WaveGlowVocoder) -> VocoderNoise:
    c = module.config
    return VocoderNoise(sigma=NVIDIA_SIGMA, z_channels=c.z_channels, steps_per_frame=c.steps_per_frame,
                        denoiser_strength=NVIDIA_DENOISER_STRENGTH)


def waveglow_graph_spec(module: WaveGlowVocoder, n_mel: int) -> GraphSpec:
    """latent [B, n_mel, frames], z [B, z_channels, z_steps], denoiser_strength [1] -> audio.

    Validation feeds a log-mel-like latent, z at NVIDIA's sigma and a strength large enough that the
    denoiser's clamp is active in some bins; its lengths include 2 frames, shorter than NVIDIA's
    reflect padding (512 samples).
    """
    c = module.config
    if n_mel != c.n_mel_channels:
        raise ValueError(f"n_mel {n_mel} differs from the checkpoint's n_mel_channels {c.n_mel_channels}")
    module.eval()

    def example(frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        latent = rng.normal(-5.0, 2.0, (1, n_mel, frames)).astype(np.float32)
        z = NVIDIA_SIGMA * rng.standard_normal((1, c.z_channels, frames * c.steps_per_frame))
        return {LATENT: latent, Z: z.astype(np.float32), DENOISER_STRENGTH: np.array([0.5], np.float32)}

    inputs, outputs = waveglow_tensors(n_mel, c.z_channels)
    return GraphSpec(name=VOCODER, module=module, inputs=inputs, outputs=outputs, example=example, atol=ATOL,
                     example_lengths=(11, 2))
