"""Export of the four VITS graphs: validation against torch, forbidden ops, importers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from support.needs_export import onnx, torch
from support.tiny import tiny_model

from voxport.export.errors import (
    ForbiddenOpError,
    MissingTensorError,
    OutputNameMismatch,
    OutputValueMismatch,
    TensorShapeError,
    UnknownTensorError,
)
from voxport.export.onnx_export import FORBIDDEN_OPS, check_ops, export_graph, validate_graph
from voxport.export.spec import GraphSpec
from voxport.export.vits.checkpoint_import import load_vits_checkpoint
from voxport.export.vits.graphs import vits_graph_specs
from voxport.export.vits.piper_import import load_piper_voice, piper_scales
from voxport.runtimes import TensorSpec
from voxport.synthesis import Scales

VARIANTS = {
    "piper-like": {},
    "resblock-1": {"resblock": "1", "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]]},
    "multi-speaker": {"n_speakers": 3, "gin_channels": 8},
    "deterministic-dp": {"use_sdp": False},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_graph_exports_and_matches_torch(tmp_path, variant):
    model = tiny_model(**VARIANTS[variant])
    for name, spec in vits_graph_specs(model).items():
        path = tmp_path / f"{name}.onnx"
        worst = export_graph(spec, path)
        graph = onnx.load(str(path))
        assert not {n.op_type for n in graph.graph.node} & FORBIDDEN_OPS
        assert [i.name for i in graph.graph.input] == [t.name for t in spec.inputs]
        # Validation runs two lengths, so the time axes are really dynamic.
        assert worst <= spec.atol


def test_validator_rejects_values_that_drift(tmp_path):
    model = tiny_model()
    spec = vits_graph_specs(model)["decoder"]
    path = tmp_path / "decoder.onnx"
    export_graph(spec, path)
    with torch.no_grad():
        model.flow.flows[0].post.bias.add_(0.5)
    with pytest.raises(OutputValueMismatch, match="decoder.latent"):
        validate_graph(spec, path)


def test_validator_rejects_renamed_outputs(tmp_path):
    spec = vits_graph_specs(tiny_model())["vocoder"]
    path = tmp_path / "vocoder.onnx"
    export_graph(spec, path)
    wave = TensorSpec("wave", "float32", spec.outputs[0].shape)
    renamed = GraphSpec(**{**spec.__dict__, "outputs": (wave,)})
    with pytest.raises(OutputNameMismatch):
        validate_graph(renamed, path)


def test_monolithic_piper_graph_is_flagged_for_random_ops(tiny_piper_voice):
    with pytest.raises(ForbiddenOpError, match="RandomNormalLike"):
        check_ops("piper", onnx.load(str(tiny_piper_voice)))


def test_piper_import_recovers_every_weight_and_hyper_parameter(tiny_piper_voice):
    original = tiny_model()
    imported, piper_json = load_piper_voice(tiny_piper_voice)
    assert imported.config == original.config
    ours = imported.state_dict()
    for key, value in original.state_dict().items():
        np.testing.assert_allclose(ours[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    assert piper_json["audio"]["sample_rate"] == original.config.sample_rate


def _edited_copy(src, dst, edit) -> None:
    model = onnx.load(str(src))
    edit(model.graph)
    onnx.save(model, str(dst))
    dst.with_name(dst.name + ".json").write_bytes(src.with_name(src.name + ".json").read_bytes())


def test_piper_import_refuses_unknown_tensors(tiny_piper_voice, tmp_path):
    def add_stray(graph):
        graph.initializer.append(onnx.numpy_helper.from_array(np.ones((4, 4), np.float32), "mystery.weight"))

    _edited_copy(tiny_piper_voice, tmp_path / "v.onnx", add_stray)
    with pytest.raises(UnknownTensorError, match="mystery.weight"):
        load_piper_voice(tmp_path / "v.onnx")


def test_piper_import_refuses_missing_tensors(tiny_piper_voice, tmp_path):
    def drop(graph):
        keep = [t for t in graph.initializer if t.name != "dec.conv_pre.bias"]
        del graph.initializer[:]
        graph.initializer.extend(keep)

    _edited_copy(tiny_piper_voice, tmp_path / "v.onnx", drop)
    with pytest.raises(MissingTensorError, match="dec.conv_pre.bias"):
        load_piper_voice(tmp_path / "v.onnx")


def test_piper_scales_fall_back_to_the_defaults_per_scale():
    assert piper_scales({"noise_scale": 0.5, "length_scale": 1.2, "noise_w": 0.6}) == Scales(1.2, 0.5, 0.6)
    assert piper_scales({"length_scale": 1.2, "unrelated": 3}) == Scales(length_scale=1.2)
    assert piper_scales({}) == Scales()


def _training_checkpoint(model) -> dict[str, torch.Tensor]:
    """What a VITS training run saves: weight norm as g/v, plus posterior encoder and SDP posterior."""
    trained = copy.deepcopy(model)
    for layer in (*trained.flow.flows[0].enc.in_layers, *trained.dec.ups, trained.dec.conv_pre):
        torch.nn.utils.parametrizations.weight_norm(layer)
    state = dict(trained.state_dict())
    state["enc_q.pre.weight"] = torch.zeros(3, 3, 1)
    state["dp.post_flows.0.m"] = torch.zeros(2, 1)
    state["dp.flows.1.pre.weight"] = torch.zeros(3, 1, 1)
    return {"model": state}


def test_training_checkpoint_folds_weight_norm_and_drops_training_parts():
    model = tiny_model()
    loaded = load_vits_checkpoint(_training_checkpoint(model), model.config)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(loaded.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


def test_training_checkpoint_errors_name_the_tensor():
    model = tiny_model()
    ckpt = _training_checkpoint(model)
    ckpt["model"]["flow.extra.weight"] = torch.zeros(1)
    with pytest.raises(UnknownTensorError, match="flow.extra.weight"):
        load_vits_checkpoint(ckpt, model.config)
    ckpt = _training_checkpoint(model)
    del ckpt["model"]["enc_p.proj.bias"]
    with pytest.raises(MissingTensorError, match="enc_p.proj.bias"):
        load_vits_checkpoint(ckpt, model.config)
    ckpt = _training_checkpoint(model)
    ckpt["model"]["enc_p.proj.bias"] = torch.zeros(5)
    with pytest.raises(TensorShapeError, match="enc_p.proj.bias"):
        load_vits_checkpoint(ckpt, model.config)


def test_graphs_run_batched(tmp_path):
    """The batch axis is dynamic: two items in one call give what each gives alone."""
    import onnxruntime as ort

    model = tiny_model()
    for name, spec in vits_graph_specs(model).items():
        path = tmp_path / f"{name}.onnx"
        export_graph(spec, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        a = spec.example(9, np.random.default_rng(1))
        b = spec.example(9, np.random.default_rng(2))
        both = session.run(None, {k: np.concatenate([a[k], b[k]]) for k in a})
        alone = [session.run(None, a), session.run(None, b)]
        for i, out in enumerate(both):
            np.testing.assert_allclose(out[0], alone[0][i][0], atol=1e-4, err_msg=f"{name} item 0")
            np.testing.assert_allclose(out[1], alone[1][i][0], atol=1e-4, err_msg=f"{name} item 1")


def test_the_reduced_precision_vocoder_is_the_exact_polyphase_rewrite(tiny_bundle):
    """bf16/fp16 compile from a graph without ConvTranspose; run at fp32 it is the fp32 vocoder."""
    import onnx

    from voxport.bundle import Bundle
    from voxport.runtimes import open_session

    bundle = Bundle.load(tiny_bundle)
    entry = bundle.graph("vocoder")
    assert entry.variants["bf16"] == entry.variants["fp16"] != entry.variants["fp32"]
    ops = {n.op_type for n in onnx.load(str(bundle.graph_path("vocoder", "bf16"))).graph.node}
    assert "ConvTranspose" not in ops
    rng = np.random.default_rng(0)
    feeds = {"latent": rng.standard_normal((1, 8, 37)).astype(np.float32),
             "frame_mask": np.ones((1, 1, 37), np.float32)}
    outs = []
    for variant in ("fp32", "bf16"):
        with open_session("onnxruntime", bundle.graph_path("vocoder", variant), entry.inputs, entry.outputs) as s:
            outs.append(s.run(feeds)["audio"])
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)
