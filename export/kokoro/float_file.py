"""kokoro-onnx's dynamic-int8 file with its activations in float: the same graph and the same weights
(dequantized), only the on-the-fly quantization of activations removed.

The int8 file quantizes every MatMul, Conv and LSTM input as it runs (`DynamicQuantizeLinear` ->
`MatMulInteger` / `ConvInteger` -> `Cast` -> `Mul` by the two scales; `DynamicQuantizeLSTM`). voxport's
bundle computes in float on the dequantized weights, so against the file two things differ: that
quantization of activations, and voxport's own graphs. Running this rewrite beside both separates them
(tests/test_kokoro_real.py): the file against its float twin is what the activation quantization costs,
the twin against the bundle is what voxport's import and split cost.
"""

from __future__ import annotations

import numpy as np
from onnx import ModelProto, NodeProto, helper, numpy_helper

from voxport.export.kokoro.onnx_weights import QuantizedGraph, scale_name

_INTEGER_OPS = {"MatMulInteger": "MatMul", "ConvInteger": "Conv"}


def activations_in_float(model: ModelProto) -> ModelProto:
    """A copy of `model` in which every dynamically quantized MatMul, Conv and LSTM runs in float on its
    dequantized weights; nodes left without a consumer are dropped. ValueError on a pattern it does not know."""
    out = ModelProto()
    out.CopyFrom(model)
    g = QuantizedGraph(out)
    graph_nodes = g.nodes
    replaced: dict[int, list[NodeProto]] = {}  # id of a node that float nodes take the place of -> those nodes
    removed: set[int] = set()
    new_weights = []
    for node in graph_nodes:
        if node.op_type in _INTEGER_OPS:
            dead, float_nodes, weight = _float_product(node, g)
        elif node.op_type == "DynamicQuantizeLSTM":
            lstm, weight = _float_lstm(node, g)
            dead, float_nodes = [node], [lstm]
        else:
            continue
        replaced[id(dead[-1])] = float_nodes
        removed.update(id(n) for n in dead[:-1])
        new_weights.extend(weight)
    nodes = [m for n in graph_nodes if id(n) not in removed for m in replaced.get(id(n), [n])]
    del out.graph.node[:]
    out.graph.node.extend(_reachable(nodes, [o.name for o in out.graph.output]))
    unique = {t.name: t for t in new_weights}  # a weight shared by several products is dequantized once
    out.graph.initializer.extend(unique.values())
    used = {i for n in out.graph.node for i in n.input}
    kept = [t for t in out.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    return out


def _float_product(node: NodeProto, g: QuantizedGraph) -> tuple[list[NodeProto], list[NodeProto], list]:
    """MatMulInteger/ConvInteger [-> Add(bias quantized on the fly)] -> Cast -> Mul(scales): the nodes it
    replaces (the last one's output is kept), the float MatMul/Conv (with its float bias) and the nodes
    before it, and its float weights."""
    after, bias = g.consumers.get(node.output[0], []), None
    if len(after) == 1 and after[0].op_type == "Add":  # a conv's bias, divided by both scales and floored
        bias = _float_bias(after[0].input[1], g)
        dead = [node, after[0]]
        cast = _only(g.consumers.get(after[0].output[0], []), "Cast", node)
    else:
        dead, cast = [node], _only(after, "Cast", node)
    scale = _only(g.consumers.get(cast.output[0], []), "Mul", node)
    axis = -1 if node.op_type == "MatMulInteger" else 0
    extra: list[NodeProto] = []
    weights: list = []
    operands = [_float_operand(node, i, scale, g, axis, extra, weights) for i in (0, 1)]
    float_node = helper.make_node(_INTEGER_OPS[node.op_type], operands + ([bias] if bias else []), [scale.output[0]],
                                  name=f"{node.name}_float")
    float_node.attribute.extend(node.attribute)  # ConvInteger's strides, pads, dilations, group
    return [*dead, cast, scale], [*extra, float_node], weights


def _float_operand(node: NodeProto, i: int, scale: NodeProto, g: QuantizedGraph, axis: int,
                   extra: list[NodeProto], weights: list) -> str:
    """Operand `i` of an integer product in float: the input of its DynamicQuantizeLinear; a constant weight
    dequantized (added to `weights`); or an input quantized ahead (a quantized embedding, transposed)
    dequantized by a node added to `extra`, with its factor of the product's scale."""
    q, zero = node.input[i], node.input[i + 2] if len(node.input) > i + 2 else ""
    quantize = g.producer.get(q)
    if quantize is not None and quantize.op_type == "DynamicQuantizeLinear":
        return quantize.input[0]
    name = f"{q}_float"
    if q in g.inits:
        weight = g.float_of(q, scale_name(q), zero or None, axis=axis if i == 1 else 0)
        weights.append(numpy_helper.from_array(weight.astype(np.float32), name))
        return name
    both = g.producer.get(scale.input[1])
    if both is None or both.op_type != "Mul":
        raise ValueError(f"{node.name}: the product's scale is not its two inputs' scales multiplied")
    extra.append(helper.make_node("DequantizeLinear", [q, both.input[i]] + ([zero] if zero else []), [name],
                                  name=f"{node.name}_input{i}_float"))
    return name


def _float_bias(quantized: str, g: QuantizedGraph) -> str:
    """The float bias initializer behind Reshape <- Cast <- Floor <- Div(bias, scales)."""
    node = g.producer.get(quantized)
    for op in ("Reshape", "Cast", "Floor", "Div"):
        if node is None or node.op_type != op:
            raise ValueError(f"{quantized}: not a bias quantized on the fly ({op} expected)")
        if op == "Div":
            if node.input[0] not in g.inits:
                raise ValueError(f"{quantized}: its float bias is not a constant")
            return node.input[0]
        node = g.producer.get(node.input[0])
    raise AssertionError("unreachable")


def _float_lstm(node: NodeProto, g: QuantizedGraph) -> tuple[NodeProto, list]:
    """DynamicQuantizeLSTM -> LSTM on dequantized W and R (stored transposed in the quantized op)."""
    ins = list(node.input) + [""] * 12
    w = g.float_of(ins[1], ins[8], ins[9]).transpose(0, 2, 1)
    r = g.float_of(ins[2], ins[10], ins[11]).transpose(0, 2, 1)
    w_name, r_name = f"{ins[1]}_float", f"{ins[2]}_float"
    inputs = [ins[0], w_name, r_name, *ins[3:8]]
    while inputs and not inputs[-1]:
        inputs.pop()
    lstm = helper.make_node("LSTM", inputs, list(node.output), name=f"{node.name}_float")
    lstm.attribute.extend(node.attribute)
    return lstm, [numpy_helper.from_array(a.astype(np.float32), n) for a, n in ((w, w_name), (r, r_name))]


def _only(nodes: list[NodeProto], op: str, of: NodeProto) -> NodeProto:
    if len(nodes) != 1 or nodes[0].op_type != op:
        raise ValueError(f"{of.name}: expected one {op} after it, found {[n.op_type for n in nodes]}")
    return nodes[0]


def _reachable(nodes: list[NodeProto], outputs: list[str]) -> list[NodeProto]:
    """`nodes` in their order, without those no graph output depends on."""
    producer = {o: n for n in nodes for o in n.output}
    needed: set[int] = set()
    stack = list(outputs)
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(i for i in node.input if i)
    return [n for n in nodes if id(n) in needed]
