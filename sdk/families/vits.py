"""VITS (Piper's voices): a stochastic duration predictor and a flow decoder with a HiFi-GAN vocoder.
Import: `voxport build --piper VOICE.onnx` (voxport.export.vits)."""

from __future__ import annotations

from typing import Any

from voxport.bundle import contract as c
from voxport.bundle.manifest import Manifest
from voxport.families.base import Family
from voxport.families.parallel import PARALLEL_CONTRACTS, ParallelPipeline
from voxport.text.frontend import TextFrontend

SCALES = frozenset({"length_scale", "noise_scale", "noise_w"})
# OpenVINO copies per bucket: the vocoder by default (synthesis 0.81x bf16 / 0.88x fp32 for ~1 s more
# load, 24 unseen sentences, 2-core AMD EPYC); shapes="latency" adds the encoder and duration predictor
# (first audio 19 instead of 25.5 ms, ~+380 MB, ~+6 s load). Decoder copies gained nothing for +430 MB.
SPECIALIZE = (c.VOCODER,)
LATENCY_SPECIALIZE = (c.ENCODER, c.DURATION, c.VOCODER)
# The flow (decoder) and the duration predictor hold exp/log/softplus that overflow in fp16: bundles built
# before the exporter recorded it per graph get this.
FLOW_HINTS = {c.DECODER: {"keep_fp32_ops": True}, c.DURATION: {"keep_fp32_ops": True}}


def scales(m: Manifest) -> dict[str, Any]:
    return m.inference.to_dict()


FAMILY = Family(
    name="vits",
    summary="VITS / Piper: stochastic durations, flow decoder, HiFi-GAN",
    contracts=PARALLEL_CONTRACTS,
    pipeline=ParallelPipeline,
    frontend=TextFrontend.from_manifest,
    knobs=SCALES,
    specialize=SPECIALIZE,
    latency_specialize=LATENCY_SPECIALIZE,
    graph_hints=FLOW_HINTS,
    importers=("voxport.export.vits.importer:PIPER",),
    calibration="voxport.calibration.parallel:PLAN",
    settings=scales,
)
