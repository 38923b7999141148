"""Package discovery for the layout in pyproject.toml: `voxport` lives in sdk/ and its sub-packages
runtimes/, export/, calibration/, tools/ and cli/ in top-level folders of their own (package-dir).
setuptools' own finder walks one root, so every folder with an __init__.py under each root is listed
here instead: a new module folder is packaged without editing a list."""

from pathlib import Path

from setuptools import setup

ROOTS = {"voxport": "sdk", "voxport.runtimes": "runtimes", "voxport.export": "export",
         "voxport.calibration": "calibration", "voxport.tools": "tools", "voxport.cli": "cli"}


def packages() -> list[str]:
    found = []
    for name, root in ROOTS.items():
        for init in sorted(Path(root).rglob("__init__.py")):
            parts = init.parent.relative_to(root).parts
            found.append(".".join((name, *parts)))
    return found


setup(packages=packages(), package_dir=ROOTS)
