"""Rebuild a torch VITS from a Piper voice as distributed: `voice.onnx` + `voice.onnx.json`.

Piper's export keeps most parameters as named initializers. Weight-normed convolutions of the flow's
WaveNet are folded at export and become anonymous (`onnx::Conv_123`); their module is recovered from the
scope of the node that consumes them (`/flow/flows.6/enc/in_layers.0/Conv`). Hyper-parameters missing
from the JSON (kernel sizes, dilations, strides) are read from node attributes.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from voxport.synthesis import Scales
from voxport.text.phoneme_ids import ESPEAK, unsupported_phoneme_type

from ..errors import MissingTensorError, UnknownTensorError, UnsupportedConfigError
from .config import VitsConfig
from .model import Vits
from .weights import load_strict

# Which consumer input slot holds which parameter: Conv(X, W, B), Gather(data, indices).
_SLOT_PARAMS = {("Conv", 1): "weight", ("Conv", 2): "bias", ("ConvTranspose", 1): "weight",
                ("ConvTranspose", 2): "bias", ("Gather", 0): "weight"}
# exp(-logs) of an ElementwiseAffine: older exporters fold it whole into `/<scope>/Exp_output_0`, newer
# ones fold only -logs into an anonymous tensor that feeds the scope's Exp node.
_FOLDED_EXP = re.compile(r"^/(?P<scope>.+)/Exp(_\d+)?_output_0$")


class PiperGraph:
    """Index over a Piper ONNX graph: initializers, their consumers, nodes by name."""

    def __init__(self, model: onnx.ModelProto) -> None:
        graph = model.graph
        self.initializers = {t.name: t for t in graph.initializer}
        self.nodes = {n.name: n for n in graph.node if n.name}
        self.consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = defaultdict(list)
        for node in graph.node:
            for slot, name in enumerate(node.input):
                self.consumers[name].append((node, slot))
        # Newer torch exporters share one initializer between parameters with identical values through
        # Identity nodes named after the other parameters (`flow.flows.2.post.weight =
        # Identity(flow.flows.0.post.weight)`): an initializer stands for those names too.
        self.aliases: dict[str, list[str]] = defaultdict(list)
        for name in self.initializers:
            pending = [name]
            while pending:
                for node, _ in self.consumers.get(pending.pop(), []):
                    if node.op_type == "Identity":
                        self.aliases[name].extend(node.output)
                        pending.extend(node.output)

    def uses(self, name: str) -> list[tuple[onnx.NodeProto, int]]:
        """The nodes an initializer feeds, directly or through Identity aliases."""
        return [use for alias in (name, *self.aliases.get(name, ())) for use in self.consumers.get(alias, [])]

    def array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.initializers[name])

    def attribute(self, node_name: str, attr: str) -> Any:
        node = self.nodes.get(node_name)
        if node is None:
            raise MissingTensorError(f"Piper graph has no node {node_name!r} to read {attr!r} from")
        for a in node.attribute:
            if a.name == attr:
                return onnx.helper.get_attribute_value(a)
        raise MissingTensorError(f"node {node_name!r} has no attribute {attr!r}")


def _scope_to_module(node_name: str) -> str:
    # "/flow/flows.6/enc/in_layers.0/Conv" -> "flow.flows.6.enc.in_layers.0"
    return ".".join(node_name.strip("/").split("/")[:-1])


def recover_state_dict(graph: PiperGraph, expected: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Map every weight-like initializer to parameter names; a float tensor that maps nowhere is an error."""
    state: dict[str, np.ndarray] = {}
    unknown: list[str] = []
    for name in graph.initializers:
        value = graph.array(name)
        # The exporter shares one initializer between parameters with identical values (e.g. fresh
        # LayerNorm gammas), so one tensor may feed several parameters.
        targets = {alias for alias in (name, *graph.aliases.get(name, ())) if alias in expected}
        if (m := _FOLDED_EXP.match(name)) and (logs := m.group("scope").replace("/", ".") + ".logs") in expected:
            state[logs] = -np.log(value)
            continue
        negated = [n for n, slot in graph.uses(name) if n.op_type == "Exp" and slot == 0]
        if len(negated) == 1 and (logs := f"{_scope_to_module(negated[0].name)}.logs") in expected:
            state[logs] = -value
            continue
        for node, slot in graph.uses(name):
            suffix = _SLOT_PARAMS.get((node.op_type, slot))
            if suffix and (candidate := f"{_scope_to_module(node.name)}.{suffix}") in expected:
                targets.add(candidate)
        if not targets:
            # Shape constants, axes and scalars are graph plumbing, not weights.
            if value.dtype.kind == "f" and value.size > 8:
                unknown.append(f"{name} {list(value.shape)}")
            continue
        for target in targets:
            state[target] = value
    if unknown:
        raise UnknownTensorError(f"Piper graph tensors that map to no VITS parameter: {unknown}")
    return state


def _count(names: set[str], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for n in names if (m := regex.match(n))})


