"""The GlowTTS graphs: encoder, duration predictor, decoder (flows reversed, mel out) and, when a mel
vocoder comes with it, the vocoder; tensor names are the stage contract's (voxport.bundle.contract).

The decoder's time axis must be a multiple of num_squeeze; the SDK guarantees it from the manifest's
`frame_multiple`, so the graph has no trimming (and no data-dependent shape) of its own.
"""

from __future__ import annotations

import torch
from torch import nn

from ..hifigan import MelVocoder
from ..spec import GraphSpec
from ..stage_specs import Speakers, decoder_spec, duration_spec, encoder_spec, vocoder_spec
from .model import GlowTTS


class _Duration(nn.Module):
    def __init__(self, model: GlowTTS) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, *g: torch.Tensor) -> torch.Tensor:
        return self.model.predict_durations(x, x_mask, g[0] if g else None)


def glowtts_graph_specs(model: GlowTTS, vocoder: MelVocoder | None = None) -> dict[str, GraphSpec]:
    """Specs in pipeline order; without a vocoder the bundle falls back to Griffin-Lim in the SDK."""
    c = model.config
    model.eval()
    model.decoder.store_inverse()  # the graphs carry the 1x1 convolutions' inverses as constants
    speakers = Speakers(c.n_speakers, c.speaker_channels)
    ch = c.out_channels
    n = c.num_squeeze
    specs = [
        encoder_spec(model, n_vocab=c.n_vocab, hidden=c.hidden_channels_enc, channels=ch, speakers=speakers),
        duration_spec(_Duration(model), hidden=c.hidden_channels_enc, speakers=speakers),
        decoder_spec(model, channels=ch, speakers=speakers, example_lengths=(9 * n, 3 * n)),
    ]
    if vocoder is not None:
        specs.append(vocoder_spec(vocoder.eval(), channels=ch, speakers=Speakers(1, 0)))
    return {spec.name: spec for spec in specs}
