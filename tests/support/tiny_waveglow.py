"""Tiny random-weight WaveGlow checkpoints laid out as NVIDIA's code saves them.

Parameter names are DeepLearningExamples' (waveglow/model.py); weight norm is on as during training
(`weight_g` / `weight_v` from torch.nn.utils.weight_norm on every WN convolution but `end`). Layouts:
  * `dle_checkpoint`: DLE train.py's dict (`state_dict` + `config` + epoch, optimizer, rng states),
    optionally with DistributedDataParallel's `module.` prefix;
  * `bare_state`: the state dict alone;
  * `write_pickled_model`: NVIDIA/waveglow's `{'model': <glow.WaveGlow>, ...}`, pickled through stand-in
    classes named like NVIDIA's (`glow.WaveGlow`, `glow.WN`, `glow.Invertible1x1Conv`) that exist only
    while saving, so loading proves voxport needs no NVIDIA class;
  * `stacked_cond_layer`: the newer NVIDIA/waveglow WN, whose layers share one `cond_layer`.
Random weights are not a voice: nothing made from them is speech.
"""

from __future__ import annotations

import copy
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voxport.export.waveglow.config import WaveGlowConfig
from voxport.export.waveglow.model import WaveGlow

TINY = WaveGlowConfig(n_mel_channels=16, n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=3,
                      n_channels=16, kernel_size=3)


def tiny_waveglow(config: WaveGlowConfig = TINY, seed: int = 0) -> WaveGlow:
    """Random weights in ranges where the inverse neither vanishes nor explodes (|log s| well below 1);
    for a log-mel-like input (about N(-5, 2)) and z at sigma 0.9 the audio's std is about 0.1."""
    torch.manual_seed(seed)
    model = WaveGlow(config).eval()
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.mul_(0.3)  # DLE zero-initialises `end`; a trained one is small
            wn.end.bias.normal_(0.0, 0.05)
        for conv in model.convinv:
            c = conv.conv.weight.shape[0]
            q, _ = torch.linalg.qr(torch.randn(c, c))
            if torch.det(q) < 0:
                q[:, 0] = -q[:, 0]
            # Not orthonormal, so that the inverse is not just the transpose.
            conv.conv.weight.copy_((q + 0.2 * torch.randn(c, c)).unsqueeze(-1))
        # The last inverse every sample passes through: scaled so that audio stays within about +-1.
        model.convinv[0].conv.weight.mul_(16.0)
    model.store_inverse()
    return model


def _weight_normed(model: WaveGlow) -> WaveGlow:
    trained = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.nn.utils.weight_norm is deprecated; DLE saved with it
        for wn in trained.WN:
            for conv in (wn.start, *wn.in_layers, *wn.cond_layers, *wn.res_skip_layers):
                torch.nn.utils.weight_norm(conv)
    return trained


def bare_state(model: WaveGlow) -> dict[str, torch.Tensor]:
    return dict(_weight_normed(model).state_dict())


def dle_checkpoint(model: WaveGlow, *, ddp: bool = False) -> dict[str, Any]:
    """What DLE's train.py save_checkpoint writes for WaveGlow."""
    state = bare_state(model)
    if ddp:
        state = {f"module.{k}": v for k, v in state.items()}
    return {
        "epoch": 1000,
        "cuda_rng_state_all": torch.zeros(1, 16, dtype=torch.uint8),
        "random_rng_states_all": torch.zeros(1, 16, dtype=torch.uint8),
        "config": model.config.to_dle(),
        "state_dict": state,
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "scaler": {"scale": 65536.0, "growth_factor": 2.0},
    }


def stacked_cond_layer(state: dict[str, torch.Tensor], config: WaveGlowConfig = TINY) -> dict[str, torch.Tensor]:
    """The newer NVIDIA/waveglow layout: each WN's per-layer condition convolutions as one
    `cond_layer` (weight-normed as a whole, so the folded weight equals the stacked folded weights)."""
    out = {k: v for k, v in state.items() if ".cond_layers." not in k}
    for k in range(config.n_flows):
        weights = [_folded(state, f"WN.{k}.cond_layers.{i}") for i in range(config.n_layers)]
        stacked = torch.cat(weights, 0)
        norm = stacked.norm(dim=(1, 2), keepdim=True)
        out[f"WN.{k}.cond_layer.weight_g"] = norm
        out[f"WN.{k}.cond_layer.weight_v"] = stacked / norm * 3.0  # v's scale is free: only its direction counts
        out[f"WN.{k}.cond_layer.bias"] = torch.cat(
            [state[f"WN.{k}.cond_layers.{i}.bias"] for i in range(config.n_layers)], 0)
    return out


def _folded(state: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    g, v = state[f"{prefix}.weight_g"], state[f"{prefix}.weight_v"]
    return g * v / v.norm(dim=(1, 2), keepdim=True)


def write_pickled_model(model: WaveGlow, path: Path, *, legacy_format: bool = False,
                        extra: dict[str, Any] | None = None) -> Path:
    """`{'model': <glow.WaveGlow object>, 'iteration': ..., 'optimizer': ..., 'learning_rate': ...}` as
    NVIDIA/waveglow's train.py saves it, with a stale `W_inverse` attribute as inference leaves it;
    `extra` entries are pickled beside them."""
    trained = _weight_normed(model)
    glow = types.ModuleType("glow")
    stand_ins = {kind: type(kind, (nn.Module,), {"__module__": "glow"})
                 for kind in ("WaveGlow", "WN", "Invertible1x1Conv")}
    for kind, cls in stand_ins.items():
        setattr(glow, kind, cls)
    for module in trained.modules():
        kind = type(module).__name__
        if kind == "Invertible1x1Conv":  # NVIDIA's class keeps no inverse buffer; inference sets an attribute
            del module._buffers["weight_inverse"]
            module._non_persistent_buffers_set.discard("weight_inverse")
            module.__dict__["W_inverse"] = torch.eye(module.conv.weight.shape[0]).unsqueeze(-1)
        if kind in stand_ins:
            module.__class__ = stand_ins[kind]
    trained.__dict__.pop("config", None)
    sys.modules["glow"] = glow
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy format's notice that the stand-ins have no source file
            checkpoint = {"model": trained, "iteration": 580000, "optimizer": None, "learning_rate": 1e-4}
            torch.save({**checkpoint, **(extra or {})}, str(path), _use_new_zipfile_serialization=not legacy_format)
    finally:
        del sys.modules["glow"]
    return path
