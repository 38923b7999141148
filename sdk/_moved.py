"""Module names of voxport 0.1 that moved when sdk/ became sub-packages, kept importable for one release.

`import voxport.engine` still works and gives the module now at `voxport.pipeline.engine` (the same
module object), with a DeprecationWarning naming the new place. Removed in the release after 0.2.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

MOVED: dict[str, str] = {
    "voxport.autoregressive": "voxport.families.tacotron2.loop",
    "voxport.autoregressive_params": "voxport.families.tacotron2.params",
    "voxport.cli_build": "voxport.cli.build",
    "voxport.cli_checks": "voxport.cli.checks",
    "voxport.cli_info": "voxport.cli.info",
    "voxport.cli_serve": "voxport.cli.serve",
    "voxport.tools.profiling.cli": "voxport.cli.profile",
    "voxport.contract": "voxport.bundle.contract",
    "voxport.default_voice": "voxport.bundle.default_voice",
    "voxport.engine": "voxport.pipeline.engine",
    "voxport.frontend": "voxport.text.frontend",
    "voxport.griffin_lim": "voxport.pipeline.griffin_lim",
    "voxport.manifest": "voxport.bundle.manifest",
    "voxport.manifest_errors": "voxport.bundle.errors",
    "voxport.manifest_fields": "voxport.bundle.fields",
    "voxport.mel": "voxport.pipeline.mel",
    "voxport.mel_params": "voxport.bundle.mel_params",
    "voxport.noise": "voxport.pipeline.noise",
    "voxport.phoneme_ids": "voxport.text.phoneme_ids",
    "voxport.phonemize": "voxport.text.phonemize",
    "voxport.playback": "voxport.audio.playback",
    "voxport.receptive_field": "voxport.pipeline.reach",
    "voxport.regulate": "voxport.pipeline.regulate",
    "voxport.shaped": "voxport.pipeline.shaped",
    "voxport.ssml": "voxport.text.ssml",
    "voxport.ssml_sayas": "voxport.text.ssml_sayas",
    "voxport.stages": "voxport.pipeline.sessions",
    "voxport.streaming": "voxport.pipeline.streaming",
    "voxport.tacotron2_text": "voxport.families.tacotron2.text",
    "voxport.timestamps": "voxport.pipeline.timestamps",
    "voxport.windows": "voxport.pipeline.windows",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {self.new}; the old name goes in the release after 0.2",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """The module is the new one, already executed."""


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None):  # noqa: ANN201
        new = MOVED.get(name)
        return None if new is None else importlib.util.spec_from_loader(name, _Alias(new))


def install() -> None:
    """Make the old names importable (idempotent)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
