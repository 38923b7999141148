"""Tiny random-weight NVIDIA DeepLearningExamples checkpoints (Tacotron2, DLE HiFi-GAN) and bundles built
from them, for fast tests. Nothing here is speech.

Checkpoints are laid out as DLE saves them: Tacotron2 as `{"state_dict", "config", "epoch", "optimizer"}`
(keys optionally prefixed `module.` as DistributedDataParallel leaves them) or a bare state dict; the
HiFi-GAN generator as `{"generator", "gen_ema", "config", "train_setup", "train_state"}`, weight norm as
`weight_g`/`weight_v` and residual blocks grouped per upsampling stage (`resblocks.{stage}.{kernel}`).

How the decoder loop ends: random weights never learn to stop, so every tiny model ends the loop in a
known, deterministic way, chosen with `stop`:

- "cap" (default): the stop gate's bias is -30, so sigmoid(gate) stays below 1e-6 whatever the input, and
  the manifest's step cap (`max_decoder_steps`, MAX_STEPS = 40) ends every utterance at exactly 40 frames
  (the SDK warns that the cap was hit).
- "gate": unit 0 of the decoder LSTM is made a counter — its input and recurrent weights zeroed, its
  input, forget and output gates saturated (bias 30) and its candidate fixed at 0.1 — so its output after
  step t is tanh(0.1 t), whatever the text and the prenet masks. The stop gate reads only that unit
  (weight 100, bias -73.9): its logit is -2.3 after step 9 and +2.3 after step GATE_STEP = 10, so every
  utterance stops after exactly 10 frames, the 10th kept. The margin (2.3 in logits) holds in fp16/bf16.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from voxport.export.hifigan import build_generator
from voxport.export.tacotron2.config import Tacotron2Config
from voxport.export.tacotron2.hifigan_dle import hifigan_config
from voxport.export.tacotron2.model import Tacotron2

MAX_STEPS = 40
GATE_STEP = 10
N_MEL = 80  # NVIDIA's mel, so the bundle's mel parameters and the HiFi-GAN's 80 input channels fit

# DLE's saved config: its Tacotron2 keyword arguments, at tiny sizes.
TINY_CONFIG: dict[str, Any] = {
    "mask_padding": False, "n_mel_channels": N_MEL, "n_symbols": 148, "symbols_embedding_dim": 16,
    "encoder_kernel_size": 5, "encoder_n_convolutions": 3, "encoder_embedding_dim": 16,
    "attention_rnn_dim": 32, "attention_dim": 8, "attention_location_n_filters": 4,
    "attention_location_kernel_size": 7, "n_frames_per_step": 1, "decoder_rnn_dim": 32, "prenet_dim": 16,
    "max_decoder_steps": MAX_STEPS, "gate_threshold": 0.5, "p_attention_dropout": 0.1, "p_decoder_dropout": 0.1,
    "postnet_embedding_dim": 16, "postnet_kernel_size": 5, "postnet_n_convolutions": 3,
    "decoder_no_early_stopping": False,
}
# DLE HiFi-GAN's saved generator config: upsampling 8 * 8 * 4 = NVIDIA's hop of 256.
TINY_HIFIGAN_CONFIG: dict[str, Any] = {
    "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8], "upsample_initial_channel": 16,
    "resblock": "1", "resblock_kernel_sizes": [3, 5], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
}
DLE_TRAIN_SETUP: dict[str, Any] = {
    "segment_size": 8192, "filter_length": 1024, "num_mels": N_MEL, "hop_length": 256, "win_length": 1024,
    "sampling_rate": 22050, "mel_fmin": 0.0, "mel_fmax": 8000.0, "mel_fmax_loss": None, "max_wav_value": 32768.0,
    "seed": 1234, "base_lr": 0.0003, "lr_decay": 0.9998, "epochs_all": 6500,
}

_SATURATED = 30.0  # sigmoid(30) is 1.0 in fp32
_COUNT_STEP = 0.1
_GATE_WEIGHT = 100.0


def tiny_tacotron2(config: dict[str, Any] | None = None, *, stop: str = "cap", seed: int = 0) -> Tacotron2:
    """A Tacotron2 with random weights whose loop ends as `stop` says (see the module docstring)."""
    torch.manual_seed(seed)
    return make_testable(Tacotron2(Tacotron2Config.from_nvidia(config or TINY_CONFIG, {})).eval(), stop)


def make_testable(model: torch.nn.Module, stop: str = "cap") -> torch.nn.Module:
    """Random weights made to exercise the whole model and to stop as `stop` says (module docstring).
    Works on any module with NVIDIA's attribute names: voxport's Tacotron2 or NVIDIA's own class."""
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            bn.running_mean.normal_(0.0, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.1)
        # At torch's default initialization the frames hardly depend on the prenet: two draws of the
        # dropout masks move them by 0.004. Scaled up, the masks and the fed-back frame matter (0.26).
        for layer in model.decoder.prenet.layers:
            layer.linear_layer.weight.mul_(3.0)
        model.decoder.attention_rnn.weight_ih.mul_(2.0)
        model.decoder.linear_projection.linear_layer.weight.mul_(4.0)
        gate = model.decoder.gate_layer.linear_layer
        if stop == "cap":
            gate.bias.fill_(-_SATURATED)
        elif stop == "gate":
            _make_counter(model)
        else:
            raise ValueError(f"stop must be 'cap' or 'gate', got {stop!r}")
    return model


