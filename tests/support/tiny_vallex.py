"""Tiny random-weight VALL-E X checkpoints (Plachtaa's parameter names and file layout), Vocos directories
(config.yaml + pytorch_model.bin, as on the hub) and a tokenizers-style symbol file, for fast tests.
Nothing here is speech: no trained VALL-E X, EnCodec or Vocos weights are reachable from these machines.

How the AR loop ends, chosen with `stop`: random weights stop at random, so the final LayerNorm's channel
0 is made a constant 10 (weight 0, bias 10) and the EOS row of the prediction layer reads it:
- "cap": EOS logit -1000, never drawn: every sentence runs to the 16-per-text-token cap (with a warning).
- "eos": EOS logit +1000: every sentence ends before its first token (with a warning, no audio).
- "random": untouched (EOS as likely as any token), for timing with forced `steps`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from voxport.export.vallex.model import EOS, Vallex, VallexConfig
from voxport.export.vallex.vocos import VocosConfig, VocosDecoder

TINY = VallexConfig(d_model=128, nhead=2, num_layers=1)
TINY_VOCOS = VocosConfig(input_channels=16, dim=32, intermediate_dim=48, num_layers=2)
# An IPA symbol table in the tokenizers layout (ids are ours, not Plachtaa's bpe_69.json).
SYMBOLS = "_,.!?' " + "abdefhijklmnoprstuvwzæðŋɑɔəɛɚɜɡɪɹʃʊʌʒθˈˌːᵻ"


def tiny_model(stop: str = "cap", seed: int = 0, config: VallexConfig = TINY) -> Vallex:
    torch.manual_seed(seed)
    model = Vallex(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        if stop != "random":
            norm = model.ar_decoder.norm
            norm.weight[0], norm.bias[0] = 0.0, 10.0
            row = model.ar_predict_layer.weight[EOS]
            row.zero_()
            row[0] = 100.0 if stop == "eos" else -100.0
    return model


def write_checkpoint(path: str | Path, stop: str = "cap", seed: int = 0) -> Path:
    path = Path(path)
    torch.save({"model": tiny_model(stop, seed).state_dict()}, path)
    return path


def write_vocos(directory: str | Path, seed: int = 0, config: VocosConfig = TINY_VOCOS) -> Path:
    """config.yaml and pytorch_model.bin laid out as charactr/vocos-encodec-24khz's (16 codebooks)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    decoder = VocosDecoder(config)
    with torch.no_grad():
        for p in decoder.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    state = {**decoder.state_dict(),
             "feature_extractor.codebook_weights": torch.randn(16 * config.bins, config.input_channels)}
    torch.save(state, d / "pytorch_model.bin")
    yaml_config = {
        "feature_extractor": {"class_path": "vocos.feature_extractors.EncodecFeatures",
                              "init_args": {"encodec_model": "encodec_24khz",
                                            "bandwidths": [1.5, 3.0, 6.0, 12.0]}},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": {"input_channels": config.input_channels, "dim": config.dim,
                                   "intermediate_dim": config.intermediate_dim, "num_layers": config.num_layers,
                                   "adanorm_num_embeddings": config.adanorm_num_embeddings}},
        "head": {"class_path": "vocos.heads.ISTFTHead",
                 "init_args": {"dim": config.dim, "n_fft": config.n_fft, "hop_length": config.hop_length,
                               "padding": "same"}},
    }
    (d / "config.yaml").write_text(yaml.safe_dump(yaml_config))
    return d


def write_encodec(path: str | Path, seed: int = 0) -> Path:
    """An EnCodec-24kHz-named state dict with 4 filters instead of 32 (the layout, not the size)."""
    from voxport.export.vallex.encodec import EncodecEncoder

    torch.manual_seed(seed)
    encoder = EncodecEncoder(n_q=8, filters=4, dimension=16)
    torch.save(encoder.state_dict(), path)
    return Path(path)


def write_symbols(path: str | Path) -> Path:
    path = Path(path)
    vocab = {"[UNK]": 0, **{s: i + 1 for i, s in enumerate(dict.fromkeys(SYMBOLS.replace(" ", "")))}}
    path.write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab, "merges": []}}), encoding="utf-8")
    return path


def build_tiny_bundle(out: str | Path, work: str | Path, stop: str = "cap", fixed_slots: int | None = None,
                      encodec: bool = False) -> Path:
    from voxport.export.vallex.build import build_from_files
    from voxport.export.vallex.importer import bpe_symbols

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    ckpt = write_checkpoint(work / "vallex-checkpoint.pt", stop)
    vocos = write_vocos(work / "vocos")
    symbols = bpe_symbols(write_symbols(work / "bpe.json"))
    encoder = write_encodec(work / "encodec_24khz.th") if encodec else None
    return build_from_files(ckpt, vocos, out, phoneme_id_map=symbols, fixed_slots=fixed_slots, encodec=encoder)
