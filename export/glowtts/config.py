"""Hyper-parameters of a Coqui TTS GlowTTS (inference part), read from Coqui's `config.json`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..coqui_config import audio_config
from ..errors import UnsupportedConfigError


@dataclass
class GlowTTSConfig:
    """Everything needed to build the inference modules; defaults are Coqui's GlowTTSConfig defaults."""

    n_vocab: int = 129
    hidden_channels_enc: int = 192
    hidden_channels_dec: int = 192
    hidden_channels_dp: int = 256
    out_channels: int = 80
    mean_only: bool = True
    use_encoder_prenet: bool = True
    # encoder_params of the relative-position Transformer
    encoder_kernel_size: int = 3
    encoder_num_layers: int = 6
    encoder_num_heads: int = 2
    encoder_hidden_channels_ffn: int = 768
    rel_attn_window_size: int | None = None
    input_length: int | None = None
    layer_norm_type: str = "1"
    # decoder (flows)
    num_flow_blocks_dec: int = 12
    kernel_size_dec: int = 5
    dilation_rate: int = 1
    num_block_layers: int = 4
    num_splits: int = 4
    num_squeeze: int = 2
    sigmoid_scale: bool = False
    # speakers: Coqui conditions on an embedding of hidden_channels_enc channels (`emb_g`)
    n_speakers: int = 1
    # inference defaults and audio framing
    inference_noise_scale: float = 0.0
    length_scale: float = 1.0
    sample_rate: int = 22050
    hop_length: int = 256

    @property
    def multi_speaker(self) -> bool:
        return self.n_speakers > 1

    @property
    def speaker_channels(self) -> int:
        """c_in_channels of Coqui's encoder/decoder: the speaker embedding's width, 0 for one speaker."""
        return self.hidden_channels_enc if self.multi_speaker else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_coqui(cls, config: Mapping[str, Any], n_vocab: int, n_speakers: int = 1) -> GlowTTSConfig:
        """From a parsed Coqui `config.json`; `n_vocab` and `n_speakers` come from the checkpoint's
        embedding shapes, which are authoritative (Coqui derives num_chars from its tokenizer)."""
        if config.get("model", "glow_tts") != "glow_tts":
            raise UnsupportedConfigError(f"not a GlowTTS config: model is {config.get('model')!r}")
        encoder_type = str(config.get("encoder_type", "rel_pos_transformer")).lower()
        if encoder_type != "rel_pos_transformer":
            raise UnsupportedConfigError(f"encoder_type {encoder_type!r}: only 'rel_pos_transformer' is supported")
        if config.get("use_d_vector_file"):
            raise UnsupportedConfigError("d-vector conditioning (use_d_vector_file) is not supported")
        params = dict(config.get("encoder_params") or {})
        unknown = sorted(set(params) - _ENCODER_PARAMS)
        if unknown:
            raise UnsupportedConfigError(f"unknown encoder_params {unknown}")
        audio = audio_config(config)
        if audio["hop_length"] is None:
            raise UnsupportedConfigError("audio.hop_length is not set (frame_shift_ms configs are not supported)")
        c = cls()
        return cls(
            n_vocab=int(n_vocab),
            hidden_channels_enc=int(config.get("hidden_channels_enc", c.hidden_channels_enc)),
            hidden_channels_dec=int(config.get("hidden_channels_dec", c.hidden_channels_dec)),
            hidden_channels_dp=int(config.get("hidden_channels_dp", c.hidden_channels_dp)),
            out_channels=int(config.get("out_channels", c.out_channels)),
            mean_only=bool(config.get("mean_only", c.mean_only)),
            use_encoder_prenet=bool(config.get("use_encoder_prenet", c.use_encoder_prenet)),
            encoder_kernel_size=int(params.get("kernel_size", c.encoder_kernel_size)),
            encoder_num_layers=int(params.get("num_layers", c.encoder_num_layers)),
            encoder_num_heads=int(params.get("num_heads", c.encoder_num_heads)),
            encoder_hidden_channels_ffn=int(params.get("hidden_channels_ffn", c.encoder_hidden_channels_ffn)),
            rel_attn_window_size=_optional_int(params.get("rel_attn_window_size")),
            input_length=_optional_int(params.get("input_length")),
            layer_norm_type=str(params.get("layer_norm_type", c.layer_norm_type)),
            num_flow_blocks_dec=int(config.get("num_flow_blocks_dec", c.num_flow_blocks_dec)),
            kernel_size_dec=int(config.get("kernel_size_dec", c.kernel_size_dec)),
            dilation_rate=int(config.get("dilation_rate", c.dilation_rate)),
            num_block_layers=int(config.get("num_block_layers", c.num_block_layers)),
            num_splits=int(config.get("num_splits", c.num_splits)),
            num_squeeze=int(config.get("num_squeeze", c.num_squeeze)),
            sigmoid_scale=bool(config.get("sigmoid_scale", c.sigmoid_scale)),
            n_speakers=int(n_speakers),
            inference_noise_scale=float(config.get("inference_noise_scale", c.inference_noise_scale)),
            length_scale=float(config.get("length_scale", c.length_scale)),
            sample_rate=int(audio["sample_rate"]),
            hop_length=int(audio["hop_length"]),
        )


# dropout_p only matters in training.
_ENCODER_PARAMS = {
    "kernel_size", "dropout_p", "num_layers", "num_heads", "hidden_channels_ffn", "rel_attn_window_size",
    "input_length", "layer_norm_type",
}


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