def _make_counter(model: Tacotron2) -> None:
    rnn = model.decoder.decoder_rnn
    h = rnn.hidden_size
    rows = [0, h, 2 * h, 3 * h]  # unit 0's input, forget, candidate and output gates
    rnn.weight_ih[rows] = 0.0
    rnn.weight_hh[rows] = 0.0
    rnn.bias_hh[rows] = 0.0
    rnn.bias_ih[rows] = torch.tensor([_SATURATED, _SATURATED, math.atanh(_COUNT_STEP), _SATURATED])
    # Fire between tanh(0.1 * 9) and tanh(0.1 * 10): at their midpoint.
    threshold = (math.tanh(_COUNT_STEP * (GATE_STEP - 1)) + math.tanh(_COUNT_STEP * GATE_STEP)) / 2
    gate = model.decoder.gate_layer.linear_layer
    gate.weight.zero_()
    gate.weight[0, 0] = _GATE_WEIGHT
    gate.bias.fill_(-_GATE_WEIGHT * threshold)


def _prefixed(state: dict[str, torch.Tensor], ddp: bool) -> dict[str, torch.Tensor]:
    return {("module." if ddp else "") + k: v.clone() for k, v in state.items()}


def nvidia_checkpoint(model: Tacotron2, config: dict[str, Any] | None = None, *, ddp: bool = False
                      ) -> dict[str, Any]:
    """What DLE's train.py saves (optimizer state abridged)."""
    return {"epoch": 3, "config": dict(config or TINY_CONFIG), "state_dict": _prefixed(model.state_dict(), ddp),
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0]}]},
            "random_rng_states_all": torch.zeros(1, 8, dtype=torch.uint8)}


def bare_state_dict(model: Tacotron2, *, ddp: bool = False) -> dict[str, torch.Tensor]:
    return _prefixed(model.state_dict(), ddp)


def tiny_dle_hifigan(config: dict[str, Any] | None = None, seed: int = 0) -> torch.nn.Module:
    """voxport's HiFi-GAN generator at DLE's tiny config, random weights (the reference for the import)."""
    torch.manual_seed(seed)
    return build_generator(hifigan_config(config or TINY_HIFIGAN_CONFIG, N_MEL)).eval()


def dle_hifigan_checkpoint(generator: torch.nn.Module, config: dict[str, Any] | None = None,
                           train_setup: dict[str, Any] | None = None) -> dict[str, Any]:
    """DLE's generator checkpoint: weight norm (g, v) on every convolution, resblocks grouped per stage."""
    config = dict(config or TINY_HIFIGAN_CONFIG)
    n_kernels = len(config["resblock_kernel_sizes"])
    conv_types = (torch.nn.Conv1d, torch.nn.ConvTranspose1d)
    convs = {name for name, m in generator.named_modules() if isinstance(m, conv_types)}
    state: dict[str, torch.Tensor] = {}
    gen = torch.Generator().manual_seed(1)
    for key, value in generator.state_dict().items():
        module, _, leaf = key.rpartition(".")
        weight_normed = module in convs and leaf == "weight"
        if module.startswith("resblocks."):
            flat, rest = module[len("resblocks."):].split(".", 1)
            module = f"resblocks.{int(flat) // n_kernels}.{int(flat) % n_kernels}.{rest}"
        if weight_normed:
            # Any v with g = ||w|| folds back to w: scale v per output channel so the fold has work to do.
            scale = torch.rand(value.shape[0], *[1] * (value.dim() - 1), generator=gen) + 0.5
            state[f"{module}.weight_g"] = value.norm(dim=tuple(range(1, value.dim())), keepdim=True)
            state[f"{module}.weight_v"] = value * scale
        else:
            state[f"{module}.{leaf}"] = value.clone()
    return {"generator": state, "gen_ema": None, "config": config,
            "train_setup": dict(train_setup or DLE_TRAIN_SETUP), "train_state": {"epoch": 10, "iters_all": 500}}


def tiny_tacotron2_bundle(tmp_dir: str | Path, vocoder: str | None = None, *, stop: str = "cap",
                          seed: int = 0) -> Path:
    """A bundle built by `build_from_nvidia` from tiny DLE checkpoints written into `tmp_dir`:
    vocoder None (Griffin-Lim), "hifigan" (DLE HiFi-GAN) or "waveglow" (helper T2's tiny WaveGlow)."""
    from voxport.export.tacotron2.build import build_from_nvidia

    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    model = tiny_tacotron2(stop=stop, seed=seed)
    checkpoint = tmp_dir / "tacotron2.pt"
    torch.save(nvidia_checkpoint(model), checkpoint)
    vocoders: dict[str, Path] = {}
    if vocoder == "hifigan":
        vocoders["hifigan"] = tmp_dir / "hifigan_gen.pt"
        torch.save(dle_hifigan_checkpoint(tiny_dle_hifigan(seed=seed)), vocoders["hifigan"])
    elif vocoder == "waveglow":
        vocoders["waveglow"] = write_tiny_waveglow(tmp_dir / "waveglow.pt", seed=seed)
    elif vocoder is not None:
        raise ValueError(f"vocoder must be None, 'hifigan' or 'waveglow', got {vocoder!r}")
    return build_from_nvidia(checkpoint, tmp_dir / f"bundle-{vocoder or 'griffin-lim'}-{stop}",
                             name=f"tiny-tacotron2-{stop}", license="test-only", **vocoders)


def write_tiny_waveglow(path: Path, seed: int = 0) -> Path:
    """Helper T2's tiny WaveGlow (tests/support/tiny_waveglow.py) at N_MEL mel channels, saved as DLE saves it."""
    from dataclasses import replace

    from support import tiny_waveglow

    model = tiny_waveglow.tiny_waveglow(replace(tiny_waveglow.TINY, n_mel_channels=N_MEL), seed=seed)
    torch.save(tiny_waveglow.dle_checkpoint(model), path)
    return path
