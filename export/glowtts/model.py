"""The GlowTTS synthesizer for inference, split into the stages voxport exports.

Module names follow Coqui TTS (`encoder`, `decoder`, `emb_g`), so a Coqui checkpoint's state dict
loads by name once weight norm is folded.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..vits.layers import sequence_mask
from .config import GlowTTSConfig
from .decoder import Decoder
from .encoder import TextEncoder

NoiseFn = Callable[[tuple[int, ...]], torch.Tensor]


class GlowTTS(nn.Module):
    def __init__(self, config: GlowTTSConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = TextEncoder(config)
        self.decoder = Decoder(config)
        if config.multi_speaker:
            self.emb_g = nn.Embedding(config.n_speakers, config.speaker_channels)

    # --- the exported stages ----------------------------------------------------------------------
    def encode(
        self, ids: torch.Tensor, lengths: torch.Tensor, sid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        x, mean, log_std, x_mask = self.encoder(ids, lengths)
        if self.config.multi_speaker:
            assert sid is not None, "multi-speaker model needs a speaker id"
            # Coqui L2-normalizes the looked-up speaker embedding before conditioning on it.
            return x, mean, log_std, x_mask, F.normalize(self.emb_g(sid)).unsqueeze(-1)
        return x, mean, log_std, x_mask

    def predict_durations(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder.log_durations(x, x_mask, g)

    def decode(self, z: torch.Tensor, z_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, z_mask, g)

    # --- torch reference, not exported: tests compare the SDK's synthesis of the graphs against it ---
    @torch.no_grad()
    def infer(
        self,
        ids: torch.Tensor,
        *,
        noise_fn: NoiseFn,
        noise_scale: float,
        length_scale: float,
        sid: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Coqui's `GlowTTS.inference` for batch size 1: (mel [1, C, T], frames per id [n_ids]).

        The frames are Coqui's durations; T is their sum cut to a multiple of num_squeeze, as Coqui's
        squeeze cuts it. `noise_fn(shape)` gives the prior noise for the T frames kept.
        """
        enc = self.encode(ids, torch.tensor([ids.shape[1]]), sid)
        x, mean, log_std, x_mask = enc[:4]
        g = enc[4] if len(enc) > 4 else None
        logw = self.predict_durations(x, x_mask, g)
        w = (torch.exp(logw) - 1) * x_mask * length_scale
        frames = torch.clamp_min(torch.ceil(w), 1)[0, 0].long()
        n = self.config.num_squeeze
        total = int(frames.sum())
        # Coqui's squeeze drops the frames past the last multiple of num_squeeze.
        keep = max(total // n * n, n)
        m = torch.repeat_interleave(mean[0], frames, dim=1)
        logs = torch.repeat_interleave(log_std[0], frames, dim=1)
        if keep > total:  # too short to squeeze at all: the last phoneme is held
            m = torch.cat([m, m[:, -1:].expand(-1, keep - total)], 1)
            logs = torch.cat([logs, logs[:, -1:].expand(-1, keep - total)], 1)
        m, logs = m[None, :, :keep], logs[None, :, :keep]
        z = m + noise_fn(tuple(m.shape)) * torch.exp(logs) * noise_scale
        z_mask = sequence_mask(torch.tensor([keep]), keep).unsqueeze(1).to(z.dtype)
        return self.decode(z, z_mask, g), frames
