"""Tacotron2 (NVIDIA DeepLearningExamples layout) export: checkpoint import in both wrapper styles and its
errors, each graph against torch, the decoder step graph looped in numpy against the torch reference, DLE
HiFi-GAN import, bundle build and manifest, and `voxport build --tacotron2`; on tiny random-weight
checkpoints written with NVIDIA's parameter names (tests/support/tiny_tacotron2.py)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from support.needs_export import onnx, torch
from support.tiny_tacotron2 import (
    GATE_STEP,
    MAX_STEPS,
    TINY_CONFIG,
    TINY_HIFIGAN_CONFIG,
    bare_state_dict,
    dle_hifigan_checkpoint,
    nvidia_checkpoint,
    tiny_dle_hifigan,
    tiny_tacotron2,
    tiny_tacotron2_bundle,
)

from voxport.bundle import contract as c
from voxport.export.errors import (
    MissingTensorError,
    ModelImportError,
    TensorShapeError,
    UnknownTensorError,
    UnsupportedConfigError,
)
from voxport.export.onnx_export import FORBIDDEN_OPS, export_graph
from voxport.export.tacotron2.checkpoint_import import load_tacotron2_checkpoint
from voxport.export.tacotron2.graphs import prenet_masks, tacotron2_graph_specs
from voxport.export.tacotron2.hifigan_dle import dle_hifigan_vocoder_spec, load_dle_hifigan
from voxport.export.tacotron2.symbols import SYMBOLS
from voxport.families import family_of


@pytest.fixture(scope="module")
def model():
    return tiny_tacotron2()


@pytest.fixture(scope="module")
def graphs(model, tmp_path_factory):
    """The three graphs exported (and validated against torch) once: {stage: onnxruntime session}."""
    import onnxruntime as ort

    root = tmp_path_factory.mktemp("tacotron2_graphs")
    sessions = {}
    for name, spec in tacotron2_graph_specs(model).items():
        assert export_graph(spec, root / f"{name}.onnx") <= spec.atol
        sessions[name] = ort.InferenceSession(str(root / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    return sessions


def _masks(model, steps: int, seed: int = 0) -> np.ndarray:
    cfg = model.config
    return prenet_masks(np.random.default_rng(seed), (steps, 1, cfg.prenet_n_layers, cfg.prenet_dim))


def _ids(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, len(SYMBOLS), (1, n)).astype(np.int64)


# --- the module tree is NVIDIA's ------------------------------------------------------------------------


def _nvidia_keys(cfg: dict) -> set[str]:
    """The state dict keys NVIDIA's Tacotron2 class has at this config, written out from its layout."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = {"embedding.weight"}
    for i in range(cfg["encoder_n_convolutions"]):
        keys |= {f"encoder.convolutions.{i}.0.conv.{p}" for p in ("weight", "bias")}
        keys |= {f"encoder.convolutions.{i}.1.{p}" for p in bn}
    rnn_params = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    keys |= {f"encoder.lstm.{p}_l0{s}" for p in rnn_params for s in ("", "_reverse")}
    keys |= {f"decoder.prenet.layers.{i}.linear_layer.weight" for i in range(2)}
    keys |= {f"decoder.{rnn}.{p}" for rnn in ("attention_rnn", "decoder_rnn") for p in rnn_params}
    att = "decoder.attention_layer"
    keys |= {f"{att}.{layer}.linear_layer.weight" for layer in ("query_layer", "memory_layer", "v")}
    keys |= {f"{att}.location_layer.location_conv.conv.weight",
             f"{att}.location_layer.location_dense.linear_layer.weight"}
    keys |= {f"decoder.{layer}.linear_layer.{p}" for layer in ("linear_projection", "gate_layer")
             for p in ("weight", "bias")}
    for i in range(cfg["postnet_n_convolutions"]):
        keys |= {f"postnet.convolutions.{i}.0.conv.{p}" for p in ("weight", "bias")}
        keys |= {f"postnet.convolutions.{i}.1.{p}" for p in bn}
    return keys


def test_parameter_names_are_nvidias(model):
    assert set(model.state_dict()) == _nvidia_keys(TINY_CONFIG)


