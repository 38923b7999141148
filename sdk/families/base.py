"""What a model family is, in one object: its stages and their tensors, how its text becomes ids, how its
graphs are run (the pipeline strategy), which stages may be padded, which knobs it reads, and where its
importers live. Shared code (Voice, the Engine, streaming, profiling, calibration, the CLI) asks the family
instead of testing its name.

A family is one registration (voxport.families.register, or an entry in BUILTIN there) and its own
folders: `sdk/families/<name>` for the torch-free side and `export/<name>` for its importers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from voxport.bundle.contract import StageContract
from voxport.bundle.fields import ManifestPath

if TYPE_CHECKING:
    from voxport.bundle.manifest import Manifest, Reach
    from voxport.pipeline.engine import Engine
    from voxport.pipeline.timestamps import SentenceTiming
    from voxport.synthesis import SynthesisConfig
    from voxport.text.frontend import TextFrontend

# SynthesisConfig fields every family reads; the others are listed per family in `Family.knobs`.
COMMON_KNOBS = frozenset({"seed", "speaker", "volume"})


class Pipeline(ABC):
    """How one family turns an utterance's ids into audio, on an `Engine` that runs its graphs.

    `utterance` does what must happen before any audio (encoder, durations, draws, or the start of a
    decoder loop); `render` gives its whole audio; `stream` its audio window by window, joining into
    `render`'s; `frames` how many frames each id lasted (timestamps). The class methods describe the
    family's graphs to the Engine before any session runs (buckets for a stream's first chunk,
    context frames and frame multiples for windowed calls)."""

    # Whether `render` gives the audio its `stream` windows join into (the same draws, the same frames, equal
    # up to the rounding of the precision it runs at: fp32 within 1e-4 of full scale), with `frames` known once
    # `utterance` returned. Then a stream may render a sentence whole when nobody waits for its first chunk
    # (voxport.pipeline.pacing).
    whole_is_stream: ClassVar[bool] = False

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @abstractmethod
    def draws(self, config: SynthesisConfig) -> Any:
        """One synthesis call's source of random draws (from `config.seed`), shared by its sentences."""

    def check(self, config: SynthesisConfig) -> None:
        """Fail (ValueError) before any audio on a setting this voice cannot take: by default the scales
        and the speaker (a name or id of the manifest's speakers). A family whose speakers are something
        else (voice packs, prompts) overrides it."""
        self.engine.scales(config)
        self.engine.speaker_id(config.speaker)

    def text_frontend(self, frontend: TextFrontend, config: SynthesisConfig) -> TextFrontend:
        """The front-end for this call's text: the voice's own, unless a family setting picks another
        (VALL-E X's `language`)."""
        return frontend

    @abstractmethod
    def utterance(self, ids: list[int], config: SynthesisConfig, draws: Any) -> Any:
        """One sentence prepared for rendering or streaming."""

    @abstractmethod
    def render(self, utterance: Any) -> np.ndarray:
        """The utterance's whole audio: float32 [samples]."""

    @abstractmethod
    def stream(self, utterance: Any, reach: Reach, first: int, size: int) -> Iterator[tuple[np.ndarray, bool]]:
        """(audio, is_last) windows of `first` frames, then growing up to `size`; joined they equal `render`."""

    @abstractmethod
    def frames(self, utterance: Any) -> np.ndarray:
        """int64 [n_ids]: frames each id lasted (for timestamps and `SentenceAudio.frames`)."""

    @abstractmethod
    def measure_reach(self) -> Reach:
        """Context frames a streamed window needs, measured on the graphs as loaded."""

    def timing(self, sentence: str, phonemes: str, utterance: Any, frontend: TextFrontend, offset: int
               ) -> SentenceTiming:
        """Phoneme and word times of the sentence, `offset` samples into the stream."""
        from voxport.pipeline.timestamps import sentence_timing

        m = self.engine.manifest
        return sentence_timing(sentence, phonemes, frontend.mapper, self.frames(utterance), m.hop_length,
                               m.sample_rate, offset, phonemize_word=frontend.phonemizer.phonemize)

    # --- what the Engine needs to know before running anything ---------------------------------------
    @classmethod
    def stream_heads(cls, manifest: Manifest) -> dict[str, tuple[int, ...]]:
        """Frame counts of the stage calls behind a default stream's first chunk, given buckets of their
        own on fixed shapes so the first audio is never padded. Default: none."""
        return {}

    @classmethod
    def context(cls, manifest: Manifest, stage: str) -> int | None:
        """Frames of context `stage` needs on each side when a long call is cut into windows; None: it
        cannot be windowed (it runs whole, or at its own shape when longer than the largest bucket)."""
        return None

    @classmethod
    def frame_multiple(cls, manifest: Manifest, stage: str) -> int:
        """Window edges of `stage` lie on this multiple of frames (a decoder that groups frames)."""
        return 1


