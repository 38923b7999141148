"""WaveGlow (NVIDIA DLE layout): checkpoint import in every layout, the exported graph against torch and
against NVIDIA's inference recipe (z draw order, denoiser), audio length and windowed vocoding.

All models are tiny with random weights (tests/support/tiny_waveglow.py): 4 flows, early outputs every
2 flows, 3 WN layers of 16 channels, 16 mel channels; nothing here is speech.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="WaveGlow export needs the export extra (torch)")
onnx = pytest.importorskip("onnx", reason="WaveGlow export needs the export extra (onnx)")

from support.tiny_waveglow import (  # noqa: E402
    TINY,
    bare_state,
    dle_checkpoint,
    stacked_cond_layer,
    tiny_waveglow,
    write_pickled_model,
)
from torch.nn import functional as F  # noqa: E402

from voxport.bundle.contract import AUDIO, DENOISER_STRENGTH, LATENT, VOCODER, Z  # noqa: E402
from voxport.export.errors import (  # noqa: E402
    MissingTensorError,
    TensorShapeError,
    UnknownTensorError,
    UnsupportedConfigError,
)
from voxport.export.onnx_export import export_graph  # noqa: E402
from voxport.export.waveglow import (  # noqa: E402
    CheckpointFormatError,
    WaveGlowConfig,
    default_vocoder_noise,
    load_waveglow,
    reach_frames,
    waveglow_graph_spec,
    waveglow_infer,
    z_channel_layout,
)
from voxport.export.waveglow.denoiser import N_FFT, reflect_indices  # noqa: E402
from voxport.export.waveglow.reference import reference_bias_spectrum  # noqa: E402
from voxport.families.tacotron2.params import VocoderNoise  # noqa: E402

HOP, STEPS = 256, TINY.steps_per_frame
WINDOW_TOL = 1e-6  # float rounding of differently sized convolutions; the tiny model's audio peaks near 0.7


@pytest.fixture(scope="module")
def source():
    return tiny_waveglow()


@pytest.fixture(scope="module")
def vocoder(source):
    return load_waveglow(dle_checkpoint(source))


def inputs(frames: int, seed: int = 0, sigma: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(1, TINY.n_mel_channels, frames, generator=g) * 2.0 - 5.0
    z = sigma * torch.randn(1, TINY.z_channels, frames * STEPS, generator=g)
    return mel, z


def vocode(vocoder, mel, z, strength: float) -> torch.Tensor:
    with torch.no_grad():
        return vocoder(mel, z, torch.tensor([strength]))


# --------------------------------------------------------------------------- import


@pytest.mark.parametrize("layout", ["dle", "ddp", "bare", "stacked_cond_layer", "dle_file", "pickled",
                                    "pickled_legacy"])
def test_every_checkpoint_layout_imports_the_same_weights(layout, source, vocoder, tmp_path):
    if layout == "dle_file":
        torch.save(dle_checkpoint(source), tmp_path / "waveglow.pt")
    checkpoint = {
        "dle": lambda: dle_checkpoint(source),
        "ddp": lambda: dle_checkpoint(source, ddp=True),
        "bare": lambda: bare_state(source),
        "stacked_cond_layer": lambda: stacked_cond_layer(bare_state(source)),
        "dle_file": lambda: tmp_path / "waveglow.pt",
        "pickled": lambda: write_pickled_model(source, tmp_path / "p.pt"),
        "pickled_legacy": lambda: write_pickled_model(source, tmp_path / "pl.pt", legacy_format=True),
    }[layout]()
    loaded = load_waveglow(checkpoint)
    assert loaded.config == TINY
    # Weight norm folded back to the weights the checkpoint was made from.
    want = source.state_dict()
    for key, value in loaded.waveglow.state_dict().items():
        torch.testing.assert_close(value, want[key], rtol=1e-5, atol=1e-6, msg=key)
    mel, z = inputs(5)
    torch.testing.assert_close(vocode(loaded, mel, z, 0.3), vocode(vocoder, mel, z, 0.3), rtol=0, atol=1e-5)


def test_pickled_checkpoint_runs_no_code_from_the_file(source, tmp_path):
    """Classes and functions a pickle names are stand-ins: a call it asks for never happens."""
    marker = tmp_path / "created_by_the_pickle"

    class Payload:
        def __reduce__(self):
            return os.makedirs, (str(marker),)

    path = write_pickled_model(source, tmp_path / "with_payload.pt", extra={"payload": Payload()})
    assert load_waveglow(path).config == TINY
    assert not marker.exists()


def _dle_with(source, edit) -> dict:
    checkpoint = dle_checkpoint(source)
    edit(checkpoint["state_dict"], checkpoint["config"])
    return checkpoint


@pytest.mark.parametrize("edit, error, words", [
    (lambda s, c: s.update({"WN.0.extra.weight": torch.zeros(1)}), UnknownTensorError, "WN.0.extra.weight"),
    (lambda s, c: s.pop("WN.1.end.bias"), MissingTensorError, "WN.1.end.bias"),
    (lambda s, c: s.pop("WN.2.in_layers.0.weight_v"), MissingTensorError, "weight_v"),
    (lambda s, c: s.update({"upsample.weight": torch.zeros(16, 16, 512)}), TensorShapeError, "upsample.weight"),
    (lambda s, c: c["WN_config"].update(n_channels=32), TensorShapeError, "[32"),
    (lambda s, c: c.update(sigma=1.0), UnsupportedConfigError, "sigma"),
    (lambda s, c: c.update(n_group=7), UnsupportedConfigError, "n_group"),
    (lambda s, c: c.pop("n_flows"), UnsupportedConfigError, "n_flows"),
])
def test_bad_checkpoints_raise_typed_errors_naming_the_problem(source, edit, error, words):
    with pytest.raises(error, match=None) as caught:
        load_waveglow(_dle_with(source, edit))
    assert words in str(caught.value)


def test_bare_state_config_is_read_off_the_shapes(source):
    state = bare_state(source)
    state["convinv.3.conv.weight"] = torch.eye(4).unsqueeze(-1)  # 8, 8, 6, 4: no regular early schedule
    with pytest.raises(UnsupportedConfigError, match="early-output"):
        load_waveglow(state)
    assert WaveGlowConfig.from_dle(TINY.to_dle()) == TINY


def test_files_that_are_no_waveglow_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    torch.save({"epoch": 3, "config": TINY.to_dle()}, tmp_path / "no_weights.pt")
    with pytest.raises(CheckpointFormatError, match="could not be read as a torch checkpoint"):
        load_waveglow(tmp_path / "notes.txt")
    with pytest.raises(CheckpointFormatError, match="no WaveGlow weights"):
        load_waveglow(tmp_path / "no_weights.pt")
    with pytest.raises(CheckpointFormatError, match="no WaveGlow checkpoint at"):
        load_waveglow(tmp_path / "missing.pt")
    with open(tmp_path / "broken.pt", "wb") as f:  # a pickle the stand-ins cannot rebuild
        pickle.dump({"model": 1}, f, protocol=2)
        f.write(b"\x00garbage")
    with pytest.raises(CheckpointFormatError, match="convert it with NVIDIA's code"):
        load_waveglow(tmp_path / "broken.pt")


# --------------------------------------------------------------------------- graph


def test_graph_matches_torch_and_names_the_contract(vocoder, tmp_path):
    spec = waveglow_graph_spec(vocoder, TINY.n_mel_channels)
    assert spec.name == VOCODER
    assert [t.name for t in spec.inputs] == [LATENT, Z, DENOISER_STRENGTH]
    assert [t.name for t in spec.outputs] == [AUDIO]
    worst = export_graph(spec, tmp_path / "vocoder.onnx")  # raises past the spec's tolerance
    assert worst < 1e-4
    with pytest.raises(ValueError, match="n_mel"):
        waveglow_graph_spec(vocoder, 80)


def test_graph_audio_length_and_denoiser_off(vocoder, tmp_path):
    """F x 256 samples for any F (1 and 2 frames are shorter than NVIDIA's 512-sample reflect pad);
    strength 0 in the graph is WaveGlow without the denoiser."""
    import onnxruntime as ort

    path = tmp_path / "vocoder.onnx"
    export_graph(waveglow_graph_spec(vocoder, TINY.n_mel_channels), path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (1, 2, 3, 7):
        mel, z = inputs(frames, seed=frames)
        feeds = {LATENT: mel.numpy(), Z: z.numpy(), DENOISER_STRENGTH: np.zeros(1, np.float32)}
        (audio,) = session.run([AUDIO], feeds)
        assert audio.shape == (1, 1, frames * HOP)
        with torch.no_grad():
            plain = vocoder.waveglow.infer(mel, z).numpy()
        np.testing.assert_allclose(audio, plain, rtol=0, atol=1e-5)


def test_reduced_precision_polyphase_rewrite_keeps_the_graph_exact(vocoder, tmp_path):
    """bundle_writer's bf16/fp16 vocoder variant rewrites ConvTranspose with kernel = 2 x stride
    (HiFi-GAN) into a polyphase Conv. WaveGlow's three ConvTransposes (the mel upsampling: kernel
    4 x stride, its tail cut by a Slice; the denoiser's inverse STFT and window sum: pads of half the
    kernel) lie outside that rule today, so the rewrite leaves them; whatever it rewrites must keep
    the audio."""
    import onnxruntime as ort

    from voxport.calibration.rewrite import polyphase_upsampling

    path = tmp_path / "vocoder.onnx"
    export_graph(waveglow_graph_spec(vocoder, TINY.n_mel_channels), path)
    original = onnx.load(str(path))
    rewritten = polyphase_upsampling(original)
    assert sum(n.op_type == "ConvTranspose" for n in original.graph.node) == 3
    mel, z = inputs(9, seed=4)
    feeds = {LATENT: mel.numpy(), Z: z.numpy(), DENOISER_STRENGTH: np.array([0.5], np.float32)}
    outputs = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run([AUDIO], feeds)[0]
               for m in (original, rewritten)]
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- NVIDIA's recipe


def test_z_channels_are_consumed_in_nvidias_draw_order():
    """NVIDIA's infer draws sigma * randn inside its loop; the same generator used in the order of
    z_channel_layout gives a z for which the graph module reproduces that audio. Six flows with early
    outputs every two, so that z holds two re-insertions whose order matters."""
    config = replace(TINY, n_flows=6)
    vocoder = load_waveglow(dle_checkpoint(tiny_waveglow(config, seed=2)))
    sigma, frames = 0.7, 6
    mel, _ = inputs(frames)
    drawn_inside = waveglow_infer(vocoder, mel, sigma=sigma, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    layout = z_channel_layout(config)
    assert [(k, s.start, s.stop) for k, s in layout] == [(6, 0, 4), (4, 4, 6), (2, 6, 8)]
    parts = [sigma * torch.randn(1, s.stop - s.start, frames * STEPS, generator=g) for _, s in layout]
    torch.testing.assert_close(vocode(vocoder, mel, torch.cat(parts, 1), 0.0), drawn_inside, rtol=0, atol=1e-5)
    # The order matters: the re-insertions swapped give other audio.
    swapped = torch.cat([parts[0], parts[2], parts[1]], 1)
    assert (vocode(vocoder, mel, swapped, 0.0) - drawn_inside).abs().max() > 1e-2
    standard = z_channel_layout(WaveGlowConfig())
    assert [(k, s.start, s.stop) for k, s in standard] == [(12, 0, 4), (8, 4, 6), (4, 6, 8)]


def test_denoiser_off_is_bit_identical_to_plain_waveglow(vocoder):
    mel, z = inputs(9)
    with torch.no_grad():
        plain = vocoder.waveglow.infer(mel, z)
    assert torch.equal(vocode(vocoder, mel, z, 0.0), plain)
    torch.testing.assert_close(waveglow_infer(vocoder, mel, z, 0.0), plain, rtol=0, atol=1e-5)


@pytest.mark.parametrize("strength", [0.01, 0.5, 2.0])
def test_denoiser_matches_nvidias_stft_recipe(vocoder, strength):
    """Against torch.stft / istft with magnitude, atan2 phase and clamp, as NVIDIA's Denoiser does."""
    mel, z = inputs(12, seed=3)
    with torch.no_grad():
        plain = vocoder.waveglow.infer(mel, z)
    ours = vocode(vocoder, mel, z, strength)
    reference = waveglow_infer(vocoder, mel, z, strength)
    change = (reference - plain).abs().max().item()
    assert change > 1e-4  # the denoiser does something the comparison can see (audio peaks near 0.7)
    assert (ours - reference).abs().max().item() < max(1e-6, 1e-2 * change)


