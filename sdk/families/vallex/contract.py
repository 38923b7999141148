"""VALL-E X's stage set and tensor names (torch-free; the exporter writes graphs to it).

    ar_prefill     text_ids, prompt_text_length, languages, audio_ids -> logits, cache
    ar_step        token, position, cache                             -> logits, cache_next  (cache grows by 1)
    ar_step_fixed  token, position, cache, length                     -> logits, cache_next  (static slots; optional)
    nar            text_ids, prompt_text_length, languages, codes, prompt_frames, stage -> nar_logits
    codes_embedding codes                                             -> latent  (EnCodec codebook embeddings)
    vocoder        latent                                             -> audio   (Vocos backbone + ISTFT head)
    codec_encoder  prompt_audio                                       -> codes   (EnCodec 24 kHz, 6 kbps; optional:
                                                                                  only `voxport prompt make` runs it)

No graph samples: the SDK draws every AR token from the logits (seeded top-k / temperature) and takes
the argmax of each NAR stage.
"""

from __future__ import annotations

from voxport.bundle import contract as c
from voxport.bundle.contract import StageContract

AR_PREFILL, AR_STEP, AR_STEP_FIXED, NAR, CODES_EMBEDDING, CODEC_ENCODER = (
    "ar_prefill", "ar_step", "ar_step_fixed", "nar", "codes_embedding", "codec_encoder")
VOCODER = c.VOCODER

TEXT_IDS = "text_ids"  # int64 [1, text]: the prompt's transcript then the text to speak, BPE ids
PROMPT_TEXT_LENGTH = "prompt_text_length"  # int64 [1]: how many of text_ids are the prompt's
LANGUAGES = "languages"  # int64 [2]: the prompt's and the text's language (en 0, zh 1, ja 2)
AUDIO_IDS = "audio_ids"  # int64 [1, audio]: BOS then the prompt's first codebook
LOGITS = "logits"  # float [1, 1025]: next AR token (1024 is EOS)
CACHE = "cache"  # float [layers, 2, 1, heads, positions, head_dim]
CACHE_NEXT = "cache_next"
TOKEN = "token"  # int64 [1, 1]
POSITION = "position"  # int64 [1]: the token's index among audio ids (BOS is 0)
LENGTH = "length"  # int64 [1]: filled slots of a fixed-size cache
CODES = "codes"  # int64 [1, 8, frames]
PROMPT_FRAMES = "prompt_frames"  # int64 [1]
STAGE = "stage"  # int64 [1]: the NAR codebook, 1..7
NAR_LOGITS = "nar_logits"  # float [1, frames, 1024]
LATENT, AUDIO = c.LATENT, c.AUDIO
PROMPT_AUDIO = "prompt_audio"  # float [1, 1, samples]: 24 kHz mono, samples a multiple of 320

CONTRACTS: dict[str, StageContract] = {
    AR_PREFILL: StageContract(AR_PREFILL, (TEXT_IDS, PROMPT_TEXT_LENGTH, LANGUAGES, AUDIO_IDS), (), (LOGITS, CACHE)),
    AR_STEP: StageContract(AR_STEP, (TOKEN, POSITION, CACHE), (), (LOGITS, CACHE_NEXT)),
    AR_STEP_FIXED: StageContract(AR_STEP_FIXED, (TOKEN, POSITION, CACHE, LENGTH), (), (LOGITS, CACHE_NEXT),
                                 required=False),
    NAR: StageContract(NAR, (TEXT_IDS, PROMPT_TEXT_LENGTH, LANGUAGES, CODES, PROMPT_FRAMES, STAGE), (),
                       (NAR_LOGITS,)),
    CODES_EMBEDDING: StageContract(CODES_EMBEDDING, (CODES,), (), (LATENT,)),
    VOCODER: StageContract(VOCODER, (LATENT,), (), (AUDIO,)),
    CODEC_ENCODER: StageContract(CODEC_ENCODER, (PROMPT_AUDIO,), (), (CODES,), required=False),
}

EOS, BOS = 1024, 1025
LANGUAGE_IDS = {"en": 0, "zh": 1, "ja": 2}