# --- checkpoint import ----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["wrapped", "wrapped-ddp", "bare", "bare-ddp"])
def test_checkpoint_round_trip_in_both_wrapper_styles(model, tmp_path, style):
    ddp = style.endswith("ddp")
    ckpt = nvidia_checkpoint(model, ddp=ddp) if style.startswith("wrapped") else bare_state_dict(model, ddp=ddp)
    assert any(k.startswith("module.") for k in (ckpt.get("state_dict") or ckpt)) == ddp
    torch.save(ckpt, tmp_path / "tacotron2.pt")
    loaded, config = load_tacotron2_checkpoint(tmp_path / "tacotron2.pt")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, msg=key)
    if style.startswith("wrapped"):
        assert config == TINY_CONFIG and loaded.config == model.config
    else:  # every size read off the tensors; the loop settings are DLE's defaults
        assert config is None and loaded.config.max_decoder_steps == 2000
        assert loaded.config.to_dict() | {"max_decoder_steps": MAX_STEPS} == model.config.to_dict()


def test_checkpoint_without_batch_counters_loads(model):
    state = {k: v for k, v in bare_state_dict(model).items() if not k.endswith("num_batches_tracked")}
    loaded, _ = load_tacotron2_checkpoint(state)
    norm = loaded.postnet.convolutions[1][1]
    torch.testing.assert_close(norm.running_var, model.postnet.convolutions[1][1].running_var)


def test_checkpoint_errors_name_the_tensor(model):
    good = nvidia_checkpoint(model, ddp=True)
    ckpt = copy.deepcopy(good)
    ckpt["state_dict"]["module.decoder.mystery.weight"] = torch.zeros(1)
    with pytest.raises(UnknownTensorError, match="decoder.mystery.weight"):
        load_tacotron2_checkpoint(ckpt)
    ckpt = copy.deepcopy(good)
    del ckpt["state_dict"]["module.decoder.gate_layer.linear_layer.bias"]
    with pytest.raises(MissingTensorError, match="gate_layer.linear_layer.bias"):
        load_tacotron2_checkpoint(ckpt)
    ckpt = copy.deepcopy(good)
    ckpt["state_dict"]["module.decoder.attention_layer.v.linear_layer.weight"] = torch.zeros(1, 9)
    with pytest.raises(TensorShapeError, match="attention_layer.v.linear_layer.weight"):
        load_tacotron2_checkpoint(ckpt)
    bare = bare_state_dict(model)
    del bare["embedding.weight"]
    with pytest.raises(MissingTensorError, match="embedding.weight"):
        load_tacotron2_checkpoint(bare)


@pytest.mark.parametrize(("change", "message"), [
    ({"n_frames_per_step": 2}, "n_frames_per_step=2"),
    ({"speaker_embedding_dim": 8}, "speaker_embedding_dim"),
    ({"attention_location_kernel_size": 8}, "odd kernel"),
    ({"gate_threshold": 1.5}, "gate_threshold"),
])
def test_unsupported_configs_are_refused(model, change, message):
    ckpt = nvidia_checkpoint(model, {**TINY_CONFIG, **change})
    with pytest.raises(UnsupportedConfigError, match=message):
        load_tacotron2_checkpoint(ckpt)


def test_files_that_are_no_tacotron2_checkpoint(tmp_path):
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ModelImportError, match="list"):
        load_tacotron2_checkpoint(tmp_path / "list.pt")
    with pytest.raises(ModelImportError, match="no `state_dict`"):
        load_tacotron2_checkpoint(dle_hifigan_checkpoint(tiny_dle_hifigan()))
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ModelImportError):
        load_tacotron2_checkpoint(tmp_path / "text.pt")


# --- the graphs against torch ---------------------------------------------------------------------------


def test_each_graph_matches_torch_and_holds_no_forbidden_op(model, graphs, tmp_path):
    # The fixture exported and validated each graph at two lengths (the longer one padded or masked).
    names = {"encoder": ([c.PHONEME_IDS, c.PHONEME_LENGTHS], [c.MEMORY, c.PROCESSED_MEMORY]),
             "decoder_step": (list(c.AUTOREGRESSIVE_CONTRACTS["decoder_step"].inputs),
                              list(c.AUTOREGRESSIVE_CONTRACTS["decoder_step"].outputs)),
             "postnet": ([c.MEL], [c.LATENT])}
    for stage, session in graphs.items():
        assert ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]) == names[stage]
    for name, spec in tacotron2_graph_specs(model).items():
        export_graph(spec, tmp_path / f"{name}.onnx")
        assert not {n.op_type for n in onnx.load(str(tmp_path / f"{name}.onnx")).graph.node} & FORBIDDEN_OPS


