"""GlowTTS (Coqui TTS layout): a deterministic duration predictor and a Glow decoder to a mel, with a
HiFi-GAN vocoder or Griffin-Lim. Import: `voxport build --coqui CONFIG MODEL [--vocoder CONFIG MODEL]`."""

from __future__ import annotations

from voxport.families.base import Family
from voxport.families.parallel import PARALLEL_CONTRACTS, ParallelPipeline
from voxport.families.vits import FLOW_HINTS, LATENCY_SPECIALIZE, SPECIALIZE, scales
from voxport.text.frontend import TextFrontend

FAMILY = Family(
    name="glowtts",
    summary="GlowTTS (Coqui): durations, Glow decoder to a mel, HiFi-GAN or Griffin-Lim",
    contracts=PARALLEL_CONTRACTS,
    pipeline=ParallelPipeline,
    frontend=TextFrontend.from_manifest,
    knobs=frozenset({"length_scale", "noise_scale"}),  # its duration predictor draws no noise
    specialize=SPECIALIZE,
    latency_specialize=LATENCY_SPECIALIZE,
    graph_hints=FLOW_HINTS,
    importers=("voxport.export.glowtts.importer:COQUI",),
    calibration="voxport.calibration.parallel:PLAN",
    settings=lambda m: {k: v for k, v in scales(m).items() if k != "noise_w"},
)
