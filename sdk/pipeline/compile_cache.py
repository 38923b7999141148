"""Where compiled graphs are kept between starts: `<voxport cache>/compiled/<bundle>/<runtime>-<device>-<version>`.

OpenVINO compiles every graph (and every static bucket copy) at each start: seconds on a small board.
With ``CACHE_DIR`` set it writes the compiled blob once and imports it at the next start instead. OpenVINO
keys each blob by the model's content, the device and the compile config, so a stale entry is never
used for another graph; the directory adds the bundle (a hash of its manifest's file sha256s), the
device and the runtime's version so that one bundle's blobs can be found and deleted together, and a
runtime upgrade starts a fresh directory instead of mixing blobs.

Opt out with ``Voice.load(compile_cache=False)`` or ``VOXPORT_COMPILE_CACHE=0`` (also off/false/no);
``VOXPORT_COMPILE_CACHE=/some/dir`` moves the root (the test suite keeps its blobs in a temporary one).
A damaged blob costs a compilation, not a load: OpenVINO recompiles when it cannot import one, and the
backend retries without the cache if a compilation with it fails (voxport.runtimes.openvino_backend).
"""

from __future__ import annotations

import hashlib
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from voxport.bundle import Bundle

__all__ = ["CompileCache", "ENV", "bundle_cache_dir", "bundle_key", "compile_cache_root", "runtime_cache_dir"]

ENV = "VOXPORT_COMPILE_CACHE"
_OFF = {"0", "off", "false", "no"}
_ON = {"", "1", "on", "true", "yes"}
# A compile cache choice: True (the default root), False (none), or a directory to use as the root.
CompileCache = bool | str | os.PathLike[str]


def compile_cache_root(choice: CompileCache = True) -> Path | None:
    """The root of compiled-graph directories, or None when caching is off (`choice` False, or the
    environment's VOXPORT_COMPILE_CACHE is 0/off/false/no). A directory in `choice`, else in the variable,
    is the root; else `<voxport cache>/compiled`."""
    if choice is False:
        return None
    if choice is not True:
        if isinstance(choice, (bool, int)) or not isinstance(choice, (str, os.PathLike)) or not str(choice):
            raise ValueError(f"compile_cache must be True, False or a directory, got {choice!r}")
        return Path(choice).expanduser()
    env = os.environ.get(ENV, "").strip()
    if env.lower() in _OFF:
        return None
    if env.lower() not in _ON:
        return Path(env).expanduser()
    from voxport.bundle.default_voice import cache_root

    return cache_root() / "compiled"


def bundle_key(bundle: Bundle) -> str:
    """16 hex digits naming the bundle's graph files: a hash of every variant's sha256 in the manifest
    (a rebuilt or re-quantized bundle gets a directory of its own)."""
    digest = hashlib.sha256()
    for stage, graph in sorted(bundle.manifest.graphs.items()):
        for precision, variant in sorted(graph.variants.items()):
            digest.update(f"{stage}/{precision}:{variant.sha256}\n".encode())
    return f"{bundle.manifest.name}-{digest.hexdigest()[:16]}" if bundle.manifest.name else digest.hexdigest()[:16]


def _safe(part: str) -> str:
    """A path component from a name ("AUTO:GPU,CPU", "2026.4.1-22982-..."): only [A-Za-z0-9._-]."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part) or "_"


def bundle_cache_dir(root: Path, bundle: Bundle) -> Path:
    """`root/<bundle key>`: everything kept for `bundle` between starts (compiled graphs per runtime, the
    memory budget's measurements); deleting it is always safe."""
    return root / _safe(bundle_key(bundle))


def runtime_cache_dir(root: Path, bundle: Bundle, runtime: str, module: str, device: str | None) -> Path:
    """`root/<bundle key>/<runtime>-<device>-<version of module>`: the directory one runtime's compiled
    graphs of `bundle` on `device` go to."""
    try:
        ver = version(module)
    except PackageNotFoundError:  # a runtime importable without package metadata (a source build)
        ver = "unknown"
    return bundle_cache_dir(root, bundle) / _safe(f"{runtime}-{device or 'default'}-{ver}")
