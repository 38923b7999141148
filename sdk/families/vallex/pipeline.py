"""The codec-language-model strategy (VALL-E X): AR prefill, AR steps with the KV cache until EOS or the
length cap, 7 NAR stages (argmax), then EnCodec codebook embeddings and Vocos.

Streaming is per sentence: a NAR stage attends over every frame of the sentence in both directions, so
no frame's codebooks 2-8 exist before the AR loop has finished the sentence; once they do, the vocoder
streams over windows (its measured reach) like any other family's.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from voxport.bundle.manifest import Manifest, Reach
from voxport.families.base import Pipeline
from voxport.families.vallex import contract as v
from voxport.families.vallex.prompt import VoicePrompt
from voxport.families.vallex.sampling import TokenSampler
from voxport.pipeline.reach import measure_frames_reached
from voxport.pipeline.streaming import stream_windows
from voxport.synthesis import SynthesisConfig
from voxport.text.frontend import TextFrontend

__all__ = ["CodecLoopPipeline", "CodesUtterance"]


@dataclass(frozen=True)
class CodesUtterance:
    codes: np.ndarray  # int64 [8, frames]: the sentence's codes, without the prompt's
    n_ids: int

    @property
    def n_frames(self) -> int:
        return int(self.codes.shape[1])


class CodecLoopPipeline(Pipeline):
    """AR tokens drawn on the host, NAR stages and the vocoder as graphs."""

    def __init__(self, engine) -> None:  # noqa: ANN001 -- an Engine
        super().__init__(engine)
        self._prompts: dict[str, VoicePrompt] = {}
        self._frontends: dict[str, TextFrontend] = {}

    # --- settings ------------------------------------------------------------------------------------
    def params(self) -> dict:
        return self.engine.manifest.params

    def prompt(self, config: SynthesisConfig) -> VoicePrompt:
        given = config.options.get("prompt")
        if isinstance(given, VoicePrompt):
            return given
        if given is None:
            return VoicePrompt.empty(self.language(config))
        key = str(given)
        if key not in self._prompts:
            self._prompts[key] = VoicePrompt.load(key)
        return self._prompts[key]

    def language(self, config: SynthesisConfig) -> str:
        language = config.options.get("language", "en")
        if language not in v.LANGUAGE_IDS:
            raise ValueError(f"language {language!r}: VALL-E X speaks {sorted(v.LANGUAGE_IDS)}")
        return language

    def text_frontend(self, frontend: TextFrontend, config: SynthesisConfig) -> TextFrontend:
        """The front-end of the `language` option (zh / ja: their optional extras, refused in one line
        naming the extra when absent); one per language, kept."""
        language = self.language(config)
        if language not in self._frontends:
            self._frontends[language] = frontend.for_language(language)  # type: ignore[attr-defined]
        return self._frontends[language]

    def check(self, config: SynthesisConfig) -> None:
        """Prompt, language and sampling settings; `speaker` means nothing here (the prompt is the voice)."""
        self.prompt(config)
        self.language(config)
        self.draws(config)

    def draws(self, config: SynthesisConfig) -> TokenSampler:
        p = self.params()
        return TokenSampler(config.seed, top_k=int(config.options.get("top_k", p.get("top_k", -100))),
                            temperature=float(config.options.get("temperature", p.get("temperature", 1.0))))

    # --- the loop ------------------------------------------------------------------------------------
    def utterance(self, ids: list[int], config: SynthesisConfig, draws: TokenSampler) -> CodesUtterance:
        prompt = self.prompt(config)
        text = np.concatenate([prompt.text_ids, np.asarray(ids, np.int64)])[None]
        feeds = {v.TEXT_IDS: text, v.PROMPT_TEXT_LENGTH: np.array([prompt.text_ids.size], np.int64),
                 v.LANGUAGES: np.array([v.LANGUAGE_IDS[prompt.language],
                                        v.LANGUAGE_IDS[self.language(config)]], np.int64)}
        first = self.ar_tokens(feeds, prompt, draws, steps=config.decoder_steps,
                               fixed=bool(config.options.get("fixed_step", False)))
        return CodesUtterance(self.nar_codes(feeds, prompt, first), len(ids))

    def ar_tokens(self, feeds: dict[str, np.ndarray], prompt: VoicePrompt, sample: TokenSampler,
                  steps: int | None = None, fixed: bool = False) -> np.ndarray:
        """The first codebook, token by token: stop at EOS, or at 16 x the text's tokens (as Plachtaa's
        loop does) with a warning. `steps` forces that many tokens (EOS ignored): for timing. `fixed`: run
        the fixed-slot step graph."""
        audio = np.concatenate([[v.BOS], prompt.codes[0]]).astype(np.int64)[None]
        out = self.engine.run(v.AR_PREFILL, {**feeds, v.AUDIO_IDS: audio})
        logits, cache = out[v.LOGITS], out[v.CACHE]
        cap = int(self.params().get("max_tokens_per_text_token", 16)) * feeds[v.TEXT_IDS].shape[1]
        limit = steps if steps is not None else cap
        step = self._stepper(cache, limit, fixed)
        tokens: list[int] = []
        while True:
            token = sample(logits[0, :v.EOS] if steps is not None else logits[0])
            if token == v.EOS:
                break
            if len(tokens) >= limit:
                if steps is None:
                    warnings.warn(f"VALL-E X reached its length cap ({cap} tokens, 16 per text token) "
                                  "without EOS; the sentence is cut there", RuntimeWarning, stacklevel=3)
                break
            tokens.append(token)
            logits = step(token, audio.shape[1] + len(tokens) - 1)
        if not tokens:
            warnings.warn("VALL-E X ended the sentence before its first token (EOS at once): no audio",
                          RuntimeWarning, stacklevel=3)
        return np.asarray(tokens, np.int64)

    def _stepper(self, cache: np.ndarray, limit: int, fixed: bool):  # noqa: ANN202 -- a closure over the cache
        """The step function. `fixed`: the fixed-slot graph (static shapes, for compilers that need them),
        when the bundle has one and the sentence fits it; on CPUs the growing step is several times faster
        (docs/families/vallex.md), so it is the default."""
        state = {"cache": cache, "length": cache.shape[4]}
        slots = self.params().get("fixed_slots")
        fixed = fixed and bool(slots) and v.AR_STEP_FIXED in self.engine.sessions.sessions and \
            cache.shape[4] + limit <= int(slots)
        if fixed:
            padded = np.zeros((*cache.shape[:4], int(slots), cache.shape[5]), np.float32)
            padded[..., : cache.shape[4], :] = cache
            state["cache"] = padded

        def step(token: int, position: int) -> np.ndarray:
            feeds = {v.TOKEN: np.array([[token]], np.int64), v.POSITION: np.array([position], np.int64),
                     v.CACHE: state["cache"]}
            if fixed:
                out = self.engine.run(v.AR_STEP_FIXED, {**feeds, v.LENGTH: np.array([state["length"]], np.int64)})
            else:
                out = self.engine.run(v.AR_STEP, feeds)
            state["cache"], state["length"] = out[v.CACHE_NEXT], state["length"] + 1
            return out[v.LOGITS]

        return step

    def nar_codes(self, feeds: dict[str, np.ndarray], prompt: VoicePrompt, first: np.ndarray) -> np.ndarray:
        """Codebooks 2-8 (stages 1-7), each the argmax of a full pass over prompt + sentence."""
        p = prompt.codes.shape[1]
        codes = np.zeros((1, 8, p + first.size), np.int64)
        codes[0, :, :p] = prompt.codes
        codes[0, 0, p:] = first
        if first.size:
            for stage in range(1, 8):
                out = self.engine.run(v.NAR, {**feeds, v.CODES: codes, v.PROMPT_FRAMES: np.array([p], np.int64),
                                              v.STAGE: np.array([stage], np.int64)})
                codes[0, stage, p:] = out[v.NAR_LOGITS][0, p:].argmax(-1)
        return codes[0, :, p:]

    # --- audio ---------------------------------------------------------------------------------------
    def embed(self, codes: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.engine.run(v.CODES_EMBEDDING, {v.CODES: codes[None, :, start:stop]})[v.LATENT]

    def render(self, utterance: CodesUtterance) -> np.ndarray:
        if not utterance.n_frames:
            return np.zeros(0, np.float32)
        return self.engine.vocode(self.embed(utterance.codes))

    def stream(self, utterance: CodesUtterance, reach: Reach, first: int, size: int
               ) -> Iterator[tuple[np.ndarray, bool]]:
        if not utterance.n_frames or reach.vocoder is None:
            yield self.render(utterance), True
            return
        yield from stream_windows(lambda lo, hi: self.embed(utterance.codes, lo, hi), self.engine.vocode,
                                  utterance.n_frames, reach, hop=self.engine.hop_length, first=first, size=size)

    def frames(self, utterance: CodesUtterance) -> np.ndarray:
        """No alignment comes out of VALL-E X: the frames are spread evenly over the ids (approximate times)."""
        n = max(utterance.n_ids, 1)
        return np.diff(np.linspace(0, utterance.n_frames, n + 1).round().astype(np.int64))

    # --- receptive fields ------------------------------------------------------------------------------
    def measure_reach(self, n_frames: int = 64) -> Reach:
        """The codebook embedding is per frame (reach 0); Vocos' reach is measured on its graph."""
        channels = int(next(t for t in self.engine.sessions[v.VOCODER].inputs if t.name == v.LATENT).shape[1])
        reach = measure_frames_reached(lambda x: self.engine.vocode(x), channels, self.engine.hop_length, n_frames)
        return Reach(decoder=0, vocoder=reach)

    @classmethod
    def context(cls, manifest: Manifest, stage: str) -> int | None:
        reach = manifest.streaming
        return reach.vocoder if reach is not None and stage == v.VOCODER else None
