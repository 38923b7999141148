"""Piper voices as distributed (`voice.onnx` + `voice.onnx.json`), served through a cached voxport bundle.

A Piper .onnx is converted once by `voxport build --piper` in a child process (the same path that builds
the default voice, so the server never imports torch) into the voxport cache, under a name keyed by the
content of both files and by the voxport build: a restart, or the same files moved elsewhere, reuses it;
a changed file or a newer voxport converts again.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from voxport.bundle import MANIFEST_NAME, Bundle, BundleError
from voxport.bundle.default_voice import EXPORT_REVISION, build_bundle_in_child, cache_root
from voxport.progress import Progress

PIPER_SUFFIX = ".onnx"
CONFIG_SUFFIX = ".onnx.json"


class PiperVoiceError(ValueError):
    """A configured Piper voice cannot be served: its config is missing, the export extra is not
    installed, or the conversion failed."""


def is_piper_voice(path: Path) -> bool:
    """A Piper voice file as distributed, rather than a bundle directory."""
    return path.suffix == PIPER_SUFFIX and not path.is_dir()


def piper_config(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".json")


def cached_bundle_dir(onnx_path: Path, root: Path | None = None) -> Path:
    """Where the bundle of this voice is cached: keyed by the content of the .onnx and its config
    (the config's phoneme map and scales go into the bundle too) and by the voxport build."""
    from voxport import __version__

    digest = hashlib.sha256()
    for path in (onnx_path, piper_config(onnx_path)):
        digest.update(_file_sha256(path).encode())
    stem = onnx_path.name.removesuffix(PIPER_SUFFIX)
    name = f"{stem}-{digest.hexdigest()[:16]}-voxport{__version__}-r{EXPORT_REVISION}"
    return (root or cache_root()) / "piper" / name


def ensure_piper_bundle(onnx_path: str | Path, *, root: Path | None = None, progress: bool | Progress = False) -> Path:
    """The bundle directory of a Piper voice, converting it into the cache first if it is not there; the
    conversion's stages, steps and time left are shown with `progress` (voxport.progress)."""
    onnx_path = Path(onnx_path).expanduser()
    if not onnx_path.is_file():
        raise PiperVoiceError(f"no such Piper voice file: {onnx_path}")
    config = piper_config(onnx_path)
    if not config.is_file():
        raise PiperVoiceError(f"Piper voice {onnx_path} has no config beside it: {config.name} is missing")
    target = cached_bundle_dir(onnx_path, root)
    if _intact(target):
        return target
    missing = missing_export_modules()
    if missing:
        raise PiperVoiceError(f"serving the Piper voice {onnx_path.name} converts it once, which needs "
                              f"{' and '.join(missing)}: pip install 'voxport[export]'")
    with _lock(target):
        if _intact(target):  # another process converted it while this one waited
            return target
        shown = progress if isinstance(progress, Progress) else Progress(quiet=not progress, tick=1.0)
        shown(f"converting the Piper voice {onnx_path.name} into {target} (once)")
        return build_bundle_in_child(["--piper", str(onnx_path), "--config", str(config)], target,
                                     progress=shown if progress else False, what=f"a bundle from {onnx_path}",
                                     error=PiperVoiceError)


def missing_export_modules() -> list[str]:
    """What of the export extra the conversion needs and this environment lacks (looked up, not imported)."""
    missing = []
    for module in ("torch", "onnx"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or blocked installation counts as missing
            found = False
        if not found:
            missing.append(module)
    return missing


def _intact(target: Path) -> bool:
    if not (target / MANIFEST_NAME).exists():
        return False
    try:
        Bundle.load(target, verify=False)
    except BundleError:
        return False  # damaged or from an incompatible build: convert again
    return True


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _lock(target: Path) -> Iterator[None]:
    """One converter per voice at a time across processes (two servers starting together)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: the bundle writer's atomic rename still keeps the cache whole
        yield
        return
    with open(target.parent / f".{target.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
