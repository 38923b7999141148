"""kokoro-onnx monoliths into KokoroModel: a tiny model exported the way kokoro-onnx's files are (fp32, and
dynamic int8 as kokoro-v1.0.int8.onnx) comes back with the same weights (int8: within its quantization step);
a graph that is not a Kokoro monolith is refused naming why. The real int8 file is tested in
test_kokoro_real.py (opt-in)."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from support.tiny_kokoro import TINY_CONFIG, TINY_VOCAB, tiny_model  # noqa: E402
from support.tiny_monolith import export_monolith  # noqa: E402

from voxport.export.kokoro.checkpoint import NotKokoroError  # noqa: E402
from voxport.export.kokoro.monolith import load_monolith  # noqa: E402

ARCH = {k: v for k, v in TINY_CONFIG.items() if k != "vocab"}


@pytest.mark.parametrize("int8", [False, True], ids=["fp32", "int8"])
def test_a_monolith_gives_back_the_models_weights(tmp_path, int8):
    model = tiny_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = export_monolith(model, tmp_path / "kokoro.onnx", int8=int8)
    loaded = load_monolith(path, TINY_VOCAB, ARCH)
    want, got = model.state_dict(), loaded.state_dict()
    for key, value in want.items():
        if key.startswith("bert.pooler."):
            continue  # not in a monolith (unused): left at zero
        scale = float(value.abs().max()) or 1.0
        tolerance = 1e-6 if not int8 else 2.0 / 255 * scale + 1e-6  # one uint8 step of the tensor's range
        assert float((got[key] - value).abs().max()) <= tolerance, key
    assert loaded.decoder.generator.stft.variant == "monolith"


def test_a_graph_that_is_not_a_monolith_is_named(tmp_path):
    from voxport.export.kokoro.graphs import prosody_spec
    from voxport.export.onnx_export import export_graph

    export_graph(prosody_spec(tiny_model()), tmp_path / "prosody.onnx")
    with pytest.raises(NotKokoroError, match=r"prosody.onnx is not a kokoro-onnx model: its inputs are"):
        load_monolith(tmp_path / "prosody.onnx", TINY_VOCAB, ARCH)
    (tmp_path / "junk.onnx").write_bytes(b"\x00junk")
    with pytest.raises(NotKokoroError, match="junk.onnx is not an ONNX file"):
        load_monolith(tmp_path / "junk.onnx", TINY_VOCAB, ARCH)


def _run(model_or_path, feeds):  # noqa: ANN001, ANN202
    import onnxruntime as ort

    data = model_or_path.SerializeToString() if hasattr(model_or_path, "SerializeToString") else str(model_or_path)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)[0].ravel()


def test_the_int8_files_float_twin_computes_its_weights_in_float(tmp_path):
    """activations_in_float: the dynamic-int8 monolith with every product and LSTM back in float on its own
    (dequantized) weights: no quantizing op is left, and it is closer to the float model it was quantized from
    than the int8 file is (only its weights are rounded now, not its activations)."""
    import numpy as np
    import onnx

    from voxport.export.kokoro.float_file import activations_in_float

    model = tiny_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = export_monolith(model, tmp_path / "fp32.onnx")
        int8 = export_monolith(model, tmp_path / "int8.onnx", int8=True)
    before = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"MatMulInteger", "ConvInteger", "DynamicQuantizeLinear"} <= before  # the rewrite has work to do
    twin = activations_in_float(onnx.load(str(int8)))
    after = {n.op_type for n in twin.graph.node}
    assert not after & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM"}, after
    width = 2 * TINY_CONFIG["style_dim"]
    errors = {"twin": [], "int8": []}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        feeds = {"tokens": np.array([[0, *rng.integers(1, len(TINY_VOCAB), 8), 0]]),
                 "style": rng.standard_normal((1, width)).astype(np.float32), "speed": np.ones(1, np.float32)}
        want = _run(fp32, feeds)
        for name, graph in (("twin", twin), ("int8", int8)):
            got = _run(graph, feeds)
            same = got.shape == want.shape  # else a duration moved: the whole length counts as error
            errors[name].append(float(np.sqrt(np.mean((got - want) ** 2))) if same else float("inf"))
    assert np.all(np.isfinite(errors["twin"])), errors  # weights rounded alone move no duration here
    assert np.median(errors["twin"]) < np.median(errors["int8"]), errors