def test_encoder_without_packing_equals_nvidias_packed_lstm(model):
    """NVIDIA packs its batch for the LSTM; at batch 1 that is the plain bidirectional LSTM over the
    convolutions, and a padded input must give the unpadded memory on its real phonemes and zeros after."""
    ids = torch.from_numpy(_ids(11))
    with torch.no_grad():
        memory, processed = model.encode(ids, torch.tensor([11]))
        x = model.embedding(ids).transpose(1, 2)
        for conv in model.encoder.convolutions:
            x = torch.relu(conv(x))
        reference = model.encoder.lstm(x.transpose(1, 2))[0]
        torch.testing.assert_close(memory, reference, rtol=0, atol=1e-6)
        padded = torch.cat([ids, torch.from_numpy(_ids(5, seed=1))], dim=1)
        memory_padded, processed_padded = model.encode(padded, torch.tensor([11]))
    torch.testing.assert_close(memory_padded[:, :11], memory, rtol=0, atol=1e-6)
    torch.testing.assert_close(processed_padded[:, :11], processed, rtol=0, atol=1e-6)
    assert memory_padded[:, 11:].abs().max() == 0


def test_padded_phonemes_get_no_attention(model):
    cfg = model.config
    ids = torch.from_numpy(_ids(7))
    with torch.no_grad():
        memory, processed = model.encode(torch.cat([ids, ids[:, :3]], 1), torch.tensor([7]))
        mask = torch.tensor([[1.0] * 7 + [0.0] * 3])
        state = model.decoder.initial_state(memory)
        out = model.decoder.step(torch.zeros(1, cfg.n_mel_channels), torch.from_numpy(_masks(model, 1)[0]), *state,
                                 memory, processed, mask)
        short = model.decoder.step(torch.zeros(1, cfg.n_mel_channels), torch.from_numpy(_masks(model, 1)[0]),
                                   *model.decoder.initial_state(memory[:, :7]), memory[:, :7], processed[:, :7],
                                   mask[:, :7])
    weights = out[2 + c.STEP_STATE.index("attention_weights")]
    assert weights[0, 7:].abs().max() == 0 and math.isclose(weights.sum().item(), 1.0, rel_tol=1e-6)
    torch.testing.assert_close(out[0], short[0], rtol=0, atol=1e-6)  # the frame: padding changed nothing


def _onnx_loop(graphs, ids: np.ndarray, masks: np.ndarray, gate_threshold: float) -> tuple[np.ndarray, ...]:
    """The decoder loop over the exported graphs, in numpy: state out of one step into the next."""
    memory, processed = graphs["encoder"].run(None, {c.PHONEME_IDS: ids, c.PHONEME_LENGTHS: np.array([ids.shape[1]])})
    step = graphs["decoder_step"]
    feeds = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
             for i in step.get_inputs()}
    for name in ("attention_weights", "attention_weights_cum"):
        feeds[name] = np.zeros(memory.shape[:2], np.float32)
    feeds.update({c.MEMORY: memory, c.PROCESSED_MEMORY: processed,
                  c.MEMORY_MASK: np.ones(memory.shape[:2], np.float32)})
    outputs = [o.name for o in step.get_outputs()]
    frames, gates = [], []
    for mask in masks:
        feeds[c.PRENET_DROPOUT] = mask
        result = dict(zip(outputs, step.run(outputs, feeds), strict=True))
        frames.append(result[c.FRAME])
        gates.append(result[c.GATE_LOGIT])
        feeds[c.PREVIOUS_FRAME] = result[c.FRAME]
        feeds.update({name: result[c.next_state(name)] for name in c.STEP_STATE})
        if 1 / (1 + np.exp(-gates[-1].item())) > gate_threshold:
            break
    mel = np.stack(frames, axis=2)
    return mel, graphs["postnet"].run(None, {c.MEL: mel})[0], np.concatenate(gates, axis=1)