def test_bias_spectrum_is_nvidias(vocoder):
    """|STFT| of frame 0 of the audio for an all-zero 88-frame mel at sigma 0."""
    ours = vocoder.denoiser.bias_spectrum.flatten()
    assert ours.shape == (N_FFT // 2 + 1,)
    torch.testing.assert_close(ours, reference_bias_spectrum(vocoder), rtol=1e-4, atol=1e-4)


def test_stft_padding_reflects_like_nvidia(vocoder):
    """torch's reflect padding (NVIDIA's F.pad) where it applies; numpy's repeated reflection for
    signals shorter than the 512-sample pad, where torch would refuse."""
    pad = N_FFT // 2
    for n in (513, 768, 2304):
        x = torch.randn(1, 1, n)
        torch.testing.assert_close(x[..., reflect_indices(n, pad)], F.pad(x, (pad, pad), mode="reflect"))
    for n in (256, 512):
        x = np.random.default_rng(n).standard_normal(n)
        np.testing.assert_array_equal(x[reflect_indices(n, pad).numpy()], np.pad(x, pad, mode="reflect"))
    x = torch.randn(1, 1, 7 * HOP)
    spec = vocoder.denoiser.stft(x)
    window = torch.hann_window(N_FFT, periodic=True)
    expected = torch.stft(x[:, 0], N_FFT, 256, N_FFT, window, center=True, pad_mode="reflect",
                          return_complex=True)
    bins = N_FFT // 2 + 1
    torch.testing.assert_close(torch.complex(spec[:, :bins], spec[:, bins:]), expected, rtol=0, atol=1e-4)


# --------------------------------------------------------------------------- windows, defaults


def _window_error(vocoder, mel, z, whole, start, stop, left, right, strength) -> float:
    lo, hi = max(start - left, 0), min(stop + right, mel.shape[2])
    audio = vocode(vocoder, mel[:, :, lo:hi], z[:, :, lo * STEPS : hi * STEPS], strength)
    inner = audio[..., (start - lo) * HOP : (stop - lo) * HOP]
    return (inner - whole[..., start * HOP : stop * HOP]).abs().max().item()


@pytest.mark.parametrize("strength", [0.0, 0.5])
def test_windowed_vocoding_equals_the_utterance_within_the_reach(vocoder, strength):
    """A window of frames with `reach_frames` of context on each side gives the utterance's samples
    (its z a slice of the utterance's); without context it does not. The smallest margins that stay
    within WINDOW_TOL on this model are measured and must not exceed the reach."""
    frames, start, stop = 40, 16, 24
    mel, z = inputs(frames, seed=11)
    whole = vocode(vocoder, mel, z, strength)
    left, right = reach_frames(TINY, denoiser=strength > 0)
    assert _window_error(vocoder, mel, z, whole, start, stop, left, right, strength) < WINDOW_TOL
    assert _window_error(vocoder, mel, z, whole, start, stop, 0, 0, strength) > 1e-3

    def error(left_margin: int, right_margin: int) -> float:
        return _window_error(vocoder, mel, z, whole, start, stop, left_margin, right_margin, strength)

    # Smallest margins from which every larger one (up to the reach) stays within WINDOW_TOL.
    measured_left = next(m for m in range(left + 1) if all(error(k, right) < WINDOW_TOL for k in range(m, left + 1)))
    measured_right = next(m for m in range(right + 1) if all(error(left, k) < WINDOW_TOL for k in range(m, right + 1)))
    print(f"strength {strength}: margins needed (left, right) = ({measured_left}, {measured_right}) frames, "
          f"reach {left, right}")
    assert measured_left > 0  # the mel upsampling always looks back


def test_default_vocoder_noise_is_nvidias_inference_setting(vocoder):
    assert default_vocoder_noise(vocoder) == VocoderNoise(sigma=0.9, z_channels=8, steps_per_frame=32,
                                                          denoiser_strength=0.01)
    assert reach_frames(WaveGlowConfig()) == (103, 100)
