"""Write a Kokoro bundle: the four graphs (style with the voice packs, encoder, prosody, decoder), each
validated against the torch model, and a manifest whose `params` name the voices."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from voxport.bundle.manifest import Manifest
from voxport.families.kokoro.pipeline import DEFAULT_CONTEXT_FRAMES
from voxport.synthesis import Scales

from ..bundle_writer import Progress, quiet, write_bundle
from .graphs import specs
from .model import KokoroModel
from .reference import SAMPLE_RATE

# Private-use characters as the front-end's markers: Kokoro frames ids as [0, *symbols, 0] with no pad between
# symbols, and none of these can occur in phonemizer output.
PAD, BOS, EOS = "\ue000", "\ue001", "\ue002"


def id_map(vocab: Mapping[str, int]) -> dict[str, list[int]]:
    return {**{s: [int(i)] for s, i in vocab.items()}, PAD: [], BOS: [0], EOS: [0]}


def phonemizer(language: str) -> dict[str, Any]:
    # "language": what servers list the voice as (the Japanese front-end has no espeak voice to tell it).
    kind = {"type": "kokoro_ja", "language": "ja"} if language == "ja" else {"type": "espeak", "voice": language}
    return {**kind, "pad": PAD, "bos": BOS, "eos": EOS, "pad_after_bos": False}


def build_bundle(model: KokoroModel, packs: Mapping[str, np.ndarray], out_dir: str | Path, *, name: str = "kokoro",
                 language: str = "en-us", default_voice: str | None = None, source: Mapping[str, Any] | None = None,
                 progress: Progress = quiet) -> Path:
    """`packs`: name -> [rows, 2 * style_dim]; `language`: an espeak-ng voice, or "ja" (pyopenjtalk-plus)."""
    voices = list(packs)
    default = default_voice or voices[0]
    if default not in voices:
        raise ValueError(f"default voice {default!r} is not among the packs ({', '.join(voices)})")
    stacked = np.stack([packs[v] for v in voices]).astype(np.float32)
    cfg = model.config
    manifest = Manifest(
        family="kokoro", name=name, sample_rate=SAMPLE_RATE, hop_length=model.hop_length, graphs={},
        n_vocab=int(cfg["n_token"]), phoneme_id_map=id_map(cfg["vocab"]), phonemizer=phonemizer(language),
        inference=Scales(length_scale=1.0, noise_scale=1.0, noise_w=0.0),
        # The packs are the voice's speakers, so listings, --speaker and servers' voice names know them.
        num_speakers=len(voices), speaker_id_map={v: i for i, v in enumerate(voices)},
        source=dict(source or {}),
        params={"voices": voices, "default_voice": default, "pack_rows": int(stacked.shape[1]),
                "context_length": model.context_length, "source_upsample": model.hop_length // 2,
                "style_dim": model.style_dim, "stream_context_frames": DEFAULT_CONTEXT_FRAMES},
    )
    return write_bundle(specs(model, SAMPLE_RATE, stacked), out_dir, manifest, progress)
