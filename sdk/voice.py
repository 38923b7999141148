"""`Voice`: a bundle, its front-end and its graph sessions, turned into speech."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from voxport.audio import apply_volume, silence
from voxport.bundle import Bundle
from voxport.bundle import contract as c
from voxport.families import Family, Pipeline, family_of
from voxport.pipeline.compile_cache import CompileCache, compile_cache_root
from voxport.pipeline.engine import FRONTEND, Engine
from voxport.pipeline.memory import release_freed_memory
from voxport.pipeline.memory_budget import MemoryFit, load_within_budget, rss_mb
from voxport.pipeline.pacing import AheadPacing
from voxport.pipeline.precision import DEFAULT_PRECISION, DEFAULT_RUNTIME, StageChoice
from voxport.pipeline.reach import Reach
from voxport.pipeline.sessions import StageSessions
from voxport.pipeline.shaped import ShapeChoice, fixed_stages, unpadded_stages
from voxport.pipeline.streaming import (
    DEFAULT_CHUNK_FRAMES,
    DEFAULT_FIRST_CHUNK_FRAMES,
    AudioChunk,
    LazyTiming,
    sentences_from_pieces,
)
from voxport.runtimes import RuntimeOptions
from voxport.synthesis import DEFAULT_SENTENCE_SILENCE, SynthesisConfig


@dataclass(frozen=True)
class SentenceAudio:
    """One synthesized sentence with what produced it."""

    text: str
    phonemes: str
    phoneme_ids: list[int]
    frames: np.ndarray  # frames per phoneme id, from the duration predictor (Tacotron2: from its attention)
    audio: np.ndarray
    # Zero samples `synthesize` puts before this sentence: the sentence silence, an SSML <break>, or 0.
    # With SSML, a last item with empty text and audio may carry a trailing <break>.
    silence_before: int = 0


TextFormat = Literal["text", "ssml"]


class Voice:
    """A loaded voice. Load once, synthesize many times; not safe to share across threads while running.

    Every synthesis method takes a `SynthesisConfig` and/or its fields as keywords (`seed=0`,
    `noise_scale=0.5`, ...); a keyword overrides the config, None keeps the voice's default.
    `text_format="ssml"` reads the text as SSML (voxport.text.ssml: breaks, prosody rate, say-as, voices...);
    the default "text" never parses markup.
    """

    def __init__(
        self, bundle: Bundle, sessions: StageSessions, *, sentence_silence: float = DEFAULT_SENTENCE_SILENCE,
        shapes: ShapeChoice = "dynamic", warmed: dict[str, dict[int, float]] | None = None,
    ) -> None:
        """`warmed`: the warm-up these sessions already had (a sibling of a loaded copy), else they get one."""
        m = bundle.manifest
        self.bundle = bundle
        self.manifest = m
        self.sessions = sessions
        self.family: Family = family_of(m)
        # First: a voice the front-end cannot speak (an unsupported phoneme type) fails before the warm-up.
        self.frontend = self.family.frontend(m)
        plan, fixed = fixed_stages(shapes, sessions.sessions, m.shapes, self.family, m)
        self.engine = Engine(m, sessions, plan, fixed, self.family)
        self.pipeline: Pipeline = self.family.pipeline(self.engine)
        phoneme_level = [s for s in fixed if self.engine.runners[s].axis == c.PHONEMES]
        if phoneme_level and plan is not None:
            self.frontend.max_ids = plan.phoneme_buckets[-1]
        # Every bucket once now, so that no sentence meets a shape for the first time (seconds per bucket).
        self.warm_rss_mb: float | None = None  # resident MB after the warm-up, before any release (memory_budget)
        self.memory_fit: MemoryFit | None = None  # set by Voice.load(memory_mb=...)
        # lean: the runtimes hand their buffers back after each call, but glibc keeps what Python and the
        # pipeline freed (~45 MB after a long sentence, OpenVINO small plan), so each sentence trims it too.
        self._lean = sessions.lean
        if warmed is not None:
            self.warm_up_seconds = warmed
        else:
            self.warm_up_seconds = self.engine.warm_up()
            # Compilations and warm-up calls free tens of MB that glibc would keep: RSS after load is what a
            # small board has left (20 MB of 413 on the joe-medium voice, OpenVINO, small plan).
            release_freed_memory()
            self.warm_rss_mb = rss_mb()
            if shapes == "small":
                # The warm-up calls leave their buffers with the runtime (OpenVINO: ~80 of 406 MB on the
                # joe-medium voice's small plan). Only on the plan for small boards: the first call of each
                # shape then allocates them again, which cost ~4 % of streaming speed on cold sentences with
                # the default plan (its copies per bucket held ~310 of 889 MB; docs/runtimes-and-shapes.md).
                sessions.release_memory()
                release_freed_memory()
        self._reach: Reach | None = m.streaming
        self._shapes = shapes
        self.sentence_silence = sentence_silence
        self.sample_rate: int = m.sample_rate
        self.hop_length: int = m.hop_length
        self.name: str = m.name
        self._warned_knobs: set[str] = set()
        self._ignored_knobs = sorted(self.family.ignored_knobs())  # checked per sentence: computed once

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        runtime: StageChoice = DEFAULT_RUNTIME,
        precision: StageChoice = DEFAULT_PRECISION,
        *,
        threads: int | None = None,
        sentence_silence: float = DEFAULT_SENTENCE_SILENCE,
        verify: bool = True,
        progress: bool = True,
        shapes: ShapeChoice = None,
        static: bool = False,
        compile_cache: CompileCache = True,
        lean: bool = False,
        memory_mb: float | None = None,
        spin: bool = False,
    ) -> Voice:
        """Load a bundle directory (None: the default voice, built into the cache on first use).

        `runtime` and `precision` are one name for every stage or a mapping stage -> name, e.g.
        `{"decoder": "openvino", "vocoder": "openvino", "default": "onnxruntime"}`.
        `shapes`: "fixed" pads every stage to a few bucket shapes prepared now (a `ShapePlan` chooses
        them), "dynamic" runs each utterance at its own shape, None does what each stage's runtime is
        measured faster with (fixed on runtimes that compile per shape, see voxport.runtimes.shapes);
        "latency" is "fixed" with the encoder and duration predictor also compiled per bucket (OpenVINO:
        faster first audio for more memory: the family's `latency_specialize`); "small" is "fixed" on a
        few buckets with no copies per bucket, for boards with little memory (voxport.runtimes.shapes.small_plan).
        The buckets default to the bundle's (`manifest.shapes`). `static` runs the bundle's static-shape
        graphs (`voxport build --static`), one per bucket, for devices that compile nothing else.
        `compile_cache`: runtimes that can (OpenVINO) keep compiled graphs under
        `<voxport cache>/compiled/<bundle>/...` and skip compiling at the next start; False (or the
        environment's VOXPORT_COMPILE_CACHE=0) turns it off, a directory replaces `<voxport cache>/compiled`
        (voxport.pipeline.compile_cache).
        `lean`: every graph call hands back the buffers it used once it returns (onnxruntime's arena
        shrinks, OpenVINO releases its compiled models' memory), so between sentences the voice holds about
        what its load left instead of what its longest sentence needed: for boards with little memory, at
        some speed (docs/runtimes-and-shapes.md, small devices).
        `memory_mb`: the most resident memory the voice may add to the process; of `shapes`, "small" and
        `lean`, the fastest whose load measures within it is kept (voxport.pipeline.memory_budget; the
        smallest, with a warning, when none does); `memory_fit` then says what it holds.
        `spin`: the voice has the machine to itself, one call at a time: onnxruntime's threads busy-wait
        while a call runs (a few % faster alone; far slower when other voices run at once).
        """
        if path is None:
            from voxport.bundle.default_voice import ensure_default_bundle

            path = ensure_default_bundle(progress=progress)
        bundle = Bundle.load(path, verify=verify)
        if static:
            if bundle.manifest.shapes is None or shapes not in (None, "fixed", bundle.manifest.shapes):
                raise ValueError("static=True runs the static graphs of the bundle's own bucket plan: build them "
                                 "with `voxport build --static`, and leave `shapes` unset")
            shapes = bundle.manifest.shapes
        if memory_mb is not None:
            kwargs = {"runtime": runtime, "precision": precision, "threads": threads, "shapes": shapes,
                      "static": static, "compile_cache": compile_cache, "lean": lean, "spin": spin,
                      "sentence_silence": sentence_silence}
            return load_within_budget(memory_mb, bundle, kwargs, partial(cls.load, bundle.root, verify=False,
                                                                         progress=progress))
        sessions = StageSessions.open(bundle, runtime, precision, RuntimeOptions(threads=threads, lean=lean, spin=spin),
                                      static=static,
                                      unpadded=unpadded_stages(bundle, runtime, shapes),
                                      compile_cache=compile_cache_root(compile_cache))
        try:
            return cls(bundle, sessions, sentence_silence=sentence_silence, shapes=shapes)
        except BaseException:
            sessions.close()
            raise

    # --- public synthesis API ----------------------------------------------------------------------
    def synthesize(
        self, text: str, config: SynthesisConfig | None = None, *, text_format: TextFormat = "text", **settings: Any
    ) -> np.ndarray:
        """Speak `text`: float32 mono in [-1, 1] at `sample_rate`; empty text gives empty audio."""
        pieces: list[np.ndarray] = []
        for s in self.iter_sentences(text, config, text_format=text_format, **settings):
            if s.silence_before:
                pieces.append(np.zeros(s.silence_before, np.float32))
            if s.audio.size:
                pieces.append(s.audio)
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

    def iter_sentences(
        self, text: str, config: SynthesisConfig | None = None, *, text_format: TextFormat = "text", **settings: Any
    ) -> Iterator[SentenceAudio]:
        """Synthesize sentence by sentence, lazily: memory stays flat however long the text is."""
        config = SynthesisConfig.of(config, family_options=self.family.options, **settings)
        draws = self._draws(config)
        for before, sentence, phonemes, ids, sub in self._utterances([text], config, text_format):
            if sentence is None:
                yield SentenceAudio("", "", [], np.zeros(0, np.int64), np.zeros(0, np.float32), before)
                continue
            audio, frames = self._synthesize(ids, sub, draws)
            yield SentenceAudio(sentence, phonemes, ids, frames, apply_volume(audio, sub.volume), before)

    def synthesize_ids(
        self, phoneme_ids: Sequence[int], config: SynthesisConfig | None = None, **settings: Any
    ) -> np.ndarray:
        """Speak one utterance given as phoneme ids (BOS/EOS/pads included, as Piper's graph takes them)."""
        config = SynthesisConfig.of(config, family_options=self.family.options, **settings)
        audio, _ = self._synthesize(list(phoneme_ids), config, self._draws(config))
        return apply_volume(audio, config.volume)

    def stream(
        self,
        text: str | Iterable[str],
        config: SynthesisConfig | None = None,
        *,
        first_chunk_frames: int = DEFAULT_FIRST_CHUNK_FRAMES,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        text_format: TextFormat = "text",
        pacing: AheadPacing | None = None,
        **settings: Any,
    ) -> Iterator[AudioChunk]:
        """Yield audio chunks as soon as each is ready; joined, they equal `synthesize` with the same seed.

        `text` may be one string or an iterable of pieces (tokens from a language model): speaking
        starts at each sentence boundary without waiting for the rest. Each chunk carries its sample
        offset and its sentence's phoneme and word timestamps. SSML (`text_format="ssml"`) is one string;
        its breaks are silence chunks (sentence index -1) and count in the offsets.

        `pacing` (voxport.pipeline.pacing.AheadPacing): a sentence it finds the listener far enough ahead
        for is rendered whole (handed out in pieces of `chunk_frames`), where the family says that equals
        its windows (`Pipeline.whole_is_stream`); the same audio and timestamps for less work.
        """
        config = SynthesisConfig.of(config, family_options=self.family.options, **settings)
        draws = self._draws(config)
        self.pipeline.check(config)  # a bad setting fails before any audio
        reach = self.reach
        if text_format == "ssml" and not isinstance(text, str):
            raise TypeError("SSML is streamed from one string, not from pieces")
        if not self.pipeline.whole_is_stream:
            pacing = None  # its whole render is not its stream: every sentence streams in windows
        pieces = [text] if isinstance(text, str) else sentences_from_pieces(text)
        offset, index, mark = 0, 0, time.perf_counter()
        for before, sentence, phonemes, ids, sub in self._utterances(pieces, config, text_format):
            if before:
                if pacing is not None:
                    pacing.made(before / self.sample_rate, 0.0, speech=False)
                yield AudioChunk(np.zeros(before, np.float32), offset, -1, True, None)
                mark = time.perf_counter()
                offset += before
            if sentence is None:
                continue
            self._check_knobs(sub)  # SSML gives each sentence its own config
            utterance = self.pipeline.utterance(ids, sub, draws)
            # Computed on first access: aligning words (or finishing a decoder loop) must not delay the first sound.
            timing = LazyTiming(partial(self.pipeline.timing, sentence, phonemes, utterance, self.frontend, offset))
            for audio, last in self._windows(utterance, reach, first_chunk_frames, chunk_frames, pacing):
                audio = apply_volume(audio, sub.volume)
                if pacing is not None:
                    pacing.made(audio.size / self.sample_rate, time.perf_counter() - mark)
                yield AudioChunk(audio, offset, index, last, timing)
                mark = time.perf_counter()  # the time the consumer held the chunk is no synthesis
                offset += audio.size
            index += 1
            if self._lean:
                release_freed_memory()

    def _windows(self, utterance: Any, reach: Reach, first: int, size: int, pacing: AheadPacing | None
                 ) -> Iterator[tuple[np.ndarray, bool]]:
        """The sentence's (audio, is_last) pieces: one whole render when `pacing` finds the listener far
        enough ahead (handed out in pieces of at most `size` frames, as windows are: a client's audio
        messages stay as small as before), else the pipeline's windows."""
        if pacing is not None:
            seconds = float(np.sum(self.pipeline.frames(utterance))) * self.hop_length / self.sample_rate
            if pacing.whole(seconds):
                audio, step = self.pipeline.render(utterance), size * self.hop_length
                for start in range(0, max(audio.size, 1), step):
                    yield audio[start : start + step], start + step >= audio.size
                return
        yield from self.pipeline.stream(utterance, reach, first, size)

    @property
    def reach(self) -> Reach:
        """Context frames each streamed window needs per graph: from the manifest, else measured once."""
        if self._reach is None:
            self._reach = self.pipeline.measure_reach()
        return self._reach

    def phonemize(self, text: str) -> list[str]:
        """The phoneme string of each sentence, for inspection."""
        return [phonemes for _, phonemes, _ in self.frontend.text_to_ids(text)]

    def sibling(self) -> Voice | None:
        """Another loaded copy of this voice, for another thread, that shares this one's graph sessions: the
        weights and the runtime's arenas are held once however many copies run (a server's workers). None
        when a session cannot run from several threads at once (OpenVINO, TensorRT): load another copy
        then. The sessions are released when the last copy sharing them closes."""
        if not self.sessions.concurrent:
            return None
        shared = self.sessions.share()
        try:
            # The shared sessions met every bucket when this copy loaded: no second warm-up.
            copy = Voice(self.bundle, shared, sentence_silence=self.sentence_silence, shapes=self._shapes,
                         warmed=self.warm_up_seconds)
        except BaseException:
            shared.close()
            raise
        copy._reach = self._reach  # measured once is enough
        return copy

    def close(self) -> None:
        """Release the graph sessions, and hand the memory they freed back to the system."""
        self.sessions.close()
        release_freed_memory()

    def __enter__(self) -> Voice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the pipeline ---------------------------------------------------------------------------------
    def _utterances(
        self, texts: Iterable[str], config: SynthesisConfig, text_format: str
    ) -> Iterator[tuple[int, str | None, str, list[int], SynthesisConfig]]:
        """(zero samples before, sentence, phonemes, ids, config) per sentence of `texts`; for SSML, a last
        item with sentence None may carry a trailing pause (voxport.text.ssml.ssml_sentences)."""
        if text_format == "ssml":
            from voxport.text.ssml import ssml_sentences

            for text in texts:
                yield from ssml_sentences(self, text, config)
            return
        if text_format != "text":
            raise ValueError(f"text_format must be 'text' or 'ssml', got {text_format!r}")
        gap = silence(self.sentence_silence, self.sample_rate).size
        index = 0
        for text in texts:
            for sentence, phonemes, ids in self._sentences(text, config):
                yield (gap if index else 0), sentence, phonemes, ids, config
                index += 1

    def _sentences(self, text: str, config: SynthesisConfig | None = None) -> Iterator[tuple[str, str, list[int]]]:
        """The front-end's sentences (the one the config's family settings pick, see
        Pipeline.text_frontend), each step reported to the engine's hooks as the "frontend" stage."""
        frontend = self.frontend if config is None else self.pipeline.text_frontend(self.frontend, config)
        steps = frontend.text_to_ids(text)
        while True:
            start = time.perf_counter()
            item = next(steps, None)
            self.engine.report(FRONTEND, time.perf_counter() - start)
            if item is None:
                return
            yield item

    def _synthesize(self, ids: list[int], config: SynthesisConfig, draws: Any) -> tuple[np.ndarray, np.ndarray]:
        if not ids:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        self._check_knobs(config)  # SSML gives each sentence its own config
        utterance = self.pipeline.utterance(ids, config, draws)
        audio, frames = self.pipeline.render(utterance), self.pipeline.frames(utterance)
        if self._lean:
            del utterance
            release_freed_memory()
        return audio, frames

    def _draws(self, config: SynthesisConfig) -> Any:
        """One synthesis call's source of draws (the family's: noise, dropout masks...)."""
        self._check_knobs(config)
        return self.pipeline.draws(config)

    def _check_knobs(self, config: SynthesisConfig) -> None:
        """Warn once per knob that the voice's family does not read."""
        # A value equal to the voice's own is no request (SSML fills length_scale in at rate 1).
        defaults = self.manifest.inference.to_dict()
        for knob in self._ignored_knobs:
            value = getattr(config, knob)
            if value is not None and value != defaults.get(knob) and knob not in self._warned_knobs:
                self._warned_knobs.add(knob)
                warnings.warn(f"{knob} has no effect on a {self.manifest.family} voice (see SynthesisConfig)",
                              UserWarning, stacklevel=4)

