"""The exported WaveGlow vocoder: mel, z and denoiser strength in, audio out; nothing random inside.

    forward(latent [B, n_mel, F], z [B, z_channels, F * hop / n_group], denoiser_strength [1])
        -> audio [B, 1, F * hop]                                    (hop 256; z_channels = n_group)

z is WaveGlow's noise ALREADY multiplied by sigma, its time axis one step per group of n_group samples
(steps_per_frame = 256 / n_group per mel frame, so a window of frames takes the matching slice of the
utterance's z). Its channels are in the order NVIDIA's `WaveGlow.infer` consumes its draws:

  z[:, 0 : n_remaining]            the initial draw, into the inverse of the last flow (n_flows - 1);
  then, for each early-output flow k in DESCENDING order (k = n_early_every * m, 0 < k < n_flows),
  the next n_early_size channels, put in front of the audio right after flow k's inverse.

For DLE's configuration (12 flows, n_group 8, n_early_every 4, n_early_size 2): z[:, 0:4] is the
initial draw, z[:, 4:6] enters after flow 8, z[:, 6:8] after flow 4. `z_channel_layout` lists it
for any configuration. NVIDIA draws each of these as sigma * randn of that many channels over all
steps, in this order, so a generator used in that order reproduces NVIDIA's audio.

The denoiser (denoiser.py) runs inside the graph; its bias spectrum is computed here, at export, from
the loaded weights exactly as NVIDIA's `Denoiser(waveglow)` does (an all-zero 88-frame mel, z = 0).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import HOP_LENGTH, UPSAMPLE_KERNEL, WaveGlowConfig
from .denoiser import BIAS_FRAMES, N_FFT, Denoiser
from .model import WaveGlow


def z_channel_layout(config: WaveGlowConfig) -> tuple[tuple[int, slice], ...]:
    """(flow after whose inverse the channels enter, z channels) in z's order; the first entry's flow
    is n_flows, meaning "before the inverse of the last flow" (the initial draw)."""
    layout = [(config.n_flows, slice(0, config.n_remaining_channels))]
    start = config.n_remaining_channels
    for k in sorted(config.early_flows, reverse=True):
        layout.append((k, slice(start, start + config.n_early_size)))
        start += config.n_early_size
    return tuple(layout)


def reach_frames(config: WaveGlowConfig, denoiser: bool = True) -> tuple[int, int]:
    """(left, right) frames of context beyond which a window's audio cannot depend on the utterance.

    Per side, in samples: the flows' dilated convolutions reach n_flows x (kernel - 1) / 2 x (2^layers - 1)
    groups of n_group samples; the mel upsampling (kernel 1024, stride 256, tail cut) looks back
    1024 - 256 samples; the denoiser's STFT and inverse reach 1023 samples each way. DLE's model:
    (103, 100) frames, (99, 96) without the denoiser; trained weights decay well inside that.
    """
    flows = config.n_flows * (config.kernel_size - 1) // 2 * (2**config.n_layers - 1) * config.n_group
    stft = N_FFT - 1 if denoiser else 0
    left = flows + (UPSAMPLE_KERNEL - HOP_LENGTH) + stft
    right = flows + stft
    return -(-left // HOP_LENGTH), -(-right // HOP_LENGTH)


class WaveGlowVocoder(nn.Module):
    """WaveGlow inverse + NVIDIA's denoiser, with every random draw an input (see the module docstring)."""

    def __init__(self, waveglow: WaveGlow) -> None:
        super().__init__()
        self.waveglow = waveglow.eval()
        self.config: WaveGlowConfig = waveglow.config
        waveglow.store_inverse()
        self.denoiser = Denoiser(torch.zeros(N_FFT // 2 + 1))
        self.denoiser.bias_spectrum.copy_(self.bias_spectrum().reshape(1, -1, 1))

    @torch.no_grad()
    def bias_spectrum(self) -> torch.Tensor:
        """|STFT| [bins] of the first frame of the audio for an all-zero mel at sigma 0."""
        c = self.config
        mel = torch.zeros(1, c.n_mel_channels, BIAS_FRAMES)
        z = torch.zeros(1, c.z_channels, BIAS_FRAMES * c.steps_per_frame)
        return self.denoiser.first_frame_magnitude(self.waveglow.infer(mel, z))

    def forward(self, latent: torch.Tensor, z: torch.Tensor, denoiser_strength: torch.Tensor) -> torch.Tensor:
        return self.denoiser(self.waveglow.infer(latent, z), denoiser_strength)
