"""NVIDIA DeepLearningExamples' Tacotron2 for inference, with its module tree and parameter names, so
one of its state dicts loads here by name and back (`embedding`, `encoder.convolutions.{i}.{0.conv,1}`,
`encoder.lstm`, `decoder.prenet/attention_rnn/attention_layer/decoder_rnn/linear_projection/gate_layer`,
`postnet.convolutions.{i}.{0.conv,1}`).

The stages voxport exports are methods: `encode` (ids -> memory, processed memory), `decoder.step` (one
frame with every state in and out) and `postnet_mel` (mel + postnet(mel)). `infer` loops the same step
in torch: the reference the exported graphs and the SDK's loop are compared with. NVIDIA's attention
and decoder dropouts are off in its eval mode, so they are absent; the prenet's dropout is an input.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import Tacotron2Config
from .layers import Attention, ConvNorm, LinearNorm, Prenet


def conv_bn(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """NVIDIA's `Sequential(ConvNorm, BatchNorm1d)`: parameters `{0.conv.*, 1.*}`; BatchNorm in eval mode."""
    return nn.Sequential(ConvNorm(in_channels, out_channels, kernel_size), nn.BatchNorm1d(out_channels))


def length_mask(lengths: torch.Tensor, size: int, like: torch.Tensor) -> torch.Tensor:
    """[B, size]: 1 where the position is inside the sequence, 0 in the padding."""
    return (torch.arange(size, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)).to(like.dtype)


