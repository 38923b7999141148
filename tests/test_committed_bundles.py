"""The committed tiny bundles (tests/data/bundles/): small, loadable and speaking without torch, and exactly
what tests/support/make_tiny_bundles.py makes from the tiny models at their fixed seeds.

The reproduction check rebuilds every bundle (torch, ~15 s) and compares it with the committed one:
- each graph file byte for byte; where the bytes differ (another torch/onnx version, or another CPU's
  kernels folding weight norm a last bit differently), its outputs on fixed inputs must agree within 1e-5;
- the manifests, equal but for the fields that legitimately vary between rebuilds (see `normalized`).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import support.make_tiny_bundles as make_tiny_bundles
from support.make_tiny_bundles import BUILDERS
from support.make_tiny_bundles import DEFAULT_OUT as BUNDLES

from voxport import Voice

COMMITTED = tuple(BUILDERS)
SCRIPT = Path(make_tiny_bundles.__file__)
# Bytes, all committed bundles together. 2 MiB held the first four (vits 404 KiB, glowtts-hifigan 567,
# glowtts-gl 309, tacotron2-hifigan 397); kokoro's 709 KiB (a 465 KiB decoder, two thirds of it graph structure
# rather than weights, so a narrower tiny model barely helps) brings them to 2.33 MiB, under 2.5 MiB.
SIZE_BUDGET = 2_621_440  # 2.5 MiB
ATOL = 1e-5  # graph outputs of a rebuilt bundle vs the committed one, where the files' bytes differ
DIM = 8  # every symbolic axis of a graph input when graphs are compared on fixed inputs (even: GlowTTS squeezes by 2)


def _manifest(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))


def _files(bundle: Path) -> list[str]:
    return sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())


def normalized(manifest: dict[str, Any], differing: set[str]) -> dict[str, Any]:
    """The manifest without what legitimately varies between two builds of the same models:
    - extra.created_by: the voxport version of the building checkout; it changes with a release, not the graphs;
    - extra.max_abs_diff_vs_torch: the builder's own parity measurement, floats from the building machine's
      CPU kernels: a measurement of the export, not part of the bundle's content;
    - sha256 and size of the graph files in `differing` (whose bytes differ; their outputs are compared
      instead), and then also the hashes of the source checkpoints, serialized by that other torch.
    """
    m = copy.deepcopy(manifest)
    m.get("extra", {}).pop("created_by", None)
    m.get("extra", {}).pop("max_abs_diff_vs_torch", None)
    for graph in m["graphs"].values():
        for variant in graph["variants"].values():
            if variant["file"] in differing:
                variant.pop("sha256", None)
                variant.pop("size", None)
    if differing:
        m["source"].pop("sha256", None)
        m.get("extra", {}).get("vocoder", {}).pop("sha256", None)
    return m


def _fixed_inputs(session, manifest: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
    """Valid inputs for any of the bundles' graphs: ids below 100 and below every table they index (the
    vocabulary; Kokoro's pack rows), lengths equal to the axis, masks of ones. Every symbolic axis is DIM but
    Kokoro's decoder's two tied to its frames: f0 at twice their rate, the harmonics at the audio's."""
    rng = np.random.default_rng(seed)
    below = min(100, manifest["n_vocab"], manifest.get("params", {}).get("pack_rows", 100))
    axes = {"f0_frames": 2 * DIM, "samples": DIM * manifest["hop_length"]}
    feed = {}
    for spec in session.get_inputs():
        shape = [d if isinstance(d, int) else axes.get(d, DIM) for d in spec.shape]
        if "int64" in spec.type:
            feed[spec.name] = (np.full(shape, DIM, np.int64) if "length" in spec.name
                               else rng.integers(0, below, shape, dtype=np.int64))
        elif "mask" in spec.name:
            feed[spec.name] = np.ones(shape, np.float32)
        else:
            feed[spec.name] = (0.5 * rng.standard_normal(shape)).astype(np.float32)
    return feed


def _outputs(path: Path) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, _fixed_inputs(session, _manifest(path.parent)))


# --- without torch ---------------------------------------------------------------------------------------


def test_the_committed_bundles_are_small():
    sizes = {name: sum(p.stat().st_size for p in (BUNDLES / name).rglob("*") if p.is_file()) for name in COMMITTED}
    assert sum(sizes.values()) <= SIZE_BUDGET, sizes


@pytest.mark.parametrize("name", COMMITTED)
def test_a_committed_bundle_verifies_and_speaks(committed_bundle, name):
    with Voice.load(committed_bundle(name), threads=1, verify=True) as voice:
        audio = voice.synthesize("Turn left here.", seed=0)
        assert audio.dtype == np.float32 and audio.size > 0 and np.all(np.isfinite(audio)) and audio.std() > 0
        assert np.array_equal(audio, voice.synthesize("Turn left here.", seed=0))


# --- the script reproduces them (torch) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    pytest.importorskip("torch", reason="rebuilding the committed bundles needs the export extra (torch)")
    pytest.importorskip("onnx", reason="rebuilding the committed bundles needs the export extra (onnx)")
    out = tmp_path_factory.mktemp("rebuilt")
    # As documented, by path, in its own process (the script changes directory while it builds).
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True, timeout=600)
    return out


@pytest.mark.parametrize("name", COMMITTED)
def test_the_script_reproduces_the_committed_bundle(rebuilt, name):
    committed, fresh = BUNDLES / name, rebuilt / name
    assert _files(fresh) == _files(committed)
    differing = {f for f in _files(committed) if f.endswith(".onnx")
                 and (committed / f).read_bytes() != (fresh / f).read_bytes()}
    for f in sorted(differing):
        want, got = _outputs(committed / f), _outputs(fresh / f)
        assert len(got) == len(want), f
        for w, g in zip(want, got, strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype, f
            np.testing.assert_allclose(g, w, rtol=0, atol=ATOL, err_msg=f"{name}/{f}")
    assert normalized(_manifest(fresh), differing) == normalized(_manifest(committed), differing)


def test_the_script_writes_only_the_bundles(rebuilt):
    assert sorted(p.name for p in rebuilt.iterdir()) == sorted(COMMITTED)
