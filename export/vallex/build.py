"""VALL-E X bundles from local files: Plachtaa's `vallex-checkpoint.pt` and a local copy of Vocos
(charactr/vocos-encodec-24khz: config.yaml + pytorch_model.bin). Nothing is downloaded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from voxport.bundle.manifest import Manifest

from ..bundle_writer import Progress, quiet, write_bundle
from .encodec import EncodecEncoder, load_encodec
from .graphs import vallex_graph_specs
from .model import LANGUAGES, Vallex, VallexConfig
from .vocos import CodebookEmbedding, VocosDecoder, load_vocos

SAMPLE_RATE, HOP_LENGTH = 24000, 320  # EnCodec 24 kHz: 75 frames per second
HEAD_DIM = 64  # Plachtaa's 1024-wide model has 16 heads; a checkpoint does not record the head count
CKPT_HELP = "Plachtaa/VALL-E-X's vallex-checkpoint.pt ({'model': state_dict}), copied to a local path"


class CheckpointError(ValueError):
    """The checkpoint is missing or does not fit: one line naming the file and the expected key/shape."""


def _shape(state: dict[str, torch.Tensor], key: str, path: Path) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{path}: lacks {key!r}; expected {CKPT_HELP}")
    return tuple(state[key].shape)


def config_of(state: dict[str, torch.Tensor], path: Path, nhead: int | None = None) -> VallexConfig:
    """The model's sizes from its tensors (heads: `nhead`, else d_model / 64 as in Plachtaa's)."""
    n_text, d = _shape(state, "ar_text_embedding.word_embeddings.weight", path)
    n_audio = _shape(state, "ar_predict_layer.weight", path)[0] - 1
    layers = 1 + max((int(m.group(1)) for k in state if (m := re.match(r"ar_decoder\.layers\.(\d+)\.", k))),
                     default=-1)
    quantizers = sum(1 for k in state if re.match(r"nar_audio_embeddings\.\d+\.word_embeddings\.weight$", k))
    heads = nhead or max(1, d // HEAD_DIM)
    if layers < 1 or d % heads or quantizers != 8:
        raise CheckpointError(f"{path}: expected ar_decoder.layers.N.*, d_model divisible by {heads} heads and "
                              f"8 codebooks; found {layers} layers, d_model {d}, {quantizers} codebooks")
    return VallexConfig(d_model=d, nhead=heads, num_layers=layers, n_text=n_text, n_audio=n_audio)


def load_vallex_checkpoint(path: str | Path, nhead: int | None = None) -> Vallex:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: put {CKPT_HELP} there")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or not isinstance(blob.get("model"), dict):
        raise CheckpointError(f"{path}: expected a dict with key 'model' holding the state dict ({CKPT_HELP})")
    state = blob["model"]
    model = Vallex(config_of(state, path, nhead))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        what = f"lacks {missing[0]!r}" if missing else f"has unexpected {unexpected[0]!r}"
        raise CheckpointError(f"{path}: {what} ({len(missing)} missing, {len(unexpected)} unexpected keys)")
    expected = dict(model.state_dict())
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(f"{path}: {key} is {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}")
    return model.eval()


def build_vallex_bundle(model: Vallex, decoder: VocosDecoder, embedding: CodebookEmbedding, out_dir: str | Path,
                        *, phoneme_id_map: dict[str, list[int]], name: str = "vallex",
                        source: dict[str, Any] | None = None, fixed_slots: int | None = None,
                        encoder: EncodecEncoder | None = None, progress: Progress | None = None) -> Path:
    """Write the AR, NAR, codebook-embedding and Vocos graphs (and EnCodec's encoder) with the manifest."""
    c = model.config
    manifest = Manifest(
        family="vallex", name=name, sample_rate=SAMPLE_RATE, hop_length=HOP_LENGTH, graphs={},
        n_vocab=c.n_text, phoneme_id_map=phoneme_id_map,
        phonemizer={"type": "espeak", "voice": "en-us"},
        source=dict(source or {}),
        extra={"model_config": c.to_dict(), "vocos_config": decoder.config.to_dict()},
        params={"languages": list(LANGUAGES), "max_tokens_per_text_token": 16, "top_k": -100,
                "temperature": 1.0, **({"fixed_slots": fixed_slots} if fixed_slots else {})},
    )
    specs = vallex_graph_specs(model, decoder, embedding, fixed_slots, encoder)
    return write_bundle(specs, out_dir, manifest, progress or quiet)


def build_from_files(vallex: str | Path, vocos: str | Path, out_dir: str | Path, *,
                     phoneme_id_map: dict[str, list[int]], fixed_slots: int | None = None,
                     encodec: str | Path | None = None, nhead: int | None = None,
                     progress: Progress | None = None) -> Path:
    say = progress or quiet
    say(f"importing VALL-E X {vallex}")
    model = load_vallex_checkpoint(vallex, nhead)
    say(f"importing Vocos from {vocos}")
    decoder, embedding = load_vocos(vocos)
    encoder = None
    if encodec is not None:
        say(f"importing the EnCodec encoder from {encodec}")
        encoder = load_encodec(encodec)
    source = {"vallex": str(Path(vallex).name), "vocos": str(Path(vocos).name),
              **({"encodec": Path(encodec).name} if encodec else {})}
    return build_vallex_bundle(model, decoder, embedding, out_dir, phoneme_id_map=phoneme_id_map,
                               source=source, fixed_slots=fixed_slots, encoder=encoder, progress=say)
