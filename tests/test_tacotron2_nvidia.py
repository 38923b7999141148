"""Against NVIDIA's own code: DeepLearningExamples' Tacotron2 and WaveGlow classes with random weights,
saved as DLE saves them, imported by `voxport build`, must come out of a voxport bundle as NVIDIA's
`Tacotron2.infer` + `WaveGlow.infer` + `Denoiser` give them, with the same prenet dropout masks and z.

Opt-in: NVIDIA's code is never copied into this repository. Point VOXPORT_NVIDIA_TACOTRON2 at a checkout of
DeepLearningExamples' `PyTorch/SpeechSynthesis/Tacotron2` directory; its imports need librosa and scipy
(README, "Tacotron2" has the recipe). Skipped otherwise, with that reason.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from support.needs_export import torch

NVIDIA_DIR = os.environ.get("VOXPORT_NVIDIA_TACOTRON2")
if not NVIDIA_DIR or not (Path(NVIDIA_DIR) / "tacotron2" / "model.py").exists():
    pytest.skip("VOXPORT_NVIDIA_TACOTRON2 does not point at DeepLearningExamples' PyTorch/SpeechSynthesis/"
                "Tacotron2 (opt-in; see README, Tacotron2)", allow_module_level=True)
sys.path.insert(0, NVIDIA_DIR)
nv_tacotron2 = pytest.importorskip("tacotron2.model", reason="NVIDIA's Tacotron2 does not import here")
nv_waveglow = pytest.importorskip("waveglow.model", reason="NVIDIA's WaveGlow does not import here")
nv_denoiser = pytest.importorskip("waveglow.denoiser", reason="NVIDIA's denoiser needs librosa and scipy")

from support.tiny_tacotron2 import GATE_STEP, make_testable  # noqa: E402

from voxport import Voice  # noqa: E402
from voxport.export.tacotron2.build import build_from_nvidia  # noqa: E402
from voxport.families.tacotron2.loop import CAP, GATE, DecoderStepCapWarning  # noqa: E402
from voxport.families.tacotron2.noise import SeededDecoderNoise  # noqa: E402

# DLE's default Tacotron2 (28 M parameters) and a WaveGlow of DLE's layout at 256 WN channels (DLE also
# trains 512; 256 keeps the bias-spectrum computation at import short on 2 cores).
TACOTRON2_CONFIG = {
    "mask_padding": False, "n_mel_channels": 80, "n_symbols": 148, "symbols_embedding_dim": 512,
    "encoder_kernel_size": 5, "encoder_n_convolutions": 3, "encoder_embedding_dim": 512,
    "attention_rnn_dim": 1024, "attention_dim": 128, "attention_location_n_filters": 32,
    "attention_location_kernel_size": 31, "n_frames_per_step": 1, "decoder_rnn_dim": 1024, "prenet_dim": 256,
    "max_decoder_steps": 2000, "gate_threshold": 0.5, "p_attention_dropout": 0.1, "p_decoder_dropout": 0.1,
    "postnet_embedding_dim": 512, "postnet_kernel_size": 5, "postnet_n_convolutions": 5,
    "decoder_no_early_stopping": False,
}
WAVEGLOW_CONFIG = {"n_mel_channels": 80, "n_flows": 12, "n_group": 8, "n_early_every": 4, "n_early_size": 2,
                   "WN_config": {"n_layers": 8, "n_channels": 256, "kernel_size": 3}}
TEXT = "Printing, in the only sense with which we are at present concerned."
SEED = 11
CAP_STEPS = 120  # the "cap" model's gate never fires: both loops run to max_decoder_steps, attention moving all along


def nvidia_models(stop: str):
    torch.manual_seed(0)
    tacotron2 = make_testable(nv_tacotron2.Tacotron2(**config(stop)).eval(), stop=stop)
    waveglow = nv_waveglow.WaveGlow(**WAVEGLOW_CONFIG).eval()
    with torch.no_grad():
        for wn in waveglow.WN:  # DLE zero-initialises `end`, which would make every coupling the identity
            wn.end.weight.normal_(0.0, 0.01)
            wn.end.bias.normal_(0.0, 0.05)
    return tacotron2, waveglow


def config(stop: str) -> dict:
    return {**TACOTRON2_CONFIG, "max_decoder_steps": CAP_STEPS} if stop == "cap" else TACOTRON2_CONFIG


@pytest.fixture(scope="module", params=["gate", "cap"])
def built(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("nvidia")
    tacotron2, waveglow = nvidia_models(request.param)
    # As DLE's train.py saves them: DistributedDataParallel's `module.` prefix, config beside the weights.
    torch.save({"epoch": 1, "config": config(request.param),
                "state_dict": {f"module.{k}": v for k, v in tacotron2.state_dict().items()}},
               folder / "tacotron2.pt")
    torch.save({"epoch": 1, "config": WAVEGLOW_CONFIG, "state_dict": waveglow.state_dict()}, folder / "waveglow.pt")
    bundle = build_from_nvidia(folder / "tacotron2.pt", folder / "bundle", waveglow=folder / "waveglow.pt")
    return bundle, tacotron2, waveglow, request.param


@contextmanager
def prenet_masks(masks: np.ndarray):
    """NVIDIA's prenet calls F.dropout(..., p=0.5, training=True) per layer per step: feed ours instead."""
    original = torch.nn.functional.dropout
    flat = iter(torch.from_numpy(masks).reshape(-1, masks.shape[-1]))

    def dropout(x, p=0.5, training=True, inplace=False):
        return x * next(flat) if training else original(x, p, training, inplace)

    torch.nn.functional.dropout = dropout
    try:
        yield
    finally:
        torch.nn.functional.dropout = original


