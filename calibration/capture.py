"""Run the fp32 pipeline over a corpus and keep what each stage really receives.

Quantization ranges must come from the inputs a stage sees in use (hidden states of real phoneme
sequences, latents sampled with the voice's noise scales), not from random tensors. Inputs are cut
into fixed-length crops so that every calibration sample has the same shape (onnxruntime's histogram
calibrators need that) and long sentences do not dominate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from voxport.voice import Voice

STAGES = ("encoder", "duration", "decoder", "vocoder")


def _crops(feeds: dict[str, np.ndarray], axis_len: int, crop: int) -> list[dict[str, np.ndarray]]:
    """Equal-length pieces along the time axis (histogram calibrators need one shape); the remainder,
    and an utterance shorter than one crop, are left out. Per-utterance inputs (a speaker embedding)
    are repeated in every piece."""
    return [
        {k: v[..., s : s + crop] if v.shape[-1] == axis_len else v for k, v in feeds.items()}
        for s in range(0, axis_len - crop + 1, crop)
    ]


def capture_stage_inputs(
    voice: Voice, sentences: list[str], seed: int = 0, frame_crop: int = 64
) -> dict[str, list[dict[str, np.ndarray]]]:
    """Feeds of every stage for every sentence, in corpus order; deterministic for a given seed.

    The voice runs its normal fp32 path with its default scales; an observer on the engine records
    what each graph is fed. Frame-level feeds (decoder, vocoder) are cut into `frame_crop`-frame pieces.
    """
    engine = voice.engine
    scales = engine.scales(None, None, None)
    rng = np.random.default_rng(seed)
    captured: dict[str, list[dict[str, np.ndarray]]] = {stage: [] for stage in STAGES}

    def record(stage: str, feeds: dict[str, np.ndarray]) -> None:
        if stage in ("decoder", "vocoder"):
            captured[stage].extend(_crops(feeds, next(iter(feeds.values())).shape[-1], frame_crop))
        else:
            captured[stage].append(feeds)

    engine.observer = record
    try:
        for text in sentences:
            for _, _, ids in voice.frontend.text_to_ids(text):
                engine.render(engine.prepare(ids, scales, rng, None))
    finally:
        engine.observer = None
    return captured


def corpus_key(sentences: list[str], seed: int, frame_crop: int) -> str:
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16]
    return f"{digest}-seed{seed}-crop{frame_crop}"


def save_capture(path: Path, captured: dict[str, list[dict[str, np.ndarray]]]) -> None:
    arrays = {f"{stage}/{i}/{name}": value for stage, items in captured.items()
              for i, feeds in enumerate(items) for name, value in feeds.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_capture(path: Path) -> dict[str, list[dict[str, np.ndarray]]]:
    captured: dict[str, dict[int, dict[str, np.ndarray]]] = {stage: {} for stage in STAGES}
    with np.load(path) as data:
        for key in data.files:
            stage, index, name = key.split("/")
            captured[stage].setdefault(int(index), {})[name] = data[key]
    return {stage: [items[i] for i in sorted(items)] for stage, items in captured.items()}
