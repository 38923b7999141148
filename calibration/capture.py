"""Run the fp32 pipeline over a corpus and keep what each stage really receives.

Quantization ranges must come from the inputs a stage sees in use (hidden states of real phoneme
sequences, latents sampled with the voice's noise scales), not from random tensors. Inputs are cut
into fixed-length crops so that every calibration sample has the same shape (onnxruntime's histogram
calibrators need that) and long sentences do not dominate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from voxport import progress
from voxport.bundle import contract as c
from voxport.calibration.plan import plan_of
from voxport.pipeline.engine import StageEvent
from voxport.voice import Voice

Captured = dict[str, list[dict[str, np.ndarray]]]  # stage -> feeds, in corpus order

FRAME_CROP = 64


def _crops(feeds: dict[str, np.ndarray], axis_len: int, crop: int) -> list[dict[str, np.ndarray]]:
    """Equal-length pieces along the time axis (histogram calibrators need one shape); the remainder,
    and an utterance shorter than one crop, are left out. Per-utterance inputs (a speaker embedding)
    are repeated in every piece."""
    return [
        {k: v[..., s : s + crop] if v.shape[-1] == axis_len else v for k, v in feeds.items()}
        for s in range(0, axis_len - crop + 1, crop)
    ]


def capture_stage_inputs(voice: Voice, sentences: list[str], seed: int = 0,
                         frame_crop: int | None = FRAME_CROP,
                         on_sentence: Callable[[int, int], None] | None = None) -> Captured:
    """Feeds of every stage for every sentence, in corpus order; deterministic for a given seed.

    The voice runs its normal fp32 path with its default scales while a hook on the engine records
    what each graph is fed. Frame-level feeds (the family plan's `frame_inputs`) are cut into
    `frame_crop`-frame pieces, or kept whole with `frame_crop=None` (timing: each utterance at its own
    length). `on_sentence(done, total)` is called after each sentence (progress).
    """
    plan, engine = plan_of(voice), voice.engine
    rng = np.random.default_rng(seed)
    frame_inputs = plan.frame_inputs
    captured: Captured = {stage: [] for stage in plan.stages}
    masked = {s for s, g in voice.manifest.graphs.items() if c.FRAME_MASK in {t.name for t in g.inputs}}

    def record(event: StageEvent) -> None:
        if event.stage not in captured or not event.feeds:  # numpy steps (length regulation) have no graph
            return
        feeds = dict(event.feeds)
        frames = feeds[frame_inputs[event.stage]].shape[-1] if event.stage in frame_inputs else 0
        if event.stage in masked and c.FRAME_MASK not in feeds:
            # The voice ran the stage's unmasked copy (never padded), but the graphs calibrated and timed
            # here are the masked ones: their mask is all ones on an unpadded call.
            feeds[c.FRAME_MASK] = np.ones((1, 1, frames), np.float32)
        if event.stage in frame_inputs and frame_crop:
            captured[event.stage].extend(_crops(feeds, frames, frame_crop))
        else:
            captured[event.stage].append(feeds)

    with engine.watch(record):
        for done, text in enumerate(sentences, 1):
            for _, _, ids in voice.frontend.text_to_ids(text):
                plan.run(voice, ids, rng)
            if on_sentence is not None:
                on_sentence(done, len(sentences))
    return captured


def corpus_key(sentences: list[str], seed: int, frame_crop: int) -> str:
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16]
    return f"{digest}-seed{seed}-crop{frame_crop}"


def save_capture(path: Path, captured: Captured) -> None:
    arrays = {f"{stage}/{i}/{name}": value for stage, items in captured.items()
              for i, feeds in enumerate(items) for name, value in feeds.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_capture(path: Path) -> Captured:
    captured: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    with np.load(path) as data:
        for key in data.files:
            stage, index, name = key.split("/")
            captured.setdefault(stage, {}).setdefault(int(index), {})[name] = data[key]
    return {stage: [items[i] for i in sorted(items)] for stage, items in captured.items()}


def cached_capture(voice: Voice, sentences: list[str], seed: int, cache_dir: Path,
                   say: Callable[[str], None]) -> Captured:
    """The corpus's stage inputs, captured once per corpus and seed and kept in `cache_dir`: capture
    runs the whole fp32 pipeline over the corpus, the slowest step when only the gate changed."""
    cache = cache_dir / f"capture-{corpus_key(sentences, seed, FRAME_CROP)}.npz"
    if cache.exists():
        say(f"using captured stage inputs {cache.name}")
        return load_capture(cache)
    progress.stage(say, f"capturing stage inputs on {len(sentences)} sentences (fp32)", len(sentences))
    captured = capture_stage_inputs(voice, sentences, seed, on_sentence=lambda done, n: progress.step(say, done, n))
    save_capture(cache, captured)
    return captured
