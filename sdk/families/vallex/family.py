"""VALL-E X's registration. Import: `voxport build --vallex CKPT --vocos DIR --bpe bpe_69.json -o DIR`
(voxport.export.vallex.importer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxport.bundle.fields import ManifestPath, fail
from voxport.bundle.manifest import Manifest
from voxport.families.base import Family
from voxport.families.vallex.contract import CONTRACTS, LANGUAGE_IDS
from voxport.families.vallex.pipeline import CodecLoopPipeline
from voxport.text.frontend import TextFrontend


def frontend(m: Manifest) -> TextFrontend:
    from voxport.families.vallex.text import VallexFrontend

    return VallexFrontend(m.phoneme_id_map, espeak_voice=m.phonemizer.get("voice"))


def check_params(params: Mapping[str, Any], path: ManifestPath) -> None:
    """languages, the length cap per text token, default top_k / temperature, optional fixed_slots."""
    known = {"languages", "max_tokens_per_text_token", "top_k", "temperature", "fixed_slots"}
    for key in params:
        if key not in known:
            fail(path, f"params.{key}", f"is not a VALL-E X setting (known: {sorted(known)})")
    if not set(params.get("languages", [])) <= set(LANGUAGE_IDS):
        fail(path, "params.languages", f"must be among {sorted(LANGUAGE_IDS)}")
    for key in ("max_tokens_per_text_token", "fixed_slots"):
        if key in params and (not isinstance(params[key], int) or params[key] < 1):
            fail(path, f"params.{key}", f"must be a positive integer, got {params[key]!r}")
    if "temperature" in params and not float(params["temperature"]) > 0:
        fail(path, "params.temperature", "must be > 0")


def settings(m: Manifest) -> dict[str, Any]:
    return {k: m.params[k] for k in ("top_k", "temperature", "max_tokens_per_text_token") if k in m.params}


FAMILY = Family(
    name="vallex",
    summary="VALL-E X (Plachtaa): AR codec LM with a KV cache on the host, 7 NAR passes, Vocos",
    contracts=CONTRACTS,
    pipeline=CodecLoopPipeline,
    frontend=frontend,
    # decoder_steps: exactly that many AR tokens, EOS ignored (`voxport profile --decoder-steps N`: random
    # weights stop at random points, so timings fix the count).
    knobs=frozenset({"decoder_steps"}),
    options=frozenset({"prompt", "top_k", "temperature", "language", "fixed_step"}),
    # The AR graphs and the NAR attend over every position (no masks): only Vocos could pad, and it
    # has no frame mask either.
    paddable=frozenset(),
    importers=("voxport.export.vallex.importer:VALLEX",),
    calibration_refusal="calibration cannot judge vallex bundles: its AR tokens are sampled, so no fixed "
                        "reference audio exists to compare a quantized bundle against",
    check_params=check_params,
    settings=settings,
)
