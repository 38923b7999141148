"""A kokoro-onnx-style monolith of a KokoroModel: one graph `tokens, style, speed -> audio`, exported from a
wrapper named as kokoro-onnx's (`encoder.{bert, bert_encoder, predictor, text_encoder}`, `decoder.decoder`),
with the alignment and a noiseless harmonic source inside, as that file has them. Tests export the tiny model
this way and import it back (fp32 and dynamic int8); benchmarks/kokoro.py writes the fp32 monolith of the real
weights dequantized from kokoro-v1.0.int8.onnx, for kokoro-onnx to run (what fp32 costs it, same weights)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


class Monolith(nn.Module):
    def __init__(self, model) -> None:  # noqa: ANN001 -- a KokoroModel
        super().__init__()
        self.style_dim, self.up = model.style_dim, model.hop_length // 2
        self.encoder = nn.Module()
        for name in ("bert", "bert_encoder", "predictor", "text_encoder"):
            setattr(self.encoder, name, getattr(model, name))
        self.decoder = nn.Module()
        self.decoder.decoder = model.decoder

    def _source(self, f0: torch.Tensor) -> torch.Tensor:
        """kokoro's SineGen without its draws (as the monolith): [1, 9, 2F * up]."""
        f0_up = F.interpolate(f0.unsqueeze(1), scale_factor=float(self.up), mode="nearest").transpose(1, 2)
        rad = (f0_up * torch.arange(1, 10, dtype=torch.float32) / 24000.0) % 1.0
        down = F.interpolate(rad.transpose(1, 2), scale_factor=1 / self.up, mode="linear")
        phase = torch.cumsum(down, dim=2) * 2 * math.pi
        phase = F.interpolate(phase * self.up, scale_factor=float(self.up), mode="linear")
        return torch.sin(phase) * 0.1 * (f0_up.transpose(1, 2) > 10).float()

    def forward(self, tokens: torch.Tensor, style: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
        e, s = self.encoder, style[:, self.style_dim:]
        d = e.predictor.text_encoder(e.bert_encoder(e.bert(tokens)).transpose(1, 2), s)
        frames = torch.clamp(torch.round(e.predictor.durations(d) / speed), min=1)[0]
        ends = torch.cumsum(frames, 0)
        t = torch.arange(ends[-1].long()).float().unsqueeze(0)
        aln = ((t >= (ends - frames).unsqueeze(1)) & (t < ends.unsqueeze(1))).float()  # [T, F]
        f0, n = e.predictor.F0Ntrain(d.transpose(1, 2) @ aln, s)
        asr = e.text_encoder(tokens) @ aln
        return self.decoder.decoder(asr, f0, n, style[:, :self.style_dim], self._source(f0)).squeeze(1)


def export_monolith(model, path: Path, int8: bool = False) -> Path:  # noqa: ANN001
    wrapper = Monolith(model).eval()
    args = (torch.tensor([[0, 5, 9, 12, 30, 7, 0]]), torch.zeros(1, 2 * model.style_dim), torch.ones(1))
    fp32 = path.with_suffix(".fp32.onnx") if int8 else path
    torch.onnx.export(wrapper, args, str(fp32), input_names=["tokens", "style", "speed"], output_names=["audio"],
                      dynamic_axes={"tokens": {1: "sequence_length"}, "audio": {1: "samples"}}, opset_version=17,
                      dynamo=False)
    if int8:  # what kokoro-onnx did to make kokoro-v1.0.int8.onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QUInt8)
    return path
