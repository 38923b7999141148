"""The four VITS graphs: encoder, duration predictor, decoder (flow reversed) and vocoder.

Each wrapper fixes the graph's positional signature; the spec names its tensors and axes. Noise enters
as an input and length regulation happens in the SDK, so no graph holds a random or data-dependent op.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from voxport.runtimes.base import TensorSpec

from ..spec import GraphSpec
from .model import Vits

F32, I64 = "float32", "int64"


class _Encoder(nn.Module):
    def __init__(self, model: Vits) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, *sid: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.encode(ids, lengths, sid[0] if sid else None)


class _Duration(nn.Module):
    def __init__(self, model: Vits) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        noise = rest[0] if self.model.config.use_sdp else None
        g = rest[-1] if self.model.config.multi_speaker else None
        return self.model.predict_durations(x, x_mask, noise, g)


class _Decoder(nn.Module):
    def __init__(self, model: Vits) -> None:
        super().__init__()
        self.model = model

    def forward(self, z_p: torch.Tensor, y_mask: torch.Tensor, *g: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z_p, y_mask, g[0] if g else None)


class _Vocoder(nn.Module):
    def __init__(self, model: Vits) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, *g: torch.Tensor) -> torch.Tensor:
        return self.model.vocode(z, g[0] if g else None)


def vits_graph_specs(model: Vits) -> dict[str, GraphSpec]:
    """Specs of the four graphs in pipeline order; the model must be in eval mode."""
    c = model.config
    hid, ch = c.hidden_channels, c.inter_channels
    spk_in = (TensorSpec("sid", I64, ("batch",)),) if c.multi_speaker else ()
    g_spec = (TensorSpec("speaker_embedding", F32, ("batch", c.gin_channels, 1)),) if c.multi_speaker else ()

    def speaker(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"speaker_embedding": rng.standard_normal((1, c.gin_channels, 1)).astype(np.float32)} if g_spec else {}

    def mask(n: int, lengths: int | None = None) -> np.ndarray:
        m = np.ones((1, 1, n), np.float32)
        if lengths is not None:
            m[..., lengths:] = 0.0
        return m

    def enc_example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        feeds = {
            "phoneme_ids": rng.integers(0, c.n_vocab, (1, n)).astype(np.int64),
            "phoneme_lengths": np.array([n], np.int64),
        }
        if spk_in:
            feeds["sid"] = np.array([rng.integers(0, c.n_speakers)], np.int64)
        return feeds

    def dur_example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        feeds = {"hidden": rng.standard_normal((1, hid, n)).astype(np.float32), "phoneme_mask": mask(n)}
        if c.use_sdp:
            feeds["noise"] = rng.standard_normal((1, 2, n)).astype(np.float32) * 0.8
        return {**feeds, **speaker(rng)}

    def dec_example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        feeds = {"prior_latent": rng.standard_normal((1, ch, n)).astype(np.float32), "frame_mask": mask(n)}
        return {**feeds, **speaker(rng)}

    def voc_example(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"latent": rng.standard_normal((1, ch, n)).astype(np.float32), **speaker(rng)}

    per_phoneme = ("batch", ch, "phonemes")
    return {
        "encoder": GraphSpec(
            name="encoder",
            module=_Encoder(model),
            inputs=(
                TensorSpec("phoneme_ids", I64, ("batch", "phonemes")),
                TensorSpec("phoneme_lengths", I64, ("batch",)),
                *spk_in,
            ),
            outputs=(
                TensorSpec("hidden", F32, ("batch", hid, "phonemes")),
                TensorSpec("prior_mean", F32, per_phoneme),
                TensorSpec("prior_log_std", F32, per_phoneme),
                TensorSpec("phoneme_mask", F32, ("batch", 1, "phonemes")),
                *g_spec,
            ),
            example=enc_example,
            atol=1e-3,
        ),
        "duration": GraphSpec(
            name="duration",
            module=_Duration(model),
            inputs=(
                TensorSpec("hidden", F32, ("batch", hid, "phonemes")),
                TensorSpec("phoneme_mask", F32, ("batch", 1, "phonemes")),
                *((TensorSpec("noise", F32, ("batch", 2, "phonemes")),) if c.use_sdp else ()),
                *g_spec,
            ),
            outputs=(TensorSpec("log_durations", F32, ("batch", 1, "phonemes")),),
            example=dur_example,
            atol=1e-3,
        ),
        "decoder": GraphSpec(
            name="decoder",
            module=_Decoder(model),
            inputs=(
                TensorSpec("prior_latent", F32, ("batch", ch, "frames")),
                TensorSpec("frame_mask", F32, ("batch", 1, "frames")),
                *g_spec,
            ),
            outputs=(TensorSpec("latent", F32, ("batch", ch, "frames")),),
            example=dec_example,
            atol=1e-3,
        ),
        "vocoder": GraphSpec(
            name="vocoder",
            module=_Vocoder(model),
            inputs=(TensorSpec("latent", F32, ("batch", ch, "frames")), *g_spec),
            outputs=(TensorSpec("audio", F32, ("batch", 1, "samples")),),
            example=voc_example,
            atol=1e-3,
            example_lengths=(23, 7),
        ),
    }
