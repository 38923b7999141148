"""The OpenVINO int8 path: exact graph rewrites, GPTQ, clipped ranges, and the calibrated policy."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs onnx (the calibration extra)")
ort = pytest.importorskip("onnxruntime")

from onnx import helper, numpy_helper  # noqa: E402

from voxport import Voice  # noqa: E402
from voxport.bundle import Bundle, MissingVariantError  # noqa: E402
from voxport.calibration import GateThresholds, calibrate  # noqa: E402
from voxport.calibration import candidates as candidates_module  # noqa: E402
from voxport.calibration import quantize_openvino as qov  # noqa: E402
from voxport.calibration.capture import capture_stage_inputs  # noqa: E402
from voxport.calibration.corpus import CORPUS, read_sentences  # noqa: E402
from voxport.calibration.install import variant_of  # noqa: E402
from voxport.calibration.qdq import _fake_quant_mse, mse_range, tensor_values  # noqa: E402
from voxport.calibration.rewrite import equalize_channels, polyphase_upsampling, scalable_groups  # noqa: E402
from voxport.calibration.weight_rounding import channel_scales, gptq, round_to_nearest  # noqa: E402

SENTENCES = read_sentences(CORPUS)[:12]


def _run(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _upsampler(cin: int, cout: int, stride: int, kernel: int, bias: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((cin, cout, kernel)).astype(np.float32), "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b"))
        inputs.append("b")
    pad = (kernel - stride) // 2
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="/ups.0/ConvTranspose", strides=[stride],
                            kernel_shape=[kernel], pads=[pad, pad])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, cin, None])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize(("stride", "kernel", "bias"), [(8, 16, True), (4, 8, False), (2, 4, True), (5, 11, True)])
def test_polyphase_rewrite_computes_the_same_upsampling(stride, kernel, bias):
    model = _upsampler(6, 5, stride, kernel, bias)
    rewritten = polyphase_upsampling(model)
    x = np.random.default_rng(1).standard_normal((1, 6, 37)).astype(np.float32)
    if kernel - stride != 2 * ((kernel - stride) // 2):  # odd padding: not this rewrite's shape, left alone
        assert [n.op_type for n in rewritten.graph.node] == ["ConvTranspose"]
        return
    assert "ConvTranspose" not in {n.op_type for n in rewritten.graph.node}
    np.testing.assert_allclose(_run(rewritten, {"x": x}), _run(model, {"x": x}), atol=1e-4, rtol=1e-5)


def test_equalization_keeps_the_vocoder_function_and_changes_its_weights(tiny_voice, tiny_bundle):
    feeds = capture_stage_inputs(tiny_voice, SENTENCES, seed=0, frame_crop=16)["vocoder"][:8]
    original = onnx.load(str(tiny_bundle / "vocoder.onnx"))
    assert scalable_groups(original), "the HiFi-GAN residual streams should be scalable"

    def ranges(tensors):
        values = tensor_values(original, tensors, feeds)
        return {t: np.max([v.max(1) for v in vs], 0) - np.min([v.min(1) for v in vs], 0) for t, vs in values.items()}

    equalized = equalize_channels(original, ranges)
    before = {i.name: numpy_helper.to_array(i) for i in original.graph.initializer}
    changed = [i.name for i in equalized.graph.initializer
               if not np.array_equal(numpy_helper.to_array(i), before[i.name])]
    assert changed
    for feed in feeds[:3]:
        a, b = _run(original, feed), _run(equalized, feed)
        assert np.max(np.abs(a - b)) <= 1e-4 * max(np.max(np.abs(a)), 1e-6)


def test_a_group_that_reaches_a_non_homogeneous_op_is_not_scaled():
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 4, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 4, 3)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"], name="c1", pads=[1, 1]),
             helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("Conv", ["h", "w2"], ["y"], name="c2", pads=[1, 1]),
             helper.make_node("Add", ["y", "t"], ["z"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4, None])],
                              [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)], [w1, w2])
    assert scalable_groups(helper.make_model(graph, ir_version=8)) == []


def test_gptq_has_less_output_error_than_rounding_to_nearest():
    rng = np.random.default_rng(0)
    # Strongly correlated inputs, as neighbouring taps and channels of a conv are: GPTQ's compensation pays.
    x = rng.standard_normal((48, 8)) @ rng.standard_normal((8, 4000)) + 0.1 * rng.standard_normal((48, 4000))
    w = rng.standard_normal((16, 48)) * np.exp(rng.standard_normal((16, 1)))
    scales = channel_scales(w)
    moments = x @ x.T / x.shape[1]
    codes = gptq(w, moments, scales)
    assert codes.dtype == np.int8 and np.abs(codes.astype(int)).max() <= 127

    def output_error(c):
        return float(np.sum(((w - c * scales[:, None]) @ x) ** 2))

    assert output_error(codes) < 0.5 * output_error(round_to_nearest(w, scales))


def test_clipped_activation_range_beats_min_max_on_heavy_tails():
    x = np.random.default_rng(0).laplace(size=200_000).astype(np.float32)
    low, high = mse_range([x])
    assert x.min() < low < 0 < high < x.max()
    assert _fake_quant_mse(x, low, high) < 0.8 * _fake_quant_mse(x, float(x.min()), float(x.max()))


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_openvino_int8_vocoder_is_deterministic_and_close_to_fp32(tiny_voice, tiny_bundle, tmp_path):
    feeds = capture_stage_inputs(tiny_voice, SENTENCES, seed=0, frame_crop=16)["vocoder"][:16]
    source = tiny_bundle / "vocoder.onnx"
    first = qov.quantize_for_openvino(source, tmp_path / "a.onnx", feeds, min_channels=1)
    second = qov.quantize_for_openvino(source, tmp_path / "b.onnx", feeds, min_channels=1)
    assert _sha(first) == _sha(second)
    model = onnx.load(str(first))
    ops = [n.op_type for n in model.graph.node]
    assert "ConvTranspose" not in ops and ops.count("QuantizeLinear") >= 1
    assert any(i.data_type == onnx.TensorProto.INT8 for i in model.graph.initializer)
    reference = _run(onnx.load(str(source)), feeds[0]).reshape(-1)
    quantized = _run(model, feeds[0]).reshape(-1)
    assert np.corrcoef(reference, quantized)[0, 1] > 0.9  # int8 noise on a random tiny model, not garbage


def test_no_qualifying_convolution_is_a_clear_error(tiny_voice, tiny_bundle, tmp_path):
    feeds = capture_stage_inputs(tiny_voice, SENTENCES[:2], seed=0, frame_crop=16)["vocoder"][:2]
    with pytest.raises(ValueError, match="no convolution qualifies"):
        qov.quantize_for_openvino(tiny_bundle / "vocoder.onnx", tmp_path / "x.onnx", feeds, min_channels=10_000)


def test_openvino_calibration_records_a_policy_that_int8_loads(tiny_bundle, tmp_path, monkeypatch):
    pytest.importorskip("openvino", reason="needs the openvino extra")
    bundle_dir = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    monkeypatch.setattr(qov, "MIN_CHANNELS", 1)  # the tiny model's convs are narrow
    # Only the int8 candidates: on a tiny graph plain bf16 may well be the fastest, and then nothing is int8.
    monkeypatch.setitem(candidates_module.CANDIDATES, "openvino", ("int8-bf16", "int8"))
    lenient = GateThresholds(max_mcd_db=1e9, max_duration_changes=1.0)
    report = calibrate(bundle_dir, "openvino", thresholds=lenient, max_sentences=12, check_wer=False, threads=1,
                       stages=("vocoder",), require_speedup=False)
    precisions = report["result"]["precisions"]
    chosen = precisions["vocoder"]
    assert chosen in ("int8-bf16", "int8")
    assert precisions["encoder"] == "fp32"
    bundle = Bundle.load(bundle_dir)  # verifies every recorded size and hash
    assert bundle.manifest.policies_for("openvino")[0].precisions == precisions
    installed = bundle.manifest.graphs["vocoder"].variants["int8"]
    assert _sha(bundle_dir / installed.file) == installed.sha256
    with Voice.load(bundle_dir, runtime="openvino", precision="int8") as voice:
        for stage, precision in precisions.items():
            assert voice.sessions[stage].precision == precision
            assert voice.sessions[stage].model_path.resolve() == bundle.graph_path(stage, variant_of(precision))
        assert voice.synthesize("Quantized speech.", seed=0).size > 0
    # The graphs are OpenVINO's: onnxruntime is told to calibrate for itself instead of running them.
    with pytest.raises(MissingVariantError, match="--runtime onnxruntime"):
        Voice.load(bundle_dir, runtime="cpu", precision="int8")
