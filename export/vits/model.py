"""The VITS synthesizer for inference, split into the four stages voxport exports.

Module names follow jaywalnut310/vits and Piper (`enc_p`, `dp`, `flow`, `dec`, `emb_g`) so their state
dicts load by name. Training-only parts (posterior encoder, SDP posterior flows) are absent.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import VitsConfig
from .duration import DurationPredictor, StochasticDurationPredictor
from .flow import ResidualCouplingBlock
from .generator import Generator
from .text_encoder import TextEncoder


class Vits(nn.Module):
    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        gin = c.gin_channels if c.multi_speaker else 0
        self.enc_p = TextEncoder(
            c.n_vocab,
            c.inter_channels,
            c.hidden_channels,
            c.filter_channels,
            c.n_heads,
            c.n_layers,
            c.kernel_size,
            c.window_size,
        )
        if c.use_sdp:
            self.dp = StochasticDurationPredictor(
                c.hidden_channels, c.dp_kernel_size, c.dp_n_flows, c.dp_num_bins, c.dp_tail_bound, gin
            )
        else:
            self.dp = DurationPredictor(c.hidden_channels, 256, c.dp_kernel_size, gin)
        self.flow = ResidualCouplingBlock(
            c.inter_channels,
            c.hidden_channels,
            c.flow_kernel_size,
            c.flow_dilation_rate,
            c.flow_n_layers,
            c.flow_n_flows,
            gin,
        )
        self.dec = Generator(
            c.inter_channels,
            c.resblock,
            c.resblock_kernel_sizes,
            c.resblock_dilation_sizes,
            c.upsample_rates,
            c.upsample_initial_channel,
            c.upsample_kernel_sizes,
            gin,
        )
        if c.multi_speaker:
            self.emb_g = nn.Embedding(c.n_speakers, c.gin_channels)

    # --- the four exported stages -------------------------------------------------------------
    def encode(
        self, ids: torch.Tensor, lengths: torch.Tensor, sid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        x, m_p, logs_p, x_mask = self.enc_p(ids, lengths)
        if self.config.multi_speaker:
            assert sid is not None, "multi-speaker model needs a speaker id"
            return x, m_p, logs_p, x_mask, self.emb_g(sid).unsqueeze(-1)
        return x, m_p, logs_p, x_mask

    def predict_durations(
        self, x: torch.Tensor, x_mask: torch.Tensor, noise: torch.Tensor | None, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.dp(x, x_mask, noise, g=g)

    def decode(self, z_p: torch.Tensor, y_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        return self.flow(z_p, y_mask, g=g) * y_mask

    def vocode(self, z: torch.Tensor, g: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.dec(z, g=g, mask=mask)
