"""The distribution installs as namespaced packages only: nothing generic lands in site-packages."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    "voxport", "voxport.text", "voxport.runtimes", "voxport.export", "voxport.export.vits",
    "voxport.export.glowtts", "voxport.calibration", "voxport.tools",
    "voxport.tools.profiling",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("voxport-*.whl")
    return path


def test_wheel_holds_only_the_voxport_namespace(wheel):
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"voxport", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}


def test_wheel_ships_the_calibration_corpus(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"voxport/calibration/data/corpus_en.txt", "voxport/calibration/data/heldout_en.txt"} <= names


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
        "for generic in ('sdk', 'export', 'runtimes', 'calibration', 'tools'):\n"
        "    assert importlib.util.find_spec(generic) is None, generic\n"
        "print('ok')\n"
    )
    result = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
