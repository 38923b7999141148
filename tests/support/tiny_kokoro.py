"""A Kokoro-shaped model small enough for the fast tests: every module of Kokoro-82M, narrow and shallow.
Its weights are random: it checks plumbing and numerics, never how speech sounds."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

# Punctuation, space and the IPA espeak-ng gives for English, one id each (pad 0), as Kokoro's 178-symbol
# vocab maps them.
SYMBOLS = ';:,.!?—…"()“” ' + "abdefhijklmnopstuvwzæðŋɐɑɔəɚɛɜɡɪɹɾʃʊʌʒʔˈˌːᵻθʧʤ"
TINY_VOCAB = {s: i for i, s in enumerate(SYMBOLS, start=1)}

TINY_CONFIG: dict[str, Any] = {
    "vocab": TINY_VOCAB,
    "n_token": 64,
    "hidden_dim": 16,
    "style_dim": 8,
    "n_layer": 2,
    "max_dur": 12,
    "dropout": 0.2,
    "n_mels": 80,
    "text_encoder_kernel_size": 5,
    "plbert": {"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32,
               "max_position_embeddings": 64, "num_hidden_layers": 2, "dropout": 0.1, "embedding_size": 8},
    "istftnet": {"upsample_kernel_sizes": [4, 4], "upsample_rates": [2, 2], "gen_istft_hop_size": 2,
                 "gen_istft_n_fft": 8, "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
                 "resblock_kernel_sizes": [3, 5], "upsample_initial_channel": 16},
    "voxport_decoder": {"hidden": 24, "asr_res": 4},
}
TINY_SAMPLE_RATE = 24000  # kokoro's SineGen is fixed at 24 kHz
# The packs of the committed tiny Kokoro bundle and of the tests that build the same one with torch: one female
# pack first (the default, OpenAI's "alloy"), one male (the male registers' names), one more female.
TINY_PACKS = ("af_a", "am_b", "af_c")
PACK_ROWS = 60


def tiny_config() -> dict[str, Any]:
    return copy.deepcopy(TINY_CONFIG)


def tiny_packs(names: tuple[str, ...] = TINY_PACKS, seed: int = 0) -> dict[str, np.ndarray]:
    """Random voice packs ([PACK_ROWS, 2 * style_dim] each), drawn in `names`' order from one seeded generator.
    numpy only, so a torch-free test can name the packs the committed bundle holds."""
    rng = np.random.default_rng(seed)
    width = 2 * TINY_CONFIG["style_dim"]
    return {n: (0.3 * rng.standard_normal((PACK_ROWS, width))).astype(np.float32) for n in names}


def tiny_model(seed: int = 0):  # noqa: ANN201 -- a KokoroModel (torch imported here only)
    import torch

    from voxport.export.kokoro.model import KokoroModel

    torch.manual_seed(seed)  # the constructor's own initialisation (biases, LSTMs) must repeat too
    return randomize(KokoroModel(tiny_config()), seed)


def randomize(model, seed: int = 0):  # noqa: ANN001, ANN201
    """Random weights that keep a trained model's magnitudes (the iSTFT takes exp() of the generator's output)."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith((".norm.weight", ".norm.bias")):
                continue  # AdaIN's instance-norm affine: 1 and 0, as checkpoints trained without it load
            if "alpha" in name:  # Snake's: positive, and distinct (an exporter merges equal constants)
                p.uniform_(0.5, 1.5)
            elif p.dim() == 1:  # biases and norm scales: distinct values, near their initialisation
                p.add_(0.1 * torch.randn_like(p))
            elif name.startswith("decoder.generator.") and p.dim() > 1:
                p.normal_(0.0, 0.01)  # kokoro's init_weights for the generator's convolutions
            elif p.dim() > 1:
                p.normal_(0.0, 0.5 / p.shape[1] ** 0.5)
    return model.eval()
