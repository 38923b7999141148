"""Function-preserving graph rewrites that make a float graph quantize well (ONNX level).

- `polyphase_upsampling`: a ConvTranspose1d with kernel 2*stride (HiFi-GAN's upsampling) becomes a
  Conv producing `stride` phases per output channel plus an interleaving reshape. OpenVINO's CPU plugin
  runs ConvTranspose as an f32 GEMM even inside an int8 graph (measured: 44 % of the int8 vocoder's
  time on the default voice); as a Conv it runs int8 or bf16 kernels like the rest.
- `equalize_channels`: cross-layer equalization. LeakyReLU/ReLU, residual additions and division by a
  constant commute with a positive per-channel scale, so a whole residual stream (every tensor joined by
  such ops) can be rescaled per channel if every producer conv's output rows and every consumer conv's
  input columns are scaled to compensate. Channels with small ranges are scaled up, which shrinks the
  per-tensor int8 step relative to them.

Both rewrites leave the graph's outputs equal up to float rounding; `calibration.quantize_openvino`
checks that on real inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Ops through which a per-channel positive scale passes unchanged (x -> s*x gives f(x) -> s*f(x)).
_HOMOGENEOUS = ("LeakyRelu", "Relu", "Identity")
_CONVS = ("Conv", "ConvTranspose")


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {i.name: i for i in model.graph.initializer}


def _polyphase_weights(weight: np.ndarray, stride: int, pad: int) -> tuple[np.ndarray, tuple[int, int]]:
    """ConvTranspose1d weight [Cin, Cout, K] -> Conv1d weight [Cout*stride, Cin, L] and its pads.

    Output sample n = q*stride + r reads input q + c - u through tap j = u*stride + r', where
    c, r' = divmod(r + pad, stride); the Conv holds, per phase r, those taps at offset c - u.
    """
    cin, cout, k = weight.shape
    taps = []
    for r in range(stride):
        c, rp = divmod(r + pad, stride)
        taps += [(r, u * stride + rp, c - u) for u in range((k - rp + stride - 1) // stride)]
    low, high = min(t[2] for t in taps), max(t[2] for t in taps)
    out = np.zeros((cout, stride, cin, high - low + 1), weight.dtype)
    for r, j, offset in taps:
        out[:, r, :, offset - low] = weight[:, :, j].T
    return out.reshape(cout * stride, cin, -1), (-low, high)


def polyphase_upsampling(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace every 1-D ConvTranspose with output length T*stride by Conv + interleave."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    inits = _initializers(model)
    nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        a = _attrs(node)
        weight = (numpy_helper.to_array(inits[node.input[1]])
                  if node.op_type == "ConvTranspose" and node.input[1] in inits else None)
        stride, pads = a.get("strides", [1]), a.get("pads", [0, 0])
        if (node.op_type != "ConvTranspose" or weight is None or weight.ndim != 3 or a.get("group", 1) != 1
                or any(d != 1 for d in a.get("dilations", [1])) or any(a.get("output_padding", [0]))
                or pads[0] != pads[1] or weight.shape[2] - stride[0] != 2 * pads[0]):
            nodes.append(node)
            continue
        s, cout = stride[0], weight.shape[1]
        phases, conv_pads = _polyphase_weights(weight, s, pads[0])
        base = node.name.replace("ConvTranspose", "Polyphase") or node.output[0] + "/Polyphase"
        new = [numpy_helper.from_array(phases, base + ".weight"),
               numpy_helper.from_array(np.array([0, cout, s, -1], np.int64), base + ".phases_shape"),
               numpy_helper.from_array(np.array([0, cout, -1], np.int64), base + ".out_shape")]
        conv_inputs = [node.input[0], base + ".weight"]
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(inits[node.input[2]])
            new.append(numpy_helper.from_array(np.repeat(bias, s), base + ".bias"))
            conv_inputs.append(base + ".bias")
        model.graph.initializer.extend(new)
        nodes += [
            helper.make_node("Conv", conv_inputs, [base + "/phases"], name=base + "/Conv",
                             kernel_shape=[phases.shape[2]], pads=list(conv_pads)),
            helper.make_node("Reshape", [base + "/phases", base + ".phases_shape"], [base + "/split"],
                             name=base + "/Split"),
            helper.make_node("Transpose", [base + "/split"], [base + "/interleaved"], name=base + "/Interleave",
                             perm=[0, 1, 3, 2]),
            helper.make_node("Reshape", [base + "/interleaved", base + ".out_shape"], [node.output[0]],
                             name=base + "/Merge"),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return drop_unused_initializers(model)


def drop_unused_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    used = {i for n in model.graph.node for i in n.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return model


def _single_channel_tensors(model: onnx.ModelProto) -> set[str]:
    """Masks: tensors of shape [batch, 1, time] computed without any convolution (from a mask input).
    To a per-channel scale they act like constants; a one-channel tensor a convolution computed may
    itself be scaled, so it is not one of them."""
    inferred = onnx.shape_inference.infer_shapes(model)
    from_convs: set[str] = set()
    for node in model.graph.node:  # ONNX keeps nodes in topological order
        if node.op_type in _CONVS or from_convs.intersection(node.input):
            from_convs.update(node.output)
    found = set()
    for info in (*inferred.graph.value_info, *inferred.graph.input):
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 3 and dims[1].HasField("dim_value") and dims[1].dim_value == 1:
            found.add(info.name)
    return found - from_convs


def scalable_groups(model: onnx.ModelProto) -> list[tuple[list[onnx.NodeProto], list[onnx.NodeProto]]]:
    """(producer convs, consumer convs) of each tensor group a per-channel scale can pass through.

    A group is closed under homogeneous ops, additions of two group tensors, division/multiplication
    by a constant and multiplication by a time mask (one channel, broadcast over all: a channel's scale
    commutes with it); any other use of one of its tensors (a graph output, tanh) makes the whole group
    unscalable.
    """
    inits = _initializers(model)
    constants = set(inits) | {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    constants |= _single_channel_tensors(model)
    parent: dict[str, str] = {}

    def find(t: str) -> str:
        while parent.setdefault(t, t) != t:
            t = parent[t]
        return t

    producers: dict[str, onnx.NodeProto] = {}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    blocked = {v.name for v in (*model.graph.input, *model.graph.output)}
    for node in model.graph.node:
        data = [i for i in node.input if i and i not in constants]
        if (node.op_type in _CONVS and _attrs(node).get("group", 1) == 1 and node.input[1] in inits
                and len(inits[node.input[1]].dims) == 3):
            producers[node.output[0]] = node
            consumers.setdefault(node.input[0], []).append(node)
            find(node.output[0]), find(node.input[0])
        elif (node.op_type in _HOMOGENEOUS or (node.op_type == "Add" and len(data) == 2)
              or (node.op_type in ("Div", "Mul") and data == [node.input[0]])):
            for t in (*data, *node.output):
                parent[find(t)] = find(node.output[0])
        elif node.op_type != "Constant":
            blocked.update(data, node.output)
    members: dict[str, list[str]] = {}
    for t in list(parent):
        members.setdefault(find(t), []).append(t)
    groups = []
    for tensors in members.values():
        if blocked.intersection(tensors):
            continue
        prods = [producers[t] for t in tensors if t in producers]
        cons = [c for t in tensors for c in consumers.get(t, [])]
        if prods and cons:
            groups.append((prods, cons))
    return groups


def equalize_channels(
    model: onnx.ModelProto,
    channel_ranges: Callable[[Sequence[str]], dict[str, np.ndarray]],
    strength: float = 0.5,
    limit: float = 16.0,
) -> onnx.ModelProto:
    """Cross-layer equalization of every scalable group.

    `channel_ranges(tensors)` returns each tensor's per-channel range (max - min over real inputs).
    A channel's scale is (largest range / its worst relative range) ** strength: strength 1 equalizes
    activation ranges fully but moves the spread into the consumers' weight columns, where per-row int8
    scales then lose precision; 0.5 splits it (measured on the default voice: 0.5 better than 1.0).
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    groups = scalable_groups(model)
    ranges = channel_ranges(sorted({c.input[0] for _, cons in groups for c in cons}))
    inits = _initializers(model)

    def scale(name: str, factor: np.ndarray) -> None:
        value = numpy_helper.to_array(inits[name]).astype(np.float64) * factor
        inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))

    for producers, consumers in groups:
        relative = np.max([ranges[t] / max(ranges[t].max(), 1e-12) for t in {c.input[0] for c in consumers}], axis=0)
        d = np.clip(np.maximum(relative, 1e-12) ** -strength, 1.0, limit)
        for p in producers:  # output channels: axis 0 of a Conv weight, axis 1 of a ConvTranspose weight
            shape = (-1, 1, 1) if p.op_type == "Conv" else (1, -1, 1)
            scale(p.input[1], d.reshape(shape))
            if len(p.input) > 2 and p.input[2]:
                scale(p.input[2], d)
        for c in consumers:  # input channels: axis 1 of a Conv weight, axis 0 of a ConvTranspose weight
            shape = (1, -1, 1) if c.op_type == "Conv" else (-1, 1, 1)
            scale(c.input[1], 1.0 / d.reshape(shape))
    return model
