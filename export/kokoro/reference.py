"""Kokoro synthesis on the torch modules, split as the bundle is (host-side regulation and source): the
reference the SDK's pipeline and the `kokoro` package's own KModel are compared with in tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from voxport.families.kokoro.regulate import expand, frames_of
from voxport.families.kokoro.source import SourceDraws, harmonics

from .model import KokoroModel

SAMPLE_RATE = 24000


@torch.no_grad()
def synthesize(model: KokoroModel, ids: list[int], ref_s: np.ndarray, speed: float,
               draws: Callable[[int], SourceDraws]) -> tuple[np.ndarray, np.ndarray]:
    """(audio [samples], frames per id) for padded ids (0 first and last, as kokoro frames them)."""
    t = torch.tensor([ids], dtype=torch.long)
    s = torch.from_numpy(np.asarray(ref_s, np.float32).reshape(1, -1))
    durations, prosody_features, text_features = model.encode(t, s)
    frames = frames_of(durations.numpy(), speed)
    aligned = torch.from_numpy(expand(prosody_features.numpy(), frames))
    f0, energy = model.prosody(aligned, s)
    half_hop = model.hop_length // 2
    source = harmonics(f0.numpy()[0], half_hop, SAMPLE_RATE, draws(f0.shape[1] * half_hop))
    audio = model.decode(torch.from_numpy(expand(text_features.numpy(), frames)), f0, energy, s,
                         torch.from_numpy(source))
    return audio.numpy()[0], frames