def infer_config(graph: PiperGraph, piper_json: dict[str, Any]) -> VitsConfig:
    """Hyper-parameters from tensor shapes and node attributes, sample rate and speakers from the JSON."""
    names = set(graph.initializers)

    def shape(name: str) -> tuple[int, ...]:
        if name not in graph.initializers:
            raise MissingTensorError(f"Piper graph lacks {name!r}, needed to read hyper-parameters")
        return tuple(graph.initializers[name].dims)

    emb_name = next((n for n, _ in _gather_weights(graph, "/enc_p/emb/Gather")), "enc_p.emb.weight")
    n_vocab, hidden = shape(emb_name)
    rel = shape("enc_p.encoder.attn_layers.0.emb_rel_k")
    n_ups = _count(names, r"^dec\.ups\.(\d+)\.weight$")
    n_blocks = _count(names, r"^dec\.resblocks\.(\d+)\.")
    num_kernels = n_blocks // n_ups
    resblock = "2" if "dec.resblocks.0.convs.0.weight" in names else "1"
    first_convs = "convs" if resblock == "2" else "convs1"
    n_dil = _count(names, rf"^dec\.resblocks\.0\.{first_convs}\.(\d+)\.weight$")
    dilations = [
        [int(graph.attribute(f"/dec/resblocks.{j}/{first_convs}.{i}/Conv", "dilations")[0]) for i in range(n_dil)]
        for j in range(num_kernels)
    ]
    n_speakers = int(piper_json.get("num_speakers", 1))
    flow_layers = _count(names, r"^flow\.flows\.0\.enc\.res_skip_layers\.(\d+)\.bias$")
    flow_dilation = 1
    if flow_layers > 1:
        flow_dilation = int(graph.attribute("/flow/flows.0/enc/in_layers.1/Conv", "dilations")[0])
    use_sdp = "dp.flows.0.m" in names
    config = VitsConfig(
        n_vocab=n_vocab,
        inter_channels=shape("enc_p.proj.weight")[0] // 2,
        hidden_channels=hidden,
        filter_channels=shape("enc_p.encoder.ffn_layers.0.conv_1.weight")[0],
        n_heads=hidden // rel[2],
        n_layers=_count(names, r"^enc_p\.encoder\.attn_layers\.(\d+)\."),
        kernel_size=shape("enc_p.encoder.ffn_layers.0.conv_1.weight")[2],
        window_size=(rel[1] - 1) // 2,
        resblock=resblock,
        resblock_kernel_sizes=[shape(f"dec.resblocks.{j}.{first_convs}.0.weight")[2] for j in range(num_kernels)],
        resblock_dilation_sizes=dilations,
        upsample_rates=[int(graph.attribute(f"/dec/ups.{i}/ConvTranspose", "strides")[0]) for i in range(n_ups)],
        upsample_initial_channel=shape("dec.conv_pre.weight")[0],
        upsample_kernel_sizes=[shape(f"dec.ups.{i}.weight")[2] for i in range(n_ups)],
        n_speakers=n_speakers,
        gin_channels=shape("emb_g.weight")[1] if n_speakers > 1 and "emb_g.weight" in names else 0,
        use_sdp=use_sdp,
        dp_kernel_size=shape("dp.convs.convs_sep.0.weight" if use_sdp else "dp.conv_1.weight")[2],
        dp_n_flows=_count(names, r"^dp\.flows\.(\d+)\.pre\.weight$") + 1 if use_sdp else 4,
        dp_num_bins=(shape("dp.flows.3.proj.weight")[0] + 1) // 3 if use_sdp else 10,
        flow_kernel_size=int(graph.attribute("/flow/flows.0/enc/in_layers.0/Conv", "kernel_shape")[0]),
        flow_dilation_rate=flow_dilation,
        flow_n_layers=flow_layers,
        flow_n_flows=_count(names, r"^flow\.flows\.(\d+)\.pre\.weight$"),
        sample_rate=int(piper_json["audio"]["sample_rate"]),
    )
    return config


def _gather_weights(graph: PiperGraph, node_name: str) -> list[tuple[str, int]]:
    node = graph.nodes.get(node_name)
    if node is None:
        return []
    return [(name, slot) for slot, name in enumerate(node.input) if name in graph.initializers and slot == 0]


def load_piper_voice(onnx_path: str | Path, config_path: str | Path | None = None) -> tuple[Vits, dict[str, Any]]:
    """Return the torch model (eval mode, fp32) and the voice's JSON config."""
    onnx_path = Path(onnx_path)
    config_path = Path(config_path) if config_path else onnx_path.with_name(onnx_path.name + ".json")
    piper_json = json.loads(config_path.read_text(encoding="utf-8"))
    check_phoneme_type(piper_json.get("phoneme_type", ESPEAK), config_path.name)  # before the slow graph load
    graph = PiperGraph(onnx.load(str(onnx_path)))
    config = infer_config(graph, piper_json)
    state = recover_state_dict(graph, Vits(config).state_dict())
    return load_strict(config, state, f"the Piper graph {onnx_path.name}"), piper_json


def check_phoneme_type(phoneme_type: object, where: str) -> None:
    """Refuse a voice whose text voxport cannot turn into ids: a bundle of it would speak espeak English."""
    reason = unsupported_phoneme_type(phoneme_type)
    if reason is not None:
        raise UnsupportedConfigError(f"{where}: {reason}")


def piper_scales(inference: Mapping[str, Any]) -> Scales:
    """The scales of a Piper voice's JSON `inference` block; a scale it leaves out keeps Scales' default."""
    return Scales(**{f.name: inference[f.name] for f in fields(Scales) if f.name in inference})
