"""The distribution installs as namespaced packages only (nothing generic lands in site-packages), and it
holds every module of the source tree: the list is derived from the folders, never copied by hand."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _roots() -> dict[str, str]:
    """setup.py's package-dir roots (import name -> folder), read without running setup()."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    return next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "ROOTS")


def _source_modules() -> dict[str, str]:
    """Every module file of the source tree -> its path inside the wheel (voxport/...)."""
    found = {}
    for name, folder in _roots().items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if not (path.parent / "__init__.py").exists():
                continue  # not inside a package (none today; a stray script would be no module)
            inner = path.relative_to(ROOT / folder)
            found[str(path.relative_to(ROOT))] = "/".join((*name.split("."), *inner.parts))
    return found


PACKAGES = sorted({".".join(wheel_path.split("/")[:-1]) for wheel_path in _source_modules().values()})


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # From a clean copy: setuptools reuses a build/ folder, whose stale files would hide a package the
    # discovery missed.
    source = tmp_path_factory.mktemp("source") / "voxport"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info",
                                                                "__pycache__", "out", ".*_cache"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("voxport-*.whl")
    return path


def test_wheel_holds_only_the_voxport_namespace(wheel):
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"voxport", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}


def test_wheel_holds_every_module_of_the_source_tree(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = {src: inside for src, inside in _source_modules().items() if inside not in names}
    assert missing == {}
    assert {"voxport.families", "voxport.families.tacotron2", "voxport.cli", "voxport.pipeline"} <= set(PACKAGES)


def test_wheel_ships_the_calibration_corpus(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"voxport/calibration/data/corpus_en.txt", "voxport/calibration/data/heldout_en.txt"} <= names


def test_wheel_ships_the_serve_page(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"voxport/server/static/{p.name}" for p in (ROOT / "sdk/server/static").iterdir()}
    assert shipped >= {"voxport/server/static/page.html", "voxport/server/static/page.js"}
    assert shipped <= names


def test_wheel_installs_into_a_fresh_venv_and_every_package_imports(wheel, tmp_path):
    pytest.importorskip("onnx", reason="voxport.calibration imports onnx (the calibration extra)")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True)
    # Dependencies (numpy, onnxruntime…) come from this interpreter's site-packages, appended *after* the
    # fresh venv's own, so voxport itself can only come from the installed wheel.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    code = (
        "import sys, importlib\n"
        f"sys.path.extend({deps!r})\n"
        f"for name in {PACKAGES!r}:\n"
        "    mod = importlib.import_module(name)\n"
        f"    assert mod.__file__.startswith({str(env_dir)!r}), (name, mod.__file__)\n"
        "for generic in ('sdk', 'export', 'runtimes', 'calibration', 'tools', 'cli'):\n"
        "    assert importlib.util.find_spec(generic) is None, generic\n"
        "print('ok')\n"
    )
    result = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
