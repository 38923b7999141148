"""The stage contract: which graphs a bundle has, in pipeline order, and the tensors between them.

Export writes graphs to this contract, the manifest validates against it, the SDK feeds by it and
calibration captures by it. It needs no torch and no runtime library (only the runtimes' TensorSpec),
so every side shares one definition instead of retyping tensor names.

    encoder   phoneme_ids, phoneme_lengths[, sid]        -> hidden, prior_mean, prior_log_std,
                                                            phoneme_mask[, speaker_embedding]
    duration  hidden, phoneme_mask[, noise][, speaker_embedding] -> log_durations
    decoder   prior_latent, frame_mask[, speaker_embedding]      -> latent (VITS latent, GlowTTS mel)
    vocoder   latent[, frame_mask][, z, denoiser_strength][, speaker_embedding] -> audio

An autoregressive family (Tacotron2) has a second stage set (its family, voxport.families, says which):

    encoder       phoneme_ids, phoneme_lengths            -> memory, processed_memory
    decoder_step  previous_frame, prenet_dropout, the step state, memory, processed_memory, memory_mask
                                                          -> frame, gate_logit, the next step state
    postnet       mel                                     -> latent (the decoder's mel plus the residual)
    vocoder       as above (WaveGlow takes its noise `z` and a denoiser strength)

The step state is `STEP_STATE`; each name comes back as `next_state(name)`, fed to the next step.
Everything random (prenet dropout masks, WaveGlow's z) is an input the SDK draws from the seed.
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

# Autoregressive (Tacotron2) stage names and tensors.
DECODER_STEP, POSTNET = "decoder_step", "postnet"
AUTOREGRESSIVE_STAGES: tuple[str, ...] = (ENCODER, DECODER_STEP, POSTNET, VOCODER)  # pipeline order
MEMORY = "memory"  # encoder outputs [B, PHONEMES, C]
PROCESSED_MEMORY = "processed_memory"  # memory through the attention's memory layer [B, PHONEMES, A]
MEMORY_MASK = "memory_mask"  # float [B, PHONEMES]: 1 for real phonemes, 0 for padding
PREVIOUS_FRAME = "previous_frame"  # [B, n_mel]: the last frame out (zeros before the first step)
PRENET_DROPOUT = "prenet_dropout"  # [B, prenet layers, prenet dim]: 0 or 1/(1-p), drawn per step
FRAME = "frame"  # [B, n_mel]: this step's mel frame (before the postnet)
GATE_LOGIT = "gate_logit"  # [B, 1]: sigmoid(gate_logit) > threshold stops the loop
MEL = "mel"  # postnet input: the decoder's frames [B, n_mel, FRAMES]
STEP_STATE: tuple[str, ...] = ("attention_hidden", "attention_cell", "decoder_hidden", "decoder_cell",
                               "attention_weights", "attention_weights_cum", "attention_context")
Z = "z"  # WaveGlow's noise [B, z channels, FRAMES * steps per frame], already scaled by sigma
DENOISER_STRENGTH = "denoiser_strength"  # float [1]: 0 turns the denoiser off


def next_state(name: str) -> str:
    """The decoder step's output that carries state `name` to the next step."""
    return f"{name}_next"


# Dynamic axis names: a runtime that needs bounds per axis (TensorRT profiles) is given them by name.
BATCH, PHONEMES, FRAMES, SAMPLES = "batch", "phonemes", "frames", "samples"
Z_STEPS = "z_steps"  # WaveGlow's z time axis: FRAMES * hop_length / n_group

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
    VOCODER: StageContract(VOCODER, (LATENT,), (FRAME_MASK, Z, DENOISER_STRENGTH, SPEAKER_EMBEDDING), (AUDIO,),
                           required=False),
}

AUTOREGRESSIVE_CONTRACTS: dict[str, StageContract] = {
    ENCODER: StageContract(ENCODER, (PHONEME_IDS, PHONEME_LENGTHS), (), (MEMORY, PROCESSED_MEMORY)),
    DECODER_STEP: StageContract(
        DECODER_STEP, (PREVIOUS_FRAME, PRENET_DROPOUT, *STEP_STATE, MEMORY, PROCESSED_MEMORY, MEMORY_MASK), (),
        (FRAME, GATE_LOGIT, *(next_state(n) for n in STEP_STATE))),
    POSTNET: StageContract(POSTNET, (MEL,), (), (LATENT,)),
    VOCODER: CONTRACTS[VOCODER],
}


def pipeline_order(stages: object, contracts: dict[str, StageContract] | None = None) -> tuple[str, ...]:
    """Known stage names sorted into the pipeline order of `contracts` (default: the parallel stage set);
    a manifest's JSON order carries no meaning."""
    return tuple(s for s in (contracts or CONTRACTS) if s in stages)  # type: ignore[operator]


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




# --------------------------------------------------------------------------- autoregressive tensor specs

def tacotron2_encoder_tensors(channels: int, attention_dim: int
                              ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    return (
        (TensorSpec(PHONEME_IDS, I64, (BATCH, PHONEMES)), TensorSpec(PHONEME_LENGTHS, I64, (BATCH,))),
        (TensorSpec(MEMORY, F32, (BATCH, PHONEMES, channels)),
         TensorSpec(PROCESSED_MEMORY, F32, (BATCH, PHONEMES, attention_dim))),
    )


def decoder_step_tensors(n_mel: int, prenet_layers: int, prenet_dim: int, attention_rnn: int, decoder_rnn: int,
                         channels: int, attention_dim: int
                         ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs of one decoder step; each state output has its input's shape."""
    state = {
        "attention_hidden": (BATCH, attention_rnn), "attention_cell": (BATCH, attention_rnn),
        "decoder_hidden": (BATCH, decoder_rnn), "decoder_cell": (BATCH, decoder_rnn),
        "attention_weights": (BATCH, PHONEMES), "attention_weights_cum": (BATCH, PHONEMES),
        "attention_context": (BATCH, channels),
    }
    return (
        (TensorSpec(PREVIOUS_FRAME, F32, (BATCH, n_mel)),
         TensorSpec(PRENET_DROPOUT, F32, (BATCH, prenet_layers, prenet_dim)),
         *(TensorSpec(n, F32, shape) for n, shape in state.items()),
         TensorSpec(MEMORY, F32, (BATCH, PHONEMES, channels)),
         TensorSpec(PROCESSED_MEMORY, F32, (BATCH, PHONEMES, attention_dim)),
         TensorSpec(MEMORY_MASK, F32, (BATCH, PHONEMES))),
        (TensorSpec(FRAME, F32, (BATCH, n_mel)), TensorSpec(GATE_LOGIT, F32, (BATCH, 1)),
         *(TensorSpec(next_state(n), F32, shape) for n, shape in state.items())),
    )


def postnet_tensors(n_mel: int) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    return ((TensorSpec(MEL, F32, (BATCH, n_mel, FRAMES)),), (TensorSpec(LATENT, F32, (BATCH, n_mel, FRAMES)),))


def waveglow_tensors(n_mel: int, z_channels: int) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """WaveGlow: mel frames and their z in, audio out (hop_length samples per frame); the denoiser inside."""
    return (
        (TensorSpec(LATENT, F32, (BATCH, n_mel, FRAMES)), TensorSpec(Z, F32, (BATCH, z_channels, Z_STEPS)),
         TensorSpec(DENOISER_STRENGTH, F32, (1,))),
        (TensorSpec(AUDIO, F32, (BATCH, 1, SAMPLES)),),
    )
