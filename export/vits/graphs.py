"""The four VITS graphs: encoder, duration predictor, decoder (flow reversed) and vocoder.

Noise enters as an input and length regulation happens in the SDK, so no graph holds a random or
data-dependent op. Tensor names are the stage contract's (voxport.bundle.contract, via export/stage_specs.py).
"""

from __future__ import annotations

import torch
from torch import nn

from voxport.bundle.contract import VOCODER

from ..spec import GraphSpec
from ..stage_specs import Speakers, decoder_spec, duration_spec, encoder_spec, vocoder_spec
from .model import Vits


class _Duration(nn.Module):
    def __init__(self, model: Vits) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        noise = rest[0] if self.model.config.use_sdp else None
        g = rest[-1] if self.model.config.multi_speaker else None
        return self.model.predict_durations(x, x_mask, noise, g)


class _Vocoder(nn.Module):
    def __init__(self, model: Vits) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, mask: torch.Tensor, *g: torch.Tensor) -> torch.Tensor:
        return self.model.vocode(z, g[0] if g else None, mask)


class _UnmaskedVocoder(nn.Module):
    """The vocoder without frame_mask: the same weights, for calls that are never padded."""

    def __init__(self, model: Vits) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, *g: torch.Tensor) -> torch.Tensor:
        return self.model.vocode(z, g[0] if g else None, None)


def _speakers(model: Vits) -> Speakers:
    c = model.config
    return Speakers(c.n_speakers if c.multi_speaker else 1, c.gin_channels)


def vits_unmasked_specs(model: Vits) -> dict[str, GraphSpec]:
    """Unmasked copies by stage: the vocoder only. On onnxruntime fp32 (Piper joe-medium, 2-core AMD EPYC)
    the unmasked vocoder ran its calls in 0.93-0.96x the masked graph's time; an unmasked decoder (the
    flow without its x_mask) measured 0.97-1.03x, within noise, so it is not worth a second file."""
    c = model.config
    return {VOCODER: vocoder_spec(_UnmaskedVocoder(model), channels=c.inter_channels, speakers=_speakers(model))}


def vits_graph_specs(model: Vits) -> dict[str, GraphSpec]:
    """Specs of the four graphs in pipeline order; the model must be in eval mode."""
    c = model.config
    speakers = _speakers(model)
    ch = c.inter_channels
    specs = (
        encoder_spec(model, n_vocab=c.n_vocab, hidden=c.hidden_channels, channels=ch, speakers=speakers),
        duration_spec(_Duration(model), hidden=c.hidden_channels, speakers=speakers,
                      noise_channels=2 if c.use_sdp else 0),
        decoder_spec(model, channels=ch, speakers=speakers),
        vocoder_spec(_Vocoder(model), channels=ch, speakers=speakers, masked=True),
    )
    return {spec.name: spec for spec in specs}
