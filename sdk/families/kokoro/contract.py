"""Kokoro's stage set and tensor names (torch-free: shared by the export side and the SDK).

    style    voice_weights [1, V], style_row [1] int64  -> style [1, 256]: the voice packs [V, 510, 256] are
             this graph's initializer, so they travel hashed in the bundle and a blend is one weighted sum
    encoder  phoneme_ids [1, T] int64, style [1, 256]   -> durations [1, T], prosody_features [1, C+S, T],
                                                           text_features [1, C, T]
    prosody  aligned_prosody [1, C+S, F], style         -> f0, energy [1, 2F]
    decoder  aligned_text [1, C, F], f0, energy, style, harmonics [1, 9, F * hop] -> audio [1, F * hop]

Nothing random or data-dependent is in a graph: rounding durations, repeating features per frame and the
harmonic source (its running phase, its initial phases and its noise, drawn from the seed) are the SDK's.
"""

from __future__ import annotations

from voxport.bundle.contract import F32, FRAMES, I64, PHONEMES, SAMPLES, StageContract
from voxport.runtimes.base import TensorSpec

STYLE_STAGE, ENCODER, PROSODY, DECODER = "style", "encoder", "prosody", "decoder"
VOICE_WEIGHTS, STYLE_ROW = "voice_weights", "style_row"
PHONEME_IDS, STYLE = "phoneme_ids", "style"
DURATIONS, PROSODY_FEATURES, TEXT_FEATURES = "durations", "prosody_features", "text_features"
ALIGNED_PROSODY, ALIGNED_TEXT = "aligned_prosody", "aligned_text"
F0, ENERGY, HARMONICS, AUDIO = "f0", "energy", "harmonics", "audio"
F0_FRAMES = "f0_frames"  # 2 x FRAMES: the prosody rate

CONTRACTS: dict[str, StageContract] = {
    STYLE_STAGE: StageContract(STYLE_STAGE, (VOICE_WEIGHTS, STYLE_ROW), (), (STYLE,)),
    ENCODER: StageContract(ENCODER, (PHONEME_IDS, STYLE), (), (DURATIONS, PROSODY_FEATURES, TEXT_FEATURES)),
    PROSODY: StageContract(PROSODY, (ALIGNED_PROSODY, STYLE), (), (F0, ENERGY)),
    DECODER: StageContract(DECODER, (ALIGNED_TEXT, F0, ENERGY, STYLE, HARMONICS), (), (AUDIO,)),
}


def tensors(hidden: int, style: int, voices: int = 1, harmonics: int = 9
            ) -> dict[str, tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]]:
    """Each stage's (inputs, outputs) for a model of `hidden` channels, `style`-wide style halves and
    `voices` packs."""
    ref = TensorSpec(STYLE, F32, (1, 2 * style))
    return {
        STYLE_STAGE: ((TensorSpec(VOICE_WEIGHTS, F32, (1, voices)), TensorSpec(STYLE_ROW, I64, (1,))), (ref,)),
        ENCODER: ((TensorSpec(PHONEME_IDS, I64, (1, PHONEMES)), ref),
                  (TensorSpec(DURATIONS, F32, (1, PHONEMES)),
                   TensorSpec(PROSODY_FEATURES, F32, (1, hidden + style, PHONEMES)),
                   TensorSpec(TEXT_FEATURES, F32, (1, hidden, PHONEMES)))),
        PROSODY: ((TensorSpec(ALIGNED_PROSODY, F32, (1, hidden + style, FRAMES)), ref),
                  (TensorSpec(F0, F32, (1, F0_FRAMES)), TensorSpec(ENERGY, F32, (1, F0_FRAMES)))),
        DECODER: ((TensorSpec(ALIGNED_TEXT, F32, (1, hidden, FRAMES)), TensorSpec(F0, F32, (1, F0_FRAMES)),
                   TensorSpec(ENERGY, F32, (1, F0_FRAMES)), ref, TensorSpec(HARMONICS, F32, (1, harmonics, SAMPLES))),
                  (TensorSpec(AUDIO, F32, (1, SAMPLES)),)),
    }
