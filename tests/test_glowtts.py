"""GlowTTS (Coqui layout) with a mel vocoder: export, checkpoint import, SDK parity, durations, frame
multiple, Griffin-Lim, streaming and OpenVINO, on tiny random models built with Coqui's names."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from support.needs_export import onnx, torch
from support.tiny_glowtts import coqui_checkpoint, coqui_config, hifigan_checkpoint, hifigan_config, tiny_glowtts

from voxport.export.errors import MissingTensorError, TensorShapeError, UnknownTensorError, UnsupportedConfigError
from voxport.export.glowtts.checkpoint_import import load_glowtts_checkpoint
from voxport.export.glowtts.graphs import glowtts_graph_specs
from voxport.export.hifigan import load_hifigan_checkpoint
from voxport.export.onnx_export import FORBIDDEN_OPS, export_graph

VARIANTS = {
    "default": {},
    "mean-only": {"mean_only": True},
    "multi-speaker": {"use_speaker_embedding": True, "num_speakers": 3},
    "plain-attention": {"rel_attn_window_size": None, "layer_norm_type": "2", "use_encoder_prenet": False},
    "banded-sigmoid": {"input_length": 3, "sigmoid_scale": True, "num_squeeze": 1, "dilation_rate": 2},
}


# --- export ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_graph_exports_and_matches_torch(tmp_path, phonemes, variant):
    model = tiny_glowtts(coqui_config(phonemes, **VARIANTS[variant]))
    for name, spec in glowtts_graph_specs(model).items():
        path = tmp_path / f"{name}.onnx"
        assert export_graph(spec, path) <= spec.atol  # two lengths each: the time axes are dynamic
        graph = onnx.load(str(path))
        assert not {n.op_type for n in graph.graph.node} & FORBIDDEN_OPS
        assert [i.name for i in graph.graph.input] == [t.name for t in spec.inputs]
    names = {name: [t.name for t in spec.outputs] for name, spec in glowtts_graph_specs(model).items()}
    assert names["encoder"][:4] == ["hidden", "prior_mean", "prior_log_std", "phoneme_mask"]
    assert names["duration"] == ["log_durations"] and names["decoder"] == ["latent"]


@pytest.mark.parametrize("padding", [5, 0])
def test_vocoder_graph_matches_torch(tmp_path, coqui, padding):
    vocoder = copy.deepcopy(coqui["vocoder"])
    vocoder.padding = padding
    spec = glowtts_graph_specs(coqui["model"], vocoder)["vocoder"]
    assert export_graph(spec, tmp_path / "vocoder.onnx") <= spec.atol
    audio = vocoder(torch.randn(1, 16, 11))
    assert audio.shape == (1, 1, 11 * 32)  # frame t is samples [t * hop, (t + 1) * hop), padding or not


def test_decoder_inverse_is_a_constant_of_the_graph(tmp_path, coqui):
    spec = glowtts_graph_specs(coqui["model"])["decoder"]
    export_graph(spec, tmp_path / "decoder.onnx")
    ops = {n.op_type for n in onnx.load(str(tmp_path / "decoder.onnx")).graph.node}
    assert not ops & {"Inverse", "Det", "RandomNormal", "RandomNormalLike"}


# --- checkpoints ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_inverse", [False, True])
def test_checkpoint_round_trip_with_coqui_names(coqui, with_inverse):
    model = coqui["model"]
    ckpt = coqui_checkpoint(model, with_inverse=with_inverse)
    assert any(k.endswith("start.parametrizations.weight.original0") for k in ckpt["model"])
    loaded, config = load_glowtts_checkpoint(coqui["config"], ckpt)
    assert loaded.config == model.config and config["model"] == "glow_tts"
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(loaded.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


def test_legacy_weight_norm_layout_loads(coqui):
    state = {}
    for key, value in coqui_checkpoint(coqui["model"])["model"].items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        state[key.replace(".parametrizations.weight.original1", ".weight_v")] = value
    loaded, _ = load_glowtts_checkpoint(coqui["config"], {"model": state})
    torch.testing.assert_close(loaded.decoder.flows[2].start.weight, coqui["model"].decoder.flows[2].start.weight)


def test_checkpoint_errors_name_the_tensor(coqui):
    good = coqui_checkpoint(coqui["model"])
    ckpt = copy.deepcopy(good)
    ckpt["model"]["decoder.flows.0.mystery"] = torch.zeros(1)
    with pytest.raises(UnknownTensorError, match="decoder.flows.0.mystery"):
        load_glowtts_checkpoint(coqui["config"], ckpt)
    ckpt = copy.deepcopy(good)
    del ckpt["model"]["encoder.proj_m.bias"]
    with pytest.raises(MissingTensorError, match="encoder.proj_m.bias"):
        load_glowtts_checkpoint(coqui["config"], ckpt)
    ckpt = copy.deepcopy(good)
    del ckpt["model"]["decoder.flows.2.start.parametrizations.weight.original1"]
    with pytest.raises(MissingTensorError, match="original1"):
        load_glowtts_checkpoint(coqui["config"], ckpt)
    ckpt = copy.deepcopy(good)
    ckpt["model"]["encoder.proj_m.bias"] = torch.zeros(3)
    with pytest.raises(TensorShapeError, match="encoder.proj_m.bias"):
        load_glowtts_checkpoint(coqui["config"], ckpt)
    with pytest.raises(UnsupportedConfigError, match="encoder_type"):
        load_glowtts_checkpoint({**coqui["config"], "encoder_type": "gated_conv"}, good)


def test_hifigan_checkpoint_round_trip_and_errors(coqui):
    generator = coqui["vocoder"].generator
    config = hifigan_config()
    ckpt = hifigan_checkpoint(generator)
    loaded, hifigan, _ = load_hifigan_checkpoint(config, ckpt)
    assert hifigan.hop_length == 32 and hifigan.inference_padding == 5
    for key, value in generator.state_dict().items():
        np.testing.assert_allclose(loaded.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    ckpt["model"]["model_g.extra.weight"] = torch.zeros(1)
    with pytest.raises(UnknownTensorError, match="extra.weight"):
        load_hifigan_checkpoint(config, ckpt)
    del ckpt["model"]["model_g.extra.weight"]
    del ckpt["model"]["model_g.conv_post.bias"]
    with pytest.raises(MissingTensorError, match="conv_post.bias"):
        load_hifigan_checkpoint(config, ckpt)
    params = {**config["generator_model_params"], "cond_channels": 4}
    with pytest.raises(UnsupportedConfigError, match="cond_channels"):
        load_hifigan_checkpoint({**config, "generator_model_params": params}, ckpt)
