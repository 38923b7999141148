"""Tiny Coqui-layout GlowTTS and HiFi-GAN models for fast tests.

`coqui_config` / `hifigan_config` are config.json contents as Coqui TTS writes them; `coqui_checkpoint`
/ `hifigan_checkpoint` are state dicts laid out as Coqui saves them: under `model`, weight norm as
`parametrizations.weight.original0/1` on the coupling blocks' `start` conv, their WaveNet layers and
every HiFi-GAN convolution, the vocoder's generator under `model_g.` beside a discriminator.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voxport.export.glowtts.config import GlowTTSConfig
from voxport.export.glowtts.model import GlowTTS
from voxport.export.hifigan import HifiGanConfig, build_generator

PUNCTUATIONS = "!'(),-.:;? "
SAMPLE_RATE, HOP = 16000, 32


def phoneme_characters(piper_map: dict[str, list[int]]) -> str:
    """The single-codepoint phonemes of a Piper map: what voxport's espeak front-end emits."""
    return "".join(sorted(k for k in piper_map if len(k) == 1 and k not in "_^$" and k not in PUNCTUATIONS))


def audio(**overrides: Any) -> dict[str, Any]:
    base = {
        "fft_size": 128, "win_length": 128, "hop_length": HOP, "sample_rate": SAMPLE_RATE, "num_mels": 16,
        "mel_fmin": 0.0, "mel_fmax": 8000.0, "log_func": "np.log10", "spec_gain": 20, "power": 1.5,
        "griffin_lim_iters": 10, "stft_pad_mode": "reflect", "signal_norm": True, "symmetric_norm": True,
        "max_norm": 4.0, "min_level_db": -100, "ref_level_db": 20, "clip_norm": True, "stats_path": None,
        "preemphasis": 0.0, "do_amp_to_db_mel": True, "frame_shift_ms": None, "frame_length_ms": None,
        "resample": False, "do_trim_silence": False, "trim_db": 45, "do_sound_norm": False,
    }
    return {**base, **overrides}


def coqui_config(phonemes: str, **overrides: Any) -> dict[str, Any]:
    """A GlowTTS config.json; `overrides` may also set encoder_params keys and `audio`."""
    encoder_params = {"kernel_size": 3, "dropout_p": 0.1, "num_layers": 2, "num_heads": 2,
                      "hidden_channels_ffn": 32, "input_length": None, "rel_attn_window_size": 4}
    for key in list(overrides):
        if key in encoder_params or key == "layer_norm_type":
            encoder_params[key] = overrides.pop(key)
    config = {
        "model": "glow_tts", "num_chars": None, "use_encoder_prenet": True,
        "hidden_channels_enc": 16, "hidden_channels_dec": 16, "hidden_channels_dp": 16,
        "dropout_p_dp": 0.1, "dropout_p_dec": 0.05, "mean_only": False, "out_channels": 16,
        "num_flow_blocks_dec": 2, "kernel_size_dec": 5, "dilation_rate": 1, "num_block_layers": 2,
        "c_in_channels": 0, "num_splits": 4, "num_squeeze": 2, "sigmoid_scale": False,
        "encoder_type": "rel_pos_transformer", "encoder_params": encoder_params,
        "use_speaker_embedding": False, "num_speakers": 0, "use_d_vector_file": False, "d_vector_dim": 0,
        "inference_noise_scale": 0.667, "length_scale": 1.0, "data_dep_init_steps": 10,
        "use_phonemes": True, "phonemizer": "espeak", "phoneme_language": "en-us",
        "add_blank": True, "enable_eos_bos_chars": False, "text_cleaner": "phoneme_cleaners",
        "characters": {
            "characters_class": "TTS.tts.utils.text.characters.IPAPhonemes", "vocab_dict": None,
            "pad": "<PAD>", "eos": "<EOS>", "bos": "<BOS>", "blank": "<BLNK>", "characters": phonemes,
            "punctuations": PUNCTUATIONS, "phonemes": None, "is_unique": False, "is_sorted": True,
        },
        "audio": audio(),
    }
    config.update(overrides)
    return config


def n_vocab(config: dict[str, Any]) -> int:
    from voxport.export.glowtts.vocabulary import coqui_vocabulary

    return len(coqui_vocabulary(config["characters"]))


def tiny_glowtts(config: dict[str, Any], seed: int = 0) -> GlowTTS:
    """Random weights in speech-like ranges: 2-6 frames per phoneme, flows that neither vanish nor explode."""
    torch.manual_seed(seed)
    speakers = config["num_speakers"] if config["use_speaker_embedding"] else 1
    model = GlowTTS(GlowTTSConfig.from_coqui(config, n_vocab(config), speakers)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            # Fresh norms and ActNorms are ones/zeros; perturb them so that every parameter matters.
            if name.endswith((".gamma", ".beta")) or name.startswith("decoder.") and name.endswith((".logs", ".bias")):
                param.add_(0.1 * torch.randn_like(param))
        for flow in model.decoder.flows[2::3]:
            flow.end.weight.mul_(0.2)
        dp = model.encoder.duration_predictor
        dp.proj.weight.mul_(0.2)
        dp.proj.bias.fill_(1.4)  # exp(logw) - 1 is then about 3 frames
    return model


def _weight_norm(layers: list[nn.Module]) -> None:
    for layer in layers:
        torch.nn.utils.parametrizations.weight_norm(layer)


def coqui_checkpoint(model: GlowTTS, *, with_inverse: bool = False) -> dict[str, Any]:
    """What Coqui's trainer saves for this model."""
    trained = copy.deepcopy(model)
    for block in trained.decoder.flows[2::3]:
        wn = block.wn
        cond = [wn.cond_layer] if hasattr(wn, "cond_layer") else []
        _weight_norm([block.start, *wn.in_layers, *wn.res_skip_layers, *cond])
    state = dict(trained.state_dict())
    if with_inverse:  # a checkpoint saved after Coqui's store_inverse()
        for i, flow in enumerate(model.decoder.flows):
            if i % 3 == 1:
                state[f"decoder.flows.{i}.weight_inv"] = flow.inverse()
    return {"model": state, "config": {}, "step": 1000, "epoch": 3}


def hifigan_config(**audio_overrides: Any) -> dict[str, Any]:
    return {
        "model": "hifigan", "generator_model": "hifigan_generator", "discriminator_model": "hifigan_discriminator",
        "generator_model_params": {
            "upsample_factors": [4, 8], "upsample_kernel_sizes": [8, 16], "upsample_initial_channel": 32,
            "resblock_kernel_sizes": [3, 5], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
            "resblock_type": "1",
        },
        "audio": audio(**audio_overrides),
    }


def tiny_hifigan(config: dict[str, Any], seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_generator(HifiGanConfig.from_coqui(config)).eval()


def hifigan_checkpoint(generator: nn.Module) -> dict[str, Any]:
    """A Coqui GAN checkpoint: weight-normed generator under model_g., a discriminator under model_d."""
    trained = copy.deepcopy(generator)
    convs = [m for m in trained.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]
    _weight_norm(convs)
    state = {f"model_g.{k}": v for k, v in trained.state_dict().items()}
    state["model_d.discriminators.0.convs.0.weight"] = torch.zeros(4, 1, 5)
    return {"model": state, "step": 5000}


def write_model(directory: Path, config: dict[str, Any], checkpoint: dict[str, Any]) -> tuple[Path, Path]:
    """config.json + model.pth, as Coqui's trainer leaves them in a run directory."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path, model_path = directory / "config.json", directory / "model.pth"
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    torch.save(checkpoint, model_path)
    return config_path, model_path
