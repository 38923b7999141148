"""What a profile runs: the configuration matrix, the texts, and the jobs handed to a measuring process."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxport.bundle import contract as c
from voxport.pipeline.engine import FRONTEND, LENGTH_REGULATION
from voxport.pipeline.sessions import parse_stage_choice
from voxport.tools.piper_monolith import MONOLITH_RUNTIME
from voxport.tools.profiling.cold import corpus_language

# Pipeline order as the engine reports it (the flow families', then Tacotron2's decoder step and postnet);
# a stage it does not name is appended after these.
STAGES: tuple[str, ...] = (FRONTEND, c.ENCODER, c.DURATION, LENGTH_REGULATION, c.DECODER, c.DECODER_STEP,
                           c.POSTNET, c.VOCODER)
# The baseline's single graph does what encoder..vocoder do; it is charted and tabled as one stage.
MONOLITH_STAGE = "monolith"

# Lengths from a greeting to a paragraph: latency percentiles mix short and long requests, the way an
# application sees them, and the long ones keep per-call Python overhead a small share of the total.
DEFAULT_TEXTS: tuple[str, ...] = (
    "Hello there.",
    "The quick brown fox jumps over the lazy dog.",
    "Streaming speech synthesis lets an assistant start talking before it has finished thinking.",
    "On a cold winter morning the old lighthouse keeper climbed the stairs once more. He counted every "
    "step, as his father had taught him, and watched the grey sea for ships.",
)
# The same ladder in Japanese, so a Japanese voice's G2P gets text it can read (written for voxport, in
# none of the corpus files the cold sentences come from).
JAPANESE_TEXTS: tuple[str, ...] = (
    "はじめまして、よろしくお願いします。",
    "小さな本屋で、古い地図の本を見つけました。",
    "音声を少しずつ送り出せば、アシスタントは答えを考え終える前に話し始めることができます。",
    "寒い冬の朝、年老いた灯台守はもう一度らせん階段を上りました。父に教わったとおりに一段ずつ数えながら、"
    "灰色の海に船の影を探しました。",
)
# By corpus_language(): a language without texts of its own (German, French, ...) gets the English ones,
# as it gets the English corpus for its cold sentences and for calibration.
TEXTS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {"en": DEFAULT_TEXTS, "ja": JAPANESE_TEXTS}

Choice = str | dict[str, str]  # one name for every stage, or stage -> name with an optional "default"


@dataclass(frozen=True)
class Configuration:
    """One cell of the matrix: which runtime and precision each stage uses, and how many threads."""

    runtime: Choice
    precision: Choice
    threads: int

    @property
    def name(self) -> str:
        return f"{format_choice(self.runtime)}/{format_choice(self.precision)}/t{self.threads}"


def parse_choice(item: str) -> Choice:
    """One configuration's runtime or precision: voxport.pipeline.sessions.parse_stage_choice, the grammar
    every command shares (pairs of one mapping joined with `;` here, since commas separate configurations)."""
    return parse_stage_choice(item, "--runtime/--precision")


def format_choice(choice: Choice) -> str:
    if isinstance(choice, str):
        return choice
    return ";".join(f"{stage}={name}" for stage, name in choice.items())


def parse_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def parse_threads(value: str | None) -> list[int]:
    try:
        counts = [int(part) for part in parse_list(value)]
    except ValueError:
        counts = [0]  # not an integer: the same one-line refusal as a count below one
    if any(n < 1 for n in counts):
        raise ValueError(f"thread counts must be >= 1, got {value!r}")
    return counts


def build_matrix(
    runtimes: Iterable[Choice], precisions: Iterable[Choice], threads: Iterable[int]
) -> list[Configuration]:
    """Every combination, threads varying fastest so neighbouring rows differ in one knob."""
    return [Configuration(r, p, t) for r, p, t in itertools.product(list(runtimes), list(precisions), list(threads))]


def default_texts(language: str = "en") -> tuple[str, ...]:
    """The built-in texts for a voice speaking `language` (Manifest.language(): "ja", "en-us", ...)."""
    return TEXTS_BY_LANGUAGE[corpus_language(language)]


def read_texts(path: str | Path) -> list[str]:
    """One text per non-blank line; a line may hold several sentences."""
    texts = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise ValueError(f"{path}: no texts (one per line)")
    return texts


def runtime_names(choice: Choice) -> list[str]:
    return [choice] if isinstance(choice, str) else sorted(set(choice.values()))


def unavailable_reason(choice: Choice) -> str | None:
    """Why a runtime choice cannot run here (the registry's own message), or None; checked before a
    process is started for it."""
    from voxport.runtimes import VoxportRuntimeError, get_backend

    for name in runtime_names(choice):
        try:
            get_backend(name)
        except VoxportRuntimeError as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


def split_job(
    config: Configuration, bundle: str, texts: list[str], runs: int, warmup: int, seed: int,
    decoder_steps: int | None = None,
) -> dict[str, Any]:
    """A JSON-ready description of one measurement of the split bundle (see measure.measure_job).
    `decoder_steps`: an autoregressive voice runs exactly that many decoder steps per sentence."""
    return {"kind": "split", "name": config.name, "bundle": bundle, "runtime": config.runtime,
            "precision": config.precision, "threads": config.threads, "texts": texts, "runs": runs,
            "warmup": warmup, "seed": seed, "decoder_steps": decoder_steps}


def baseline_job(piper: str, bundle: str, threads: int, texts: list[str], runs: int, warmup: int) -> dict[str, Any]:
    return {"kind": "baseline", "name": baseline_name(threads), "bundle": bundle, "piper": piper,
            "runtime": MONOLITH_RUNTIME, "precision": "fp32", "threads": threads, "texts": texts, "runs": runs,
            "warmup": warmup, "seed": 0}


def baseline_name(threads: int) -> str:
    return f"piper-monolith/{MONOLITH_RUNTIME}/fp32/t{threads}"


def stage_order(names: Iterable[str]) -> list[str]:
    """Known stages in pipeline order, then the baseline's, then any others alphabetically."""
    names = set(names)
    known = [s for s in (*STAGES, MONOLITH_STAGE) if s in names]
    return known + sorted(names - set(known))
