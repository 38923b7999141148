"""VALL-E X (Plachtaa/VALL-E-X's `VALLE`, prefix_mode 1, norm_first, no prenets), written for export.

Parameter names are Plachtaa's, so `vallex-checkpoint.pt`'s state dict loads by name (strict). The module
itself never samples: the AR graphs give logits and the SDK draws the token (voxport.families.vallex).
The NAR half runs one stage per call; the SDK takes the argmax.

Layout of the AR key/value cache, one tensor so the step graph has a single state input:
[layers, 2 (key, value), batch, heads, positions, head_dim], positions = text + BOS + audio so far.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

NUM_TEXT_TOKENS, NUM_AUDIO_TOKENS = 2048, 1024
EOS, BOS = NUM_AUDIO_TOKENS, NUM_AUDIO_TOKENS + 1  # AR audio ids: 1024 ends, 1025 starts
LANGUAGES = ("en", "zh", "ja")  # Plachtaa's language_ID order


@dataclass(frozen=True)
class VallexConfig:
    d_model: int = 1024
    nhead: int = 16
    num_layers: int = 12
    num_quantizers: int = 8
    n_text: int = NUM_TEXT_TOKENS
    n_audio: int = NUM_AUDIO_TOKENS

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.nhead


class TokenEmbedding(nn.Module):
    def __init__(self, dim: int, vocab: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.word_embeddings(x)


class SinePositionalEmbedding(nn.Module):
    """x + alpha * sinusoid(position); positions are given so a step can sit at any index."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))

    def table(self, positions: torch.Tensor) -> torch.Tensor:
        div = torch.exp(torch.arange(0, self.dim, 2, dtype=torch.float32) * -(math.log(10000.0) / self.dim))
        angle = positions.to(torch.float32).unsqueeze(-1) * div
        # Interleave sin (even channels) and cos (odd), as Plachtaa's table does.
        return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).flatten(-2)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return x + self.alpha * self.table(positions)


class AdaptiveLayerNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project_layer = nn.Linear(dim, 2 * dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, stage: torch.Tensor) -> torch.Tensor:
        weight, bias = self.project_layer(stage).chunk(2, dim=-1)
        return weight * self.norm(x) + bias