class Encoder(nn.Module):
    """Convolutions (ReLU after BatchNorm), then a bidirectional LSTM of half the width each way."""

    def __init__(self, c: Tacotron2Config) -> None:
        super().__init__()
        dim = c.encoder_embedding_dim
        self.convolutions = nn.ModuleList(conv_bn(dim, dim, c.encoder_kernel_size)
                                          for _ in range(c.encoder_n_convolutions))
        self.lstm = nn.LSTM(dim, dim // 2, 1, batch_first=True, bidirectional=True)

    def _direction(self, x: torch.Tensor, suffix: str) -> torch.Tensor:
        lstm = self.lstm
        weights = [getattr(lstm, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        zeros = x.new_zeros(1, x.shape[0], lstm.hidden_size)
        return torch.lstm(x, (zeros, zeros), weights, True, 1, 0.0, False, False, True)[0]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Embedded ids [B, C, T] -> memory [B, T, C], zero in the padding.

        NVIDIA packs the padded batch for its LSTM; packing is data-dependent, so here the padding is made
        harmless instead: zeroed before every convolution (which then sees it as its own zero padding),
        after the real frames for the forward direction, and moved behind them for the backward one by
        reversing each sequence within its length. A padded input gives its unpadded outputs exactly.
        """
        mask = length_mask(lengths, x.shape[2], x)
        for conv in self.convolutions:
            x = F.relu(conv(x * mask.unsqueeze(1)))
        x = (x * mask.unsqueeze(1)).transpose(1, 2)
        steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
        last = lengths.unsqueeze(1) - 1
        reverse = torch.where(steps <= last, last - steps, steps).unsqueeze(2)  # its own inverse
        backward = self._direction(torch.gather(x, 1, reverse.expand_as(x)), "_reverse")
        backward = torch.gather(backward, 1, reverse.expand_as(backward))
        outputs = torch.cat([self._direction(x, ""), backward], dim=2)
        return outputs * mask.unsqueeze(2)


class Decoder(nn.Module):
    """One autoregressive step: prenet, attention LSTM, location-sensitive attention, decoder LSTM, then
    the frame projection and the stop gate from [decoder state, attention context]."""

    def __init__(self, c: Tacotron2Config) -> None:
        super().__init__()
        self.config = c
        enc = c.encoder_embedding_dim
        self.prenet = Prenet(c.n_mel_channels * c.n_frames_per_step, c.prenet_dim, c.prenet_n_layers)
        self.attention_rnn = nn.LSTMCell(c.prenet_dim + enc, c.attention_rnn_dim)
        self.attention_layer = Attention(c.attention_rnn_dim, enc, c.attention_dim, c.attention_location_n_filters,
                                         c.attention_location_kernel_size)
        self.decoder_rnn = nn.LSTMCell(c.attention_rnn_dim + enc, c.decoder_rnn_dim)
        self.linear_projection = LinearNorm(c.decoder_rnn_dim + enc, c.n_mel_channels * c.n_frames_per_step)
        self.gate_layer = LinearNorm(c.decoder_rnn_dim + enc, 1)

    def step(self, previous_frame: torch.Tensor, prenet_dropout: torch.Tensor,
             attention_hidden: torch.Tensor, attention_cell: torch.Tensor,
             decoder_hidden: torch.Tensor, decoder_cell: torch.Tensor,
             attention_weights: torch.Tensor, attention_weights_cum: torch.Tensor, attention_context: torch.Tensor,
             memory: torch.Tensor, processed_memory: torch.Tensor, memory_mask: torch.Tensor
             ) -> tuple[torch.Tensor, ...]:
        """(frame, gate_logit, then the seven states in the order they came in), as NVIDIA's `decode`."""
        x = self.prenet(previous_frame, prenet_dropout)
        attention_hidden, attention_cell = self.attention_rnn(
            torch.cat([x, attention_context], -1), (attention_hidden, attention_cell))
        weights_cat = torch.stack([attention_weights, attention_weights_cum], dim=1)
        attention_context, attention_weights = self.attention_layer(
            attention_hidden, memory, processed_memory, weights_cat, memory_mask)
        attention_weights_cum = attention_weights_cum + attention_weights
        decoder_hidden, decoder_cell = self.decoder_rnn(
            torch.cat([attention_hidden, attention_context], -1), (decoder_hidden, decoder_cell))
        out = torch.cat([decoder_hidden, attention_context], dim=1)
        return (self.linear_projection(out), self.gate_layer(out), attention_hidden, attention_cell,
                decoder_hidden, decoder_cell, attention_weights, attention_weights_cum, attention_context)

    def initial_state(self, memory: torch.Tensor) -> list[torch.Tensor]:
        """The seven states before the first step: all zeros (NVIDIA's initialize_decoder_states)."""
        c, (b, t, channels) = self.config, memory.shape
        sizes = (c.attention_rnn_dim, c.attention_rnn_dim, c.decoder_rnn_dim, c.decoder_rnn_dim, t, t, channels)
        return [memory.new_zeros(b, n) for n in sizes]


class Postnet(nn.Module):
    """Convolutions with BatchNorm, tanh after all but the last: the residual added to the decoder's mel."""

    def __init__(self, c: Tacotron2Config) -> None:
        super().__init__()
        n, dim, k = c.n_mel_channels, c.postnet_embedding_dim, c.postnet_kernel_size
        sizes = [n] + [dim] * (c.postnet_n_convolutions - 1) + [n]
        self.convolutions = nn.ModuleList(conv_bn(i, o, k) for i, o in zip(sizes[:-1], sizes[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convolutions[:-1]:
            x = torch.tanh(conv(x))
        return self.convolutions[-1](x)


class Tacotron2(nn.Module):
    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.n_symbols, config.symbols_embedding_dim)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.postnet = Postnet(config)

    # --- the exported stages ----------------------------------------------------------------------
    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(memory [B, T, C], processed_memory [B, T, attention_dim]), both zero in the padding."""
        memory = self.encoder(self.embedding(ids).transpose(1, 2), lengths)
        return memory, self.decoder.attention_layer.memory_layer(memory)

    def postnet_mel(self, mel: torch.Tensor) -> torch.Tensor:
        return mel + self.postnet(mel)

    # --- torch reference, not exported ------------------------------------------------------------
    @torch.no_grad()
    def infer(self, ids: torch.Tensor, prenet_masks: torch.Tensor, *, stop_at_gate: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """NVIDIA's inference loop for one utterance: (mel [1, n_mel, F], mel + postnet, gate logits [1, F]).

        `prenet_masks` [max_steps, 1, layers, prenet_dim] are the dropout multipliers of each step; the
        loop ends after the first frame whose sigmoid(gate) exceeds gate_threshold (that frame kept), or
        when the masks run out.
        """
        memory, processed = self.encode(ids, torch.tensor([ids.shape[1]]))
        mask = torch.ones(memory.shape[:2], dtype=memory.dtype)
        state = self.decoder.initial_state(memory)
        frame = memory.new_zeros(1, self.config.n_mel_channels)
        frames, gates = [], []
        for masks in prenet_masks:
            frame, gate, *state = self.decoder.step(frame, masks, *state, memory, processed, mask)
            frames.append(frame)
            gates.append(gate)
            if stop_at_gate and torch.sigmoid(gate).item() > self.config.gate_threshold:
                break
        mel = torch.stack(frames, dim=2)
        return mel, self.postnet_mel(mel), torch.cat(gates, dim=1)