def test_step_graph_looped_in_numpy_matches_the_torch_reference(model, graphs):
    ids, masks = _ids(13), _masks(model, MAX_STEPS)
    mel, mel_postnet, gates = _onnx_loop(graphs, ids, masks, model.config.gate_threshold)
    ref_mel, ref_postnet, ref_gates = model.infer(torch.from_numpy(ids), torch.from_numpy(masks))
    assert mel.shape == ref_mel.shape == (1, 80, MAX_STEPS)  # the gate never fires: the cap ends the loop
    np.testing.assert_allclose(mel, ref_mel.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(mel_postnet, ref_postnet.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(gates, ref_gates.numpy(), rtol=0, atol=1e-4)
    # The masks matter: other masks, other frames.
    other, _, _ = _onnx_loop(graphs, ids, _masks(model, MAX_STEPS, seed=1), model.config.gate_threshold)
    assert np.abs(other - mel).max() > 0.1


def test_gate_variant_stops_after_a_known_frame_whatever_the_input():
    model = tiny_tacotron2(stop="gate")
    for n, seed in ((4, 0), (19, 1), (9, 2)):
        mel, _, gates = model.infer(torch.from_numpy(_ids(n, seed)), torch.from_numpy(_masks(model, MAX_STEPS, seed)))
        probs = torch.sigmoid(gates)[0]
        assert mel.shape[2] == GATE_STEP and probs[-1] > 0.9 and probs[:-1].max() < 0.1
    _, _, gates = tiny_tacotron2(stop="cap").infer(torch.from_numpy(_ids(9)), torch.from_numpy(_masks(model, 40)))
    assert gates.shape[1] == MAX_STEPS and torch.sigmoid(gates).max() < 1e-6


# --- DLE HiFi-GAN ---------------------------------------------------------------------------------------


def test_dle_hifigan_round_trip_in_dle_layouts():
    generator = tiny_dle_hifigan()
    ckpt = dle_hifigan_checkpoint(generator)
    assert "resblocks.1.0.convs1.0.weight_g" in ckpt["generator"] and "conv_post.bias" in ckpt["generator"]
    flat = {k.replace("resblocks.1.0.", "resblocks.2."): v for k, v in ckpt["generator"].items()}  # older layout
    squeezed = {k: v.reshape(-1, 1) if k.endswith("weight_g") else v for k, v in ckpt["generator"].items()}
    for state in (ckpt["generator"], flat, squeezed, {f"module.{k}": v for k, v in ckpt["generator"].items()}):
        loaded, config, setup = load_dle_hifigan({**ckpt, "generator": state})
        assert config.hop_length == 256 and setup["sampling_rate"] == 22050
        for key, value in generator.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_dle_hifigan_errors():
    ckpt = dle_hifigan_checkpoint(tiny_dle_hifigan())
    bad = copy.deepcopy(ckpt)
    bad["generator"]["extra.weight"] = torch.zeros(1)
    with pytest.raises(UnknownTensorError, match="extra.weight"):
        load_dle_hifigan(bad)
    bad = copy.deepcopy(ckpt)
    del bad["generator"]["conv_post.bias"]
    with pytest.raises(MissingTensorError, match="conv_post.bias"):
        load_dle_hifigan(bad)
    with pytest.raises(UnsupportedConfigError, match="unknown DLE HiFi-GAN"):
        load_dle_hifigan({**ckpt, "config": {**TINY_HIFIGAN_CONFIG, "pre_linear": 4}})
    with pytest.raises(UnsupportedConfigError, match="sampling_rate"):
        load_dle_hifigan({**ckpt, "train_setup": {**ckpt["train_setup"], "sampling_rate": 24000}},
                         mel={"sampling_rate": 22050})
    with pytest.raises(ModelImportError, match="discriminator"):
        load_dle_hifigan({"mpd": {}, "msd": {}, "epoch": 3})


def test_dle_hifigan_vocoder_graph_matches_torch(tmp_path):
    generator = tiny_dle_hifigan()
    spec = dle_hifigan_vocoder_spec(generator, 80)
    assert export_graph(spec, tmp_path / "vocoder.onnx") <= spec.atol
    assert [t.name for t in spec.inputs] == [c.LATENT] and [t.name for t in spec.outputs] == [c.AUDIO]
    assert generator(torch.randn(1, 80, 7)).shape == (1, 1, 7 * 256)


# --- bundle and command line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hifigan_bundle(tmp_path_factory):
    return tiny_tacotron2_bundle(tmp_path_factory.mktemp("tacotron2_bundle"), "hifigan", stop="gate")


def test_bundle_manifest_says_how_to_run_the_loop(hifigan_bundle):
    from voxport.bundle import Bundle, sha256_file

    m = Bundle.load(hifigan_bundle, verify=True).manifest
    assert m.family == "tacotron2" and family_of(m).stages == ("encoder", "decoder_step", "postnet", "vocoder")
    assert list(m.graphs) == ["encoder", "decoder_step", "postnet", "vocoder"]
    assert (m.sample_rate, m.hop_length, m.n_vocab) == (22050, 256, 148)
    assert (m.decoder_loop.gate_threshold, m.decoder_loop.max_steps, m.decoder_loop.prenet_dropout) == (0.5, 40, 0.5)
    assert m.vocoder_noise is None  # HiFi-GAN draws nothing
    assert m.phonemizer == {"type": "tacotron2_text", "cleaners": "english_cleaners"}
    assert len(m.phoneme_id_map) == 148 and m.phoneme_id_map["_"] == [0] and m.phoneme_id_map[" "] == [11]
    assert m.phoneme_id_map["A"] == [12] and m.phoneme_id_map["@AA"] == [64] and m.phoneme_id_map["@ZH"] == [147]
    assert (m.mel.n_fft, m.mel.win_length, m.mel.n_mels, m.mel.fmin, m.mel.fmax) == (1024, 1024, 80, 0.0, 8000.0)
    assert (m.mel.log_base, m.mel.spec_gain, m.mel.normalization.kind) == (math.e, 1.0, "none")
    checkpoint = hifigan_bundle.parent / "tacotron2.pt"
    assert m.source["kind"] == "nvidia-dle" and m.source["sha256"] == sha256_file(checkpoint)
    assert m.extra["vocoder"]["kind"] == "hifigan" and m.extra["model_config"]["attention_dim"] == 8
    step = m.graphs["decoder_step"]
    assert [t.name for t in step.inputs] == list(c.AUTOREGRESSIVE_CONTRACTS["decoder_step"].inputs)
    assert all(diff < 1e-3 for diff in m.extra["max_abs_diff_vs_torch"].values())


def test_bundle_without_a_vocoder_speaks_through_griffin_lim(tmp_path):
    from voxport.bundle import Bundle

    m = Bundle.load(tiny_tacotron2_bundle(tmp_path, None), verify=True).manifest
    assert list(m.graphs) == ["encoder", "decoder_step", "postnet"] and m.mel is not None
    assert m.extra["vocoder"] == {"kind": "griffin-lim"}


def test_waveglow_bundle_carries_its_noise(tmp_path):
    pytest.importorskip("support.tiny_waveglow", reason="helper T2's tiny WaveGlow checkpoints have not landed")
    from voxport.bundle import Bundle

    m = Bundle.load(tiny_tacotron2_bundle(tmp_path, "waveglow"), verify=True).manifest
    assert m.vocoder_noise is not None and m.extra["vocoder"]["kind"] == "waveglow"
    assert {t.name for t in m.graphs["vocoder"].inputs} == {c.LATENT, c.Z, c.DENOISER_STRENGTH}


def test_cli_builds_a_tacotron2_bundle(hifigan_bundle, tmp_path, capsys):
    from voxport.bundle import Bundle
    from voxport.cli import main

    ckpt, hifigan = hifigan_bundle.parent / "tacotron2.pt", hifigan_bundle.parent / "hifigan_gen.pt"
    out = tmp_path / "cli"
    assert main(["build", "--tacotron2", str(ckpt), "--hifigan", str(hifigan), "-o", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert Bundle.load(out, verify=True).manifest.family == "tacotron2"


@pytest.mark.parametrize(("args", "status", "message"), [
    (["--tacotron2", "{dir}/nope.pt", "-o", "{dir}/o"], 2, "no such file"),
    (["--tacotron2", "{ckpt}", "--hifigan", "{hifigan}", "--waveglow", "{hifigan}", "-o", "{dir}/o"], 2, "not both"),
    (["--tacotron2", "{ckpt}"], 2, "-o BUNDLE_DIR is required"),
    (["--hifigan", "{hifigan}", "-o", "{dir}/o"], 2, "--hifigan goes with --tacotron2"),
    (["--tacotron2", "{hifigan}", "-o", "{dir}/o"], 1, "not a Tacotron2 checkpoint"),
    (["--tacotron2", "{ckpt}", "--hifigan", "{ckpt}", "-o", "{dir}/o"], 1, "HiFi-GAN"),
])
def test_cli_build_errors_are_one_line(hifigan_bundle, tmp_path, capsys, args, status, message):
    from voxport.cli import main

    paths = {"dir": tmp_path, "ckpt": hifigan_bundle.parent / "tacotron2.pt",
             "hifigan": hifigan_bundle.parent / "hifigan_gen.pt"}
    assert main(["build", *(a.format(**paths) for a in args), "--quiet"]) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