@dataclass(frozen=True)
class Family:
    """A registered model family. `name` is what a bundle's manifest says in `family`."""

    name: str
    summary: str  # one line for `voxport info` and the docs
    contracts: Mapping[str, StageContract]  # the stage set, in pipeline order
    pipeline: type[Pipeline]
    frontend: Callable[[Manifest], TextFrontend]
    knobs: frozenset[str] = frozenset()  # SynthesisConfig fields it reads besides COMMON_KNOBS
    # Its own settings, taken as keywords by Voice methods and kept in SynthesisConfig.options
    # (e.g. a voice prompt, sampling parameters); the pipeline reads them.
    options: frozenset[str] = frozenset()
    # Stages that may run on fixed-shape buckets when their graph masks padding; None: every stage.
    paddable: frozenset[str] | None = None
    # Stages compiled one copy per bucket where the runtime offers it (OpenVINO): by default, and with
    # shapes="latency" (faster first audio for more memory).
    specialize: tuple[str, ...] = ()
    latency_specialize: tuple[str, ...] = ()
    # "module:attribute" of the export-side importers `voxport build` offers (each adds its options).
    importers: tuple[str, ...] = ()
    # "module:attribute" of the calibration-side plan `voxport calibrate` follows (voxport.calibration.plan:
    # which stages, what stays float, how the gate replays an utterance); None: not calibrated.
    calibration: str | None = None
    # Why `voxport calibrate` cannot judge this family yet (one line), or None if it can.
    calibration_refusal: str | None = None
    # The language of a bundle whose manifest does not name one (written before the exporter recorded it),
    # from what else the manifest says; None: unknown (Manifest.language then says en-us).
    language_of: Callable[[Manifest], str | None] = field(default=lambda m: None)
    # Hints for graphs of bundles written before the exporter recorded them (GraphEntry.hints).
    graph_hints: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The family's own manifest fields (`params`): a checker that raises BundleFormatError naming the
    # field, or None for a family that has none.
    check_params: Callable[[Mapping[str, Any], ManifestPath], None] | None = None
    # What `voxport info` shows as the voice's default settings.
    settings: Callable[[Manifest], dict[str, Any]] = field(default=lambda m: {})
    # How `voxport serve` names what is inside one bundle (voxport.server.voice_names). True: each of the
    # manifest's speakers is listed (Wyoming `info`, HTTP `/voices`) and addressable as a voice of its own
    # (Kokoro's voice packs); False: only the bundle is a voice (a 900-speaker VITS set stays one entry).
    speakers_are_voices: bool = False
    # Whether a requested name is a speaker (or a blend of them) of this bundle: False when it names something
    # else, ValueError when it names this bundle's speakers but is malformed (a blend's bad weight).
    speaker_spec: Callable[[Manifest, str], bool] = field(default=lambda m, spec: spec in m.speaker_id_map)
    # OpenAI's voice names (voxport.families.openai_voices) -> speaker specs of a bundle, when the family has
    # speakers to map them to; empty: OpenAI names speak with the voice's default speaker.
    openai_voices: Callable[[Manifest], Mapping[str, str]] = field(default=lambda m: {})

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(self.contracts)

    def may_pad(self, stage: str) -> bool:
        return self.paddable is None or stage in self.paddable

    def ignored_knobs(self) -> frozenset[str]:
        """The SynthesisConfig fields this family does not read (a voice warns once when one is set)."""
        from dataclasses import fields as dataclass_fields

        from voxport.synthesis import SynthesisConfig

        return frozenset(f.name for f in dataclass_fields(SynthesisConfig)) - COMMON_KNOBS - self.knobs - {"options"}