class SelfAttention(nn.Module):
    def __init__(self, dim: int, nhead: int) -> None:
        super().__init__()
        self.nhead = nhead
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        return tuple(y.reshape(b, t, self.nhead, d // self.nhead).transpose(1, 2) for y in (q, k, v))  # type: ignore[return-value]

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, blocked: torch.Tensor | None
               ) -> torch.Tensor:
        """`blocked`: bool [q, k] (or broadcastable), True where a query may not look."""
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
        if blocked is not None:
            att = att.masked_fill(blocked, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        b, h, t, hd = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(b, t, h * hd))


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer (ReLU feed-forward); adaptive norms for the NAR stack."""

    def __init__(self, dim: int, nhead: int, adaptive: bool) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, nhead)
        self.linear1 = nn.Linear(dim, 4 * dim)
        self.linear2 = nn.Linear(4 * dim, dim)
        self.norm1: nn.Module = AdaptiveLayerNorm(dim) if adaptive else nn.LayerNorm(dim)
        self.norm2: nn.Module = AdaptiveLayerNorm(dim) if adaptive else nn.LayerNorm(dim)

    def norm(self, which: nn.Module, x: torch.Tensor, stage: torch.Tensor | None) -> torch.Tensor:
        return which(x) if stage is None else which(x, stage)

    def feed_forward(self, x: torch.Tensor, stage: torch.Tensor | None) -> torch.Tensor:
        return x + self.linear2(F.relu(self.linear1(self.norm(self.norm2, x, stage))))

    def forward(self, x: torch.Tensor, stage: torch.Tensor | None = None) -> torch.Tensor:
        a = self.self_attn
        q, k, v = a.qkv(self.norm(self.norm1, x, stage))
        return self.feed_forward(x + a.attend(q, k, v, None), stage)

    def cached(self, x: torch.Tensor, past: torch.Tensor | None, blocked: torch.Tensor,
               place: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One AR pass: x's keys/values joined to `past` ([2, B, H, T, hd]); the new cache.

        `place` (float [T], one-hot) writes the single new key/value into a fixed-size `past` at that
        position instead of appending (static shapes; ScatterND is avoided for NPU compilers)."""
        a = self.self_attn
        q, k, v = a.qkv(self.norm1(x))
        if past is None:
            kv = torch.stack([k, v])
        elif place is None:
            kv = torch.cat([past, torch.stack([k, v])], dim=3)
        else:
            w = place.reshape(1, 1, 1, -1, 1)
            kv = past * (1.0 - w) + torch.stack([k, v]) * w
        x = x + a.attend(q, kv[0], kv[1], blocked)
        return self.feed_forward(x, None), kv


class TransformerStack(nn.Module):
    def __init__(self, dim: int, nhead: int, layers: int, adaptive: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(dim, nhead, adaptive) for _ in range(layers))
        self.norm: nn.Module = AdaptiveLayerNorm(dim) if adaptive else nn.LayerNorm(dim)


class Vallex(nn.Module):
    """Plachtaa's VALLE with its parameter names; `ar_prefill`, `ar_step` and `nar_stage` are the graphs."""

    def __init__(self, config: VallexConfig = VallexConfig()) -> None:
        super().__init__()
        c = self.config = config
        d, q = c.d_model, c.num_quantizers
        self.ar_text_embedding = TokenEmbedding(d, c.n_text)
        self.nar_text_embedding = TokenEmbedding(d, c.n_text)
        self.ar_audio_embedding = TokenEmbedding(d, c.n_audio + 2)  # + EOS + BOS
        self.ar_text_position = SinePositionalEmbedding(d)
        self.ar_audio_position = SinePositionalEmbedding(d)
        self.ar_decoder = TransformerStack(d, c.nhead, c.num_layers, adaptive=False)
        self.ar_predict_layer = nn.Linear(d, c.n_audio + 1, bias=False)
        self.nar_audio_embeddings = nn.ModuleList(
            [TokenEmbedding(d, c.n_audio + 1)] + [TokenEmbedding(d, c.n_audio) for _ in range(q - 1)])
        self.nar_text_position = SinePositionalEmbedding(d)
        self.nar_audio_position = SinePositionalEmbedding(d)
        self.nar_decoder = TransformerStack(d, c.nhead, c.num_layers, adaptive=True)
        self.nar_predict_layers = nn.ModuleList(nn.Linear(d, c.n_audio, bias=False) for _ in range(q - 1))
        self.nar_stage_embeddings = nn.ModuleList(TokenEmbedding(d, 1) for _ in range(q - 1))
        for j in range(q - 2):  # share_embedding=True: prediction j is embedding j + 2
            self.nar_predict_layers[j].weight = self.nar_audio_embeddings[j + 2].word_embeddings.weight
        self.ar_language_embedding = TokenEmbedding(d, len(LANGUAGES))
        self.nar_language_embedding = TokenEmbedding(d, len(LANGUAGES))

    # --- shared pieces -------------------------------------------------------------------------------
    @staticmethod
    def text(embedding: TokenEmbedding, language: TokenEmbedding, position: SinePositionalEmbedding,
             ids: torch.Tensor, prompt_len: torch.Tensor, languages: torch.Tensor) -> torch.Tensor:
        """Text embedded with the prompt's language on its first `prompt_len` ids and the text's after."""
        s = ids.shape[1]
        idx = torch.arange(s)
        is_prompt = (idx < prompt_len).to(torch.float32).unsqueeze(-1)
        lang = language(languages)  # [2, d]: prompt, text
        x = embedding(ids) + is_prompt * lang[0] + (1.0 - is_prompt) * lang[1]
        return position(x, idx)

    # --- AR ---------------------------------------------------------------------------------------------
    def ar_prefill(self, text_ids: torch.Tensor, prompt_text_length: torch.Tensor, languages: torch.Tensor,
                   audio_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Text (prompt's + target's) and BOS + the prompt's first codebook: logits of the next token and
        the cache. Text attends to text only; audio to the text and causally to audio."""
        x = self.text(self.ar_text_embedding, self.ar_language_embedding, self.ar_text_position,
                      text_ids, prompt_text_length, languages)
        t = audio_ids.shape[1]
        y = self.ar_audio_position(self.ar_audio_embedding(audio_ids), torch.arange(t))
        xy = torch.cat([x, y], dim=1)
        s = x.shape[1]
        n = s + t
        row, col = torch.arange(n).unsqueeze(1), torch.arange(n).unsqueeze(0)
        blocked = ((row < s) & (col >= s)) | ((row >= s) & (col > row))
        caches = []
        for layer in self.ar_decoder.layers:
            xy, kv = layer.cached(xy, None, blocked)
            caches.append(kv)
        logits = self.ar_predict_layer(self.ar_decoder.norm(xy[:, -1]))
        return logits, torch.stack(caches)

    def ar_step(self, token: torch.Tensor, position: torch.Tensor, cache: torch.Tensor,
                length: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One audio token at audio `position`: logits of the next one and the cache.

        Without `length` the cache holds exactly the past and grows by one; with it, `cache` has a fixed
        number of slots, the first `length` are the past, and the new key/value goes into slot `length`."""
        y = self.ar_audio_position(self.ar_audio_embedding(token), position)
        slots = torch.arange(cache.shape[4])
        if length is None:  # every past position is visible
            blocked, place = torch.zeros(1, 1, 1, 1, dtype=torch.bool), None
        else:
            blocked = (slots > length).reshape(1, 1, 1, -1)
            place = (slots == length).to(torch.float32)
        caches = []
        for i, layer in enumerate(self.ar_decoder.layers):
            y, kv = layer.cached(y, cache[i], blocked, place)
            caches.append(kv)
        logits = self.ar_predict_layer(self.ar_decoder.norm(y[:, -1]))
        return logits, torch.stack(caches)

    # --- NAR --------------------------------------------------------------------------------------------
    def nar_stage(self, text_ids: torch.Tensor, prompt_text_length: torch.Tensor, languages: torch.Tensor,
                  codes: torch.Tensor, prompt_frames: torch.Tensor, stage: torch.Tensor) -> torch.Tensor:
        """Logits of codebook `stage` (1..7) at every audio position [B, T, n_audio].

        `codes` [B, 8, T]: the prompt's 8 codebooks on its first `prompt_frames` positions, then the AR's
        tokens in codebook 0 and earlier stages' argmax in codebooks 1..stage-1 (later rows are ignored).
        Plachtaa sums embeddings the same way: all codebooks on the prompt, those known on the rest."""
        x = self.text(self.nar_text_embedding, self.nar_language_embedding, self.nar_text_position,
                      text_ids, prompt_text_length, languages)
        t = codes.shape[2]
        is_prompt = (torch.arange(t) < prompt_frames).to(torch.float32).unsqueeze(-1)
        y = self.nar_audio_embeddings[0](codes[:, 0])
        for j in range(1, self.config.num_quantizers):
            known = torch.clamp(is_prompt + (stage > j).to(torch.float32), max=1.0)
            y = y + known * self.nar_audio_embeddings[j](codes[:, j])
        y = self.nar_audio_position(y, torch.arange(t))
        xy = torch.cat([x, y], dim=1)
        pick = F.one_hot(stage - 1, self.config.num_quantizers - 1).to(torch.float32)  # [1, 7]
        embed = pick @ torch.cat([e.word_embeddings.weight for e in self.nar_stage_embeddings])  # [1, d]
        for layer in self.nar_decoder.layers:
            xy = layer(xy, embed)
        xy = self.nar_decoder.norm(xy, embed)[:, x.shape[1]:]
        weights = torch.stack([p.weight for p in self.nar_predict_layers])  # [7, n_audio, d]
        weight = (pick @ weights.flatten(1)).reshape(self.config.n_audio, -1)
        return xy @ weight.t()
