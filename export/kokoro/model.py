"""The whole Kokoro model (`kokoro.model.KModel`'s parameters, same names) and its three stage modules.

Split where the computation stops being a fixed function of fixed-size tensors:
    encoder   phoneme_ids [1, T], style [1, 256] -> durations [1, T] (frames at speed 1, before rounding),
              prosody_features [1, C+S, T], text_features [1, C, T]
    (SDK: frames = round(durations / speed) clamped to >= 1; features repeated per frame)
    prosody   aligned_prosody [1, C+S, F], style -> f0, energy [1, 2F]
    (SDK: the harmonic source from f0 and the seed: voxport.families.kokoro.source)
    decoder   aligned_text [1, C, F], f0, energy, style, harmonics [1, 9, F * hop] -> audio [1, F * hop]
The style is the voice pack's row: its first half drives the decoder, its second the predictor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .albert import PLBert
from .istft import Decoder
from .layers import ProsodyPredictor, TextEncoder

STYLE_WIDTH = 256  # a voice pack row: [acoustic 128 | prosodic 128] for Kokoro-82M


class KokoroModel(nn.Module):
    """`config` is Kokoro's config.json (vocab, n_token, hidden_dim, style_dim, n_layer, max_dur, plbert, istftnet,
    text_encoder_kernel_size). voxport's own keys: `voxport_stft` (istft.STFT_VARIANTS; default "custom", as
    kokoro's disable_complex=True) and `voxport_decoder` ({"hidden", "asr_res"}: a smaller decoder for tests)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)
        hidden, style = config["hidden_dim"], config["style_dim"]
        self.style_dim = style
        self.bert = PLBert(config["n_token"], config["plbert"])
        self.bert_encoder = nn.Linear(self.bert.config["hidden_size"], hidden)
        self.predictor = ProsodyPredictor(style, hidden, config["n_layer"], config["max_dur"])
        self.text_encoder = TextEncoder(hidden, config["text_encoder_kernel_size"], config["n_layer"],
                                        config["n_token"])
        self.decoder = Decoder(hidden, style, config["istftnet"], **config.get("voxport_decoder", {}),
                               stft=config.get("voxport_stft", "custom"))

    @property
    def context_length(self) -> int:
        return int(self.bert.config["max_position_embeddings"])

    @property
    def hop_length(self) -> int:
        """Audio samples per frame of the durations: 2 (prosody rate) x the upsampling x the iSTFT hop."""
        ist = self.config["istftnet"]
        rate = 1
        for u in ist["upsample_rates"]:
            rate *= u
        return 2 * rate * ist["gen_istft_hop_size"]

    def encode(self, ids: torch.Tensor, ref_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = ref_s[:, self.style_dim:]
        d_en = self.bert_encoder(self.bert(ids)).transpose(1, 2)
        d = self.predictor.text_encoder(d_en, s)  # [1, T, C+S]
        return self.predictor.durations(d), d.transpose(1, 2), self.text_encoder(ids)

    def prosody(self, aligned: torch.Tensor, ref_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.predictor.F0Ntrain(aligned, ref_s[:, self.style_dim:])

    def decode(self, asr: torch.Tensor, f0: torch.Tensor, energy: torch.Tensor, ref_s: torch.Tensor,
               harmonics: torch.Tensor) -> torch.Tensor:
        return self.decoder(asr, f0, energy, ref_s[:, :self.style_dim], harmonics).squeeze(1)


class EncoderStage(nn.Module):
    def __init__(self, model: KokoroModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model.encode(ids, style)


class ProsodyStage(nn.Module):
    def __init__(self, model: KokoroModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, aligned: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.prosody(aligned, style)


class DecoderStage(nn.Module):
    def __init__(self, model: KokoroModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, asr: torch.Tensor, f0: torch.Tensor, energy: torch.Tensor, style: torch.Tensor,
                harmonics: torch.Tensor) -> torch.Tensor:
        return self.model.decode(asr, f0, energy, style, harmonics)


class StyleStage(nn.Module):
    """The voice packs [V, rows, 256] as a constant; style = sum_v weight_v * pack_v[row]."""

    def __init__(self, packs: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("packs", packs.float().contiguous())

    def forward(self, weights: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        rows = torch.index_select(self.packs, 1, row).squeeze(1)  # [V, 256]
        return weights @ rows
