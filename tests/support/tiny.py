"""Tiny generated VITS models for fast tests, and a Piper-style monolithic export of them.

The monolith mimics how Piper exports a voice (one graph, `input`/`input_lengths`/`scales`, random
noise and length regulation inside, weight-normed flow convolutions), so the importer and the parity
check can be tested in seconds without the real voice.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from voxport.export.vits.config import VitsConfig
from voxport.export.vits.layers import sequence_mask
from voxport.export.vits.model import Vits
from voxport.synthesis import Scales

NOISELESS = Scales(noise_scale=0.0, noise_w=0.0)  # deterministic: comparable with the split bundle


def tiny_config(**overrides) -> VitsConfig:
    base = dict(
        n_vocab=256,
        inter_channels=8,
        hidden_channels=16,
        filter_channels=32,
        n_heads=2,
        n_layers=2,
        kernel_size=3,
        window_size=4,
        resblock="2",
        resblock_kernel_sizes=[3, 5],
        resblock_dilation_sizes=[[1, 2], [2, 3]],
        upsample_rates=[4, 4],
        upsample_initial_channel=16,
        upsample_kernel_sizes=[8, 8],
        flow_n_layers=2,
        flow_n_flows=2,
        dp_n_flows=2,
        sample_rate=16000,
    )
    base.update(overrides)
    return VitsConfig(**base)


def tiny_model(seed: int = 0, **overrides) -> Vits:
    torch.manual_seed(seed)
    model = Vits(tiny_config(**overrides)).eval()
    with torch.no_grad():
        # Fresh norms and affine steps are all ones/zeros; perturb them so every parameter is distinct.
        for name, param in model.named_parameters():
            if name.endswith((".gamma", ".beta", ".logs")):
                param.add_(0.05 * torch.randn_like(param))
        # Keep random durations in a speech-like range (about 1-8 frames per phoneme).
        if model.config.use_sdp:
            model.dp.flows[0].m.fill_(0.0)
            model.dp.flows[0].m[0] = -1.2  # reverse step subtracts m: log-durations near +1.2
            for flow in list(model.dp.flows)[3::2]:
                flow.proj.weight.mul_(0.1)
        else:
            model.dp.proj.bias.fill_(1.0)
    return model


class PiperStyleMonolith(nn.Module):
    """Piper's `infer` signature: ids, lengths, scales=[noise_scale, length_scale, noise_w]."""

    def __init__(self, model: Vits) -> None:
        super().__init__()
        # Top-level submodules, so initializer names read `enc_p.…` as in a Piper export.
        self.enc_p, self.dp, self.flow, self.dec = model.enc_p, model.dp, model.flow, model.dec

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        x, m_p, logs_p, x_mask = self.enc_p(ids, lengths)
        noise = torch.randn(x.size(0), 2, x.size(2)) * scales[2]
        logw = self.dp(x, x_mask, noise)
        w_ceil = torch.ceil(torch.exp(logw) * x_mask * scales[1])
        y_lengths = torch.clamp_min(torch.sum(w_ceil, [1, 2]), 1).long()
        y_mask = sequence_mask(y_lengths, y_lengths.max()).unsqueeze(1).to(x_mask.dtype)
        cum = torch.cumsum(w_ceil[:, 0], -1)  # [B, T]
        frames = torch.arange(y_mask.size(2)).view(1, -1, 1)
        path = ((frames < cum.unsqueeze(1)) & (frames >= (cum - w_ceil[:, 0]).unsqueeze(1))).float()
        m_e = torch.matmul(path, m_p.transpose(1, 2)).transpose(1, 2)
        logs_e = torch.matmul(path, logs_p.transpose(1, 2)).transpose(1, 2)
        z_p = m_e + torch.randn_like(m_e) * torch.exp(logs_e) * scales[0]
        z = self.flow(z_p, y_mask) * y_mask
        return self.dec(z).unsqueeze(1)


def export_piper_style(model: Vits, out_dir: Path, phoneme_id_map: dict[str, list[int]]) -> Path:
    """Write `tiny.onnx` + `tiny.onnx.json` the way a Piper voice is distributed."""
    import copy

    out_dir.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model)
    # Piper trains with weight norm on the flow's WaveNet; its export folds those into anonymous tensors.
    for flow in model.flow.flows[::2]:
        for layer in (*flow.enc.in_layers, *flow.enc.res_skip_layers):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # the old API exports like Piper's did
                torch.nn.utils.weight_norm(layer)
    onnx_path = out_dir / "tiny.onnx"
    ids = torch.randint(3, 100, (1, 12))
    args = (ids, torch.tensor([12]), torch.tensor([0.667, 1.0, 0.8]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PiperStyleMonolith(model),
            args,
            str(onnx_path),
            input_names=["input", "input_lengths", "scales"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"},
                          "output": {0: "batch_size", 1: "time"}},
            opset_version=15,
            dynamo=False,
        )
    config = {
        "audio": {"sample_rate": model.config.sample_rate, "quality": "tiny"},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_id_map": phoneme_id_map,
        "num_symbols": model.config.n_vocab,
        "num_speakers": 1,
        "speaker_id_map": {},
    }
    (out_dir / "tiny.onnx.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return onnx_path


def run_monolith(onnx_path: Path, ids: list[int], scales: Scales = NOISELESS) -> np.ndarray:
    """The Piper-style graph, opened the way every tool opens Piper's (voxport.tools.piper_monolith)."""
    from voxport.tools.piper_monolith import PiperMonolith

    with PiperMonolith.open(onnx_path) as monolith:
        return monolith.synthesize_ids(ids, scales)
