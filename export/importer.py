"""How a model family's importer plugs into `voxport build`: the options it adds, whether the command line
chose it, and the build. A family names its importers in its registration (`Family.importers`,
"module:attribute"); the CLI offers every registered family's importers and runs the one chosen, so adding
a family needs no edit of the CLI. Importer modules import torch only inside `build`, so that `voxport
--help` stays fast and works without the export extra."""

from __future__ import annotations

import argparse
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

Say = Callable[[str], None]


class ImportProblem(ValueError):
    """What the user gave `voxport build` cannot work (a missing file, a stray option): one line, exit 2."""


class Importer(ABC):
    """One way of importing a family's models into a bundle."""

    name: str  # the option that chooses it, e.g. "--piper"
    options: tuple[str, ...] = ()  # its other options ("--config"): given without `name`, they are an error

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add `name` and `options` to `voxport build`."""

    def chosen(self, args: argparse.Namespace) -> bool:
        return bool(getattr(args, _dest(self.name), None))

    def strays(self, args: argparse.Namespace) -> list[str]:
        """Its options given without it."""
        return [o for o in self.options if getattr(args, _dest(o), None)]

    @abstractmethod
    def build(self, args: argparse.Namespace, say: Say) -> Path:
        """Check the files (ImportProblem), import them and write the bundle; its directory."""

    # Shared checks: each names the file or option at fault, in one line.
    @staticmethod
    def require_files(*paths: str | Path) -> list[Path]:
        files = [Path(p) for p in paths]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise ImportProblem(f"no such file: {', '.join(missing)}")
        return files

    def require_output(self, args: argparse.Namespace) -> Path:
        if not args.output:
            raise ImportProblem(f"-o BUNDLE_DIR is required with {self.name}")
        return Path(args.output)


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def load_importer(target: str) -> Importer:
    """The importer a family names as "module:attribute"."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def registered_importers() -> list[Importer]:
    """Every registered family's importers, in family order."""
    from voxport.families import family_named, registered

    return [load_importer(t) for name in registered() for t in family_named(name).importers]