@contextmanager
def waveglow_draws(z: np.ndarray, sigma: float):
    """NVIDIA's WaveGlow.infer draws torch.randn(...) * sigma: the initial channels, then each early
    re-insertion's. Hand it voxport's z (already times sigma) in that order, as unit-scale draws."""
    original = torch.randn
    pieces = iter(torch.from_numpy(z / np.float32(sigma)).split((4, 2, 2), dim=1))

    def randn(*shape, **kw):
        piece = next(pieces)
        assert tuple(piece.shape) == tuple(shape), (piece.shape, shape)
        return piece.clone()

    torch.randn = randn
    try:
        yield
    finally:
        torch.randn = original


def test_voxport_reproduces_nvidia_inference_with_the_same_masks_and_z(built, record_property):
    bundle, tacotron2, waveglow, stop = built
    with Voice.load(bundle, threads=2) as voice, warnings.catch_warnings():
        warnings.simplefilter("ignore", DecoderStepCapWarning)
        ids = next(voice.frontend.text_to_ids(TEXT))[2]
        utterance = voice.pipeline.decoder_run(ids, SeededDecoderNoise(SEED).next_utterance()).finish()
        latent = voice.pipeline.decode(utterance)
        audio = voice.pipeline.vocode(utterance, latent)
        assert np.array_equal(voice.synthesize(TEXT, seed=SEED), audio)  # the same path as Voice
        noise = voice.manifest.vocoder_noise
    assert (utterance.n_frames, utterance.stopped_by) == ((GATE_STEP, GATE) if stop == "gate" else (CAP_STEPS, CAP))

    denoiser = nv_denoiser.Denoiser(waveglow).eval()  # before the patched randn: it runs WaveGlow itself
    with torch.no_grad():
        with prenet_masks(utterance.prenet_masks):
            mel_postnet, mel_lengths, _ = tacotron2.infer(torch.tensor([ids]), torch.tensor([len(ids)]))
        with waveglow_draws(utterance.z, noise.sigma):
            raw = waveglow.infer(mel_postnet, sigma=noise.sigma)
        reference = denoiser(raw, strength=noise.denoiser_strength)[:, 0]

    mel_diff = float(np.max(np.abs(latent - mel_postnet.numpy())))
    audio_diff = float(np.max(np.abs(audio - reference[0].numpy()[: audio.size])))
    peak = float(np.max(np.abs(audio)))
    record_property("mel_max_abs_diff", mel_diff)
    record_property("audio_max_abs_diff", audio_diff)
    print(f"\nNVIDIA vs voxport ({stop}): {utterance.n_frames} frames, mel max |diff| {mel_diff:.2e} "
          f"(mel peak {float(np.max(np.abs(latent))):.2f}), audio max |diff| {audio_diff:.2e} (peak {peak:.3f})")
    # NVIDIA counts frames before the gate fired (its written audio is one frame shorter); the mel includes it.
    assert mel_postnet.shape[2] == utterance.n_frames
    assert int(mel_lengths[0]) == utterance.n_frames - (stop == "gate")
    assert reference.shape[1] >= audio.size == utterance.n_frames * 256
    assert mel_diff <= 1e-3
    assert audio_diff <= 1e-3 * max(1.0, peak)
