"""The stage contract: which graphs a bundle has, in pipeline order, and the tensors between them.

Export writes graphs to this contract, the manifest validates against it, the SDK feeds by it and
calibration captures by it. It needs no torch and no runtime library (only the runtimes' TensorSpec),
so every side shares one definition instead of retyping tensor names.

    encoder   phoneme_ids, phoneme_lengths[, sid]        -> hidden, prior_mean, prior_log_std,
                                                            phoneme_mask[, speaker_embedding]
    duration  hidden, phoneme_mask[, noise][, speaker_embedding] -> log_durations
    decoder   prior_latent, frame_mask[, speaker_embedding]      -> latent (VITS latent, GlowTTS mel)
    vocoder   latent[, speaker_embedding]                        -> audio
"""

from __future__ import annotations

from dataclasses import dataclass

from voxport.runtimes.base import TensorSpec

ENCODER, DURATION, DECODER, VOCODER = "encoder", "duration", "decoder", "vocoder"
STAGES: tuple[str, ...] = (ENCODER, DURATION, DECODER, VOCODER)  # pipeline order

# Tensor names.
PHONEME_IDS = "phoneme_ids"
PHONEME_LENGTHS = "phoneme_lengths"
SID = "sid"
HIDDEN = "hidden"
PRIOR_MEAN = "prior_mean"
PRIOR_LOG_STD = "prior_log_std"
PHONEME_MASK = "phoneme_mask"
SPEAKER_EMBEDDING = "speaker_embedding"
NOISE = "noise"
LOG_DURATIONS = "log_durations"
PRIOR_LATENT = "prior_latent"
FRAME_MASK = "frame_mask"
LATENT = "latent"
AUDIO = "audio"

# Dynamic axis names: a runtime that needs bounds per axis (TensorRT profiles) is given them by name.
BATCH, PHONEMES, FRAMES, SAMPLES = "batch", "phonemes", "frames", "samples"

F32, I64 = "float32", "int64"


@dataclass(frozen=True)
class StageContract:
    """Names a stage's graph must (and may) take and give; the SDK feeds each graph only what it declares."""

    name: str
    inputs: tuple[str, ...]
    optional_inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    optional_outputs: tuple[str, ...] = ()
    required: bool = True  # vocoder: absent when the bundle vocodes its mel with Griffin-Lim

    def problems(self, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> list[str]:
        """What is wrong with a graph declaring these input and output names ([] if nothing)."""
        found = []
        for kind, names, need, may in (("input", inputs, self.inputs, self.optional_inputs),
                                       ("output", outputs, self.outputs, self.optional_outputs)):
            found += [f"lacks the {kind} {n!r}" for n in need if n not in names]
            found += [f"has an unknown {kind} {n!r} (allowed: {list(need + may)})"
                      for n in names if n not in need + may]
        return found


CONTRACTS: dict[str, StageContract] = {
    ENCODER: StageContract(ENCODER, (PHONEME_IDS, PHONEME_LENGTHS), (SID,),
                           (HIDDEN, PRIOR_MEAN, PRIOR_LOG_STD, PHONEME_MASK), (SPEAKER_EMBEDDING,)),
    DURATION: StageContract(DURATION, (HIDDEN, PHONEME_MASK), (NOISE, SPEAKER_EMBEDDING), (LOG_DURATIONS,)),
    DECODER: StageContract(DECODER, (PRIOR_LATENT, FRAME_MASK), (SPEAKER_EMBEDDING,), (LATENT,)),
    # A vocoder that takes frame_mask computes frames outside the mask as if they were not there, so it
    # can run on a fixed-size window padded with masked frames.
    VOCODER: StageContract(VOCODER, (LATENT,), (FRAME_MASK, SPEAKER_EMBEDDING), (AUDIO,), required=False),
}


def pipeline_order(stages: object) -> tuple[str, ...]:
    """Known stage names sorted into pipeline order (a manifest's JSON order carries no meaning)."""
    return tuple(s for s in STAGES if s in stages)  # type: ignore[operator]


# --------------------------------------------------------------------------- tensor specs per stage
# Sizes come from the model family; names, dtypes and axes from here.

def speaker_tensors(n_speakers: int, channels: int) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """(sid into the encoder, its embedding into later graphs); both empty for a single-speaker voice."""
    if n_speakers <= 1:
        return (), ()
    return (TensorSpec(SID, I64, (BATCH,)),), (TensorSpec(SPEAKER_EMBEDDING, F32, (BATCH, channels, 1)),)


def encoder_tensors(hidden: int, channels: int, sid: tuple[TensorSpec, ...] = (),
                    embedding: tuple[TensorSpec, ...] = ()) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    per_phoneme = (BATCH, channels, PHONEMES)
    return (
        (TensorSpec(PHONEME_IDS, I64, (BATCH, PHONEMES)), TensorSpec(PHONEME_LENGTHS, I64, (BATCH,)), *sid),
        (TensorSpec(HIDDEN, F32, (BATCH, hidden, PHONEMES)), TensorSpec(PRIOR_MEAN, F32, per_phoneme),
         TensorSpec(PRIOR_LOG_STD, F32, per_phoneme), TensorSpec(PHONEME_MASK, F32, (BATCH, 1, PHONEMES)),
         *embedding),
    )


def duration_tensors(hidden: int, noise_channels: int = 0, embedding: tuple[TensorSpec, ...] = ()
                     ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    noise = (TensorSpec(NOISE, F32, (BATCH, noise_channels, PHONEMES)),) if noise_channels else ()
    return (
        (TensorSpec(HIDDEN, F32, (BATCH, hidden, PHONEMES)), TensorSpec(PHONEME_MASK, F32, (BATCH, 1, PHONEMES)),
         *noise, *embedding),
        (TensorSpec(LOG_DURATIONS, F32, (BATCH, 1, PHONEMES)),),
    )


def decoder_tensors(channels: int, out_channels: int | None = None, embedding: tuple[TensorSpec, ...] = ()
                    ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    return (
        (TensorSpec(PRIOR_LATENT, F32, (BATCH, channels, FRAMES)), TensorSpec(FRAME_MASK, F32, (BATCH, 1, FRAMES)),
         *embedding),
        (TensorSpec(LATENT, F32, (BATCH, out_channels or channels, FRAMES)),),
    )


def vocoder_tensors(channels: int, embedding: tuple[TensorSpec, ...] = (), masked: bool = False
                    ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    mask = (TensorSpec(FRAME_MASK, F32, (BATCH, 1, FRAMES)),) if masked else ()
    return (
        (TensorSpec(LATENT, F32, (BATCH, channels, FRAMES)), *mask, *embedding),
        (TensorSpec(AUDIO, F32, (BATCH, 1, SAMPLES)),),
    )
