"""Model families, registered by name. A bundle's manifest names its family; everything that runs a
bundle asks `family_of(manifest)` what to do.

Built-in families are listed in BUILTIN by the module that defines their `FAMILY` (imported on first
use); packages can add families through the `voxport.families` entry-point group (each entry point a
`Family`), and code or tests with `register(family)`. Adding a family touches its own folders and one
line here (or its own package's entry point), nothing else.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from voxport.families.base import COMMON_KNOBS, Family, Pipeline

if TYPE_CHECKING:
    from voxport.bundle.manifest import Manifest

__all__ = ["BUILTIN", "COMMON_KNOBS", "Family", "Pipeline", "UnknownFamilyError", "family_named", "family_of",
           "register", "registered"]

BUILTIN: dict[str, str] = {
    "vits": "voxport.families.vits",
    "glowtts": "voxport.families.glowtts",
    "tacotron2": "voxport.families.tacotron2.family",
    "vallex": "voxport.families.vallex.family",
    "kokoro": "voxport.families.kokoro.family",
}
ENTRY_POINT_GROUP = "voxport.families"

_registered: dict[str, Family] = {}
_lock = threading.Lock()
_discovered = False


class UnknownFamilyError(ValueError):
    """A bundle names a model family this voxport does not know."""


def register(family: Family, *, replace: bool = False) -> Family:
    """Make `family` known by its name; a second family of the same name is refused unless `replace`."""
    with _lock:
        if not replace and family.name in _registered and _registered[family.name] is not family:
            raise ValueError(f"a model family named {family.name!r} is already registered")
        _registered[family.name] = family
    return family


def unregister(name: str) -> None:
    """Forget a family registered at run time (tests)."""
    with _lock:
        _registered.pop(name, None)


def _discover() -> None:
    """Entry points of installed packages, once per process."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        family = ep.load()
        if isinstance(family, Family) and family.name not in _registered:
            register(family)


def family_named(name: str) -> Family:
    """The family registered as `name`; UnknownFamilyError listing the known ones otherwise."""
    family = _registered.get(name)
    if family is not None:
        return family
    if name in BUILTIN:
        module = importlib.import_module(BUILTIN[name])
        return register(module.FAMILY)
    _discover()
    if name in _registered:
        return _registered[name]
    raise UnknownFamilyError(f"model family {name!r} is not known to this voxport (known: {', '.join(registered())})")


def family_of(manifest: Manifest) -> Family:
    return family_named(manifest.family)


def registered() -> list[str]:
    """Names of every known family, built-in first."""
    _discover()
    return [*BUILTIN, *(n for n in _registered if n not in BUILTIN)]
