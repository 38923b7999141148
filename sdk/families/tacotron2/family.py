"""The Tacotron2 family's registration. Import: `voxport build --tacotron2 CKPT [--waveglow CKPT |
--hifigan CKPT]` (voxport.export.tacotron2)."""

from __future__ import annotations

from typing import Any

from voxport.bundle import contract as c
from voxport.bundle.manifest import Manifest
from voxport.families.base import Family
from voxport.families.tacotron2.pipeline import DecoderLoopPipeline
from voxport.text.frontend import TextFrontend


def frontend(m: Manifest) -> TextFrontend:
    ph = m.phonemizer
    if ph.get("type") == "tacotron2_text":
        from voxport.families.tacotron2.text import Tacotron2TextFrontend

        return Tacotron2TextFrontend(m.phoneme_id_map, cleaners=ph.get("cleaners", "english_cleaners"))
    return TextFrontend.from_manifest(m)


def settings(m: Manifest) -> dict[str, Any]:
    """A decoder loop reads no scales: its stop rule and its vocoder's noise instead."""
    loop, noise = m.decoder_loop, m.vocoder_noise
    return {**({"gate_threshold": loop.gate_threshold, "max_steps": loop.max_steps} if loop else {}),
            **({"sigma": noise.sigma, "denoiser_strength": noise.denoiser_strength} if noise else {})}


FAMILY = Family(
    name="tacotron2",
    summary="Tacotron2 (NVIDIA): a decoder loop on the host, postnet, WaveGlow / HiFi-GAN / Griffin-Lim",
    contracts=c.AUTOREGRESSIVE_CONTRACTS,
    pipeline=DecoderLoopPipeline,
    frontend=frontend,
    knobs=frozenset({"sigma", "decoder_steps"}),
    # Padding would change the encoder's LSTMs, the decoder step's attention and the postnet (no masks):
    # only a vocoder that masks padded frames may run on buckets.
    paddable=frozenset({c.VOCODER}),
    specialize=(c.VOCODER,),
    latency_specialize=(c.VOCODER,),
    importers=("voxport.export.tacotron2.importer:NVIDIA",),
    calibration_refusal="calibration of tacotron2 bundles (autoregressive) is not supported yet",
    settings=settings,
)
