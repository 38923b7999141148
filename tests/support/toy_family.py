"""A third "parallel" model family, defined outside voxport: its decoder is the identity, so its bundles have
no decoder graph and the vocoder reads the sampled prior latent directly. It exists to show that a family
plugs in by its own module and one `register` call (tests/test_families.py), with no edit of voxport."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from voxport.bundle import contract as c
from voxport.families import Family, register
from voxport.families.parallel import ParallelPipeline, Prepared
from voxport.text.frontend import TextFrontend

NAME = "toy-identity"


class IdentityDecoderPipeline(ParallelPipeline):
    """The parallel strategy with the decoder stage left out: decoding a window is taking it."""

    def decode(self, prepared: Prepared, start: int = 0, stop: int | None = None) -> np.ndarray:
        return prepared.prior_latent[:, :, start:stop]


FAMILY = Family(
    name=NAME,
    summary="test family: VITS's encoder, durations and vocoder with an identity decoder",
    contracts={s: contract for s, contract in c.CONTRACTS.items() if s != c.DECODER},
    pipeline=IdentityDecoderPipeline,
    frontend=TextFrontend.from_manifest,
    knobs=frozenset({"length_scale", "noise_scale", "noise_w"}),
    specialize=(c.VOCODER,),
)


def install() -> Family:
    return register(FAMILY, replace=True)


def toy_bundle(vits_bundle: Path, out: Path) -> Path:
    """A copy of a VITS bundle re-labelled as the toy family, without its decoder graph (and without a
    recorded reach, which the voice then measures on its own graphs)."""
    shutil.copytree(vits_bundle, out)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["family"] = NAME
    manifest["name"] = "toy"
    del manifest["graphs"][c.DECODER]
    manifest.pop("streaming", None)
    manifest.pop("calibration", None)
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for path in out.rglob("decoder.onnx"):
        path.unlink()
    return out
