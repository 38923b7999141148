"""PL-BERT: an ALBERT encoder with `transformers.AlbertModel`'s parameter names, written here so that export
needs no `transformers`. Kokoro runs it on one unpadded utterance, so there is no attention mask."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

# transformers.AlbertConfig's defaults that Kokoro's `plbert` section does not override.
ALBERT_DEFAULTS: dict[str, Any] = {
    "embedding_size": 128, "hidden_size": 4096, "num_hidden_layers": 12, "num_hidden_groups": 1,
    "num_attention_heads": 64, "intermediate_size": 16384, "inner_group_num": 1, "hidden_act": "gelu_new",
    "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
}


def albert_config(plbert: Mapping[str, Any]) -> dict[str, Any]:
    return {**ALBERT_DEFAULTS, **{k: v for k, v in plbert.items() if k in ALBERT_DEFAULTS}}


def _activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "gelu_new":  # the tanh approximation, as transformers' NewGELUActivation
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "gelu":
        return F.gelu(x)
    if name == "relu":
        return F.relu(x)
    raise ValueError(f"PL-BERT activation {name!r} is not supported (gelu_new, gelu, relu)")


class AlbertEmbeddings(nn.Module):
    def __init__(self, n_token: int, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        e = cfg["embedding_size"]
        self.word_embeddings = nn.Embedding(n_token, e)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], e)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], e)
        self.LayerNorm = nn.LayerNorm(e, eps=cfg["layer_norm_eps"])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        # Token type 0 everywhere, looked up as transformers does (a monolith keeps this lookup).
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings(ids * 0)
        return self.LayerNorm(x)


class AlbertAttention(nn.Module):
    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        h = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.query, self.key, self.value, self.dense = (nn.Linear(h, h) for _ in range(4))
        self.LayerNorm = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        d = h // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        context = (weights @ v).transpose(1, 2).reshape(b, t, h)
        return self.LayerNorm(x + self.dense(context))


class AlbertLayer(nn.Module):
    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        h = cfg["hidden_size"]
        self.act = cfg["hidden_act"]
        self.full_layer_layer_norm = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])
        self.attention = AlbertAttention(cfg)
        self.ffn = nn.Linear(h, cfg["intermediate_size"])
        self.ffn_output = nn.Linear(cfg["intermediate_size"], h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attention(x)
        return self.full_layer_layer_norm(self.ffn_output(_activation(self.act, self.ffn(a))) + a)


class AlbertLayerGroup(nn.Module):
    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList(AlbertLayer(cfg) for _ in range(cfg["inner_group_num"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.albert_layers:
            x = layer(x)
        return x


class AlbertEncoder(nn.Module):
    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        self.layers, self.groups = cfg["num_hidden_layers"], cfg["num_hidden_groups"]
        self.embedding_hidden_mapping_in = nn.Linear(cfg["embedding_size"], cfg["hidden_size"])
        self.albert_layer_groups = nn.ModuleList(AlbertLayerGroup(cfg) for _ in range(self.groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embedding_hidden_mapping_in(x)
        for i in range(self.layers):  # layers share weights group by group, as AlbertTransformer does
            x = self.albert_layer_groups[int(i / (self.layers / self.groups))](x)
        return x


class PLBert(nn.Module):
    """`AlbertModel(...).last_hidden_state` for ids [1, T] -> [1, T, hidden]. `pooler` is kept only so the
    checkpoint's tensors all have a home; its output is not used by Kokoro."""

    def __init__(self, n_token: int, plbert: Mapping[str, Any]) -> None:
        super().__init__()
        cfg = albert_config(plbert)
        self.config = cfg
        self.embeddings = AlbertEmbeddings(n_token, cfg)
        self.encoder = AlbertEncoder(cfg)
        self.pooler = nn.Linear(cfg["hidden_size"], cfg["hidden_size"])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embeddings(ids))
