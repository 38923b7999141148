"""Load a `kokoro` checkpoint (`kokoro-v1_0.pth`: a dict of five state dicts, `bert`, `bert_encoder`,
`predictor`, `text_encoder`, `decoder`, their keys possibly `module.`-prefixed, convolutions weight-normed)
and its config.json into KokoroModel.

Read with weights_only=True (no pickled code runs). Tolerated and explained: PL-BERT's `position_ids` buffer
(not a weight), the STFT kernels a `disable_complex` model saves (recomputed here), and AdaIN instance-norm
affine parameters a checkpoint trained without them lacks (kokoro loads those non-strictly, leaving 1 and 0).
Anything else unknown or missing is a typed error naming the tensor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelImportError, UnsupportedConfigError
from ..weights import fold_weight_norm, load_state_strict, read_checkpoint
from .layers import AdaIN1d
from .model import KokoroModel

PARTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
CONFIG_KEYS = ("vocab", "n_token", "hidden_dim", "style_dim", "n_layer", "max_dur", "plbert", "istftnet",
               "text_encoder_kernel_size")
_IGNORED_SUFFIXES = ("embeddings.position_ids", ".stft.window", ".stft.weight_forward_real",
                     ".stft.weight_forward_imag", ".stft.weight_backward_real", ".stft.weight_backward_imag")


class NotKokoroError(ModelImportError):
    """The file given as a Kokoro model is something else (named in the message)."""


class VocabMismatchError(ModelImportError):
    """The config's vocabulary does not fit the model's symbol table."""


def read_config(config: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """config.json checked for the fields the model needs: a one-line error names the first one missing."""
    source = str(config) if not isinstance(config, Mapping) else "the config"
    if not isinstance(config, Mapping):
        try:
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise NotKokoroError(f"{source} is not a readable Kokoro config.json: {e}") from e
    if not isinstance(config, Mapping):
        raise NotKokoroError(f"{source} is not a Kokoro config.json (not a JSON object)")
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing:
        raise NotKokoroError(f"{source} is not a Kokoro config.json: it lacks {missing}")
    check_vocab(config["vocab"], int(config["n_token"]), source)
    return dict(config)


def check_vocab(vocab: Any, n_token: int, source: str) -> None:
    if not isinstance(vocab, Mapping) or not vocab:
        raise VocabMismatchError(f"{source}: vocab must be a non-empty map of symbol -> id")
    bad = sorted(s for s, i in vocab.items() if not isinstance(i, int) or not 0 < i < n_token)
    if bad:
        raise VocabMismatchError(f"{source}: vocab ids of {bad[:5]} are outside 1..{n_token - 1} (n_token {n_token})")


def _part_state(name: str, state: Any, source: str) -> dict[str, torch.Tensor]:
    if not isinstance(state, Mapping):
        raise NotKokoroError(f"{source}: {name!r} is not a state dict")
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    state = fold_weight_norm(state)
    return {f"{name}.{k}": v for k, v in state.items() if not k.endswith(_IGNORED_SUFFIXES)}


def _with_adain_defaults(model: KokoroModel, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """AdaIN instance-norm affine parameters the checkpoint lacks, as kokoro leaves them: weight 1, bias 0."""
    for name, module in model.named_modules():
        if isinstance(module, AdaIN1d):
            for param, fill in (("weight", torch.ones_like), ("bias", torch.zeros_like)):
                key = f"{name}.norm.{param}"
                state.setdefault(key, fill(getattr(module.norm, param).detach()))
    return state


def load_kokoro(checkpoint: str | Path | Mapping[str, object], config: str | Path | Mapping[str, Any]
                ) -> KokoroModel:
    """The model with the checkpoint's weights, in eval mode."""
    source = str(checkpoint) if isinstance(checkpoint, (str, Path)) else "the checkpoint"
    cfg = read_config(config)
    if cfg.get("istftnet", {}).get("gen_istft_n_fft", 0) < 2:
        raise UnsupportedConfigError(f"{source}: istftnet.gen_istft_n_fft must be >= 2")
    try:
        raw = read_checkpoint(checkpoint)
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise NotKokoroError(f"{source} is not a Kokoro checkpoint: {str(e).splitlines()[0]}") from e
    if not isinstance(raw, Mapping) or not set(PARTS) <= set(raw):
        keys = sorted(raw)[:8] if isinstance(raw, Mapping) else type(raw).__name__
        raise NotKokoroError(f"{source} is not a Kokoro checkpoint: expected parts {list(PARTS)}, found {keys}")
    state: dict[str, torch.Tensor] = {}
    for name in PARTS:
        state.update(_part_state(name, raw[name], source))
    model = KokoroModel(cfg)
    return load_state_strict(model, _with_adain_defaults(model, state), source, "Kokoro")
