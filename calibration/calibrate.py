"""`voxport calibrate`: capture, build each stage's reduced-precision candidates, time them, gate them
on measured quality, install the fastest policy that passes, whatever its kind.

Policy from measurement, not assumption: each stage's candidates (int8 and, on OpenVINO, int8 with a
bf16 remainder, bf16 and fp16, each float one as exported and with polyphase upsampling) are timed on
this machine, cold (sentences the session has not seen) and warm, then judged alone against fp32 from
the fastest cold time down; a stage keeps the fastest candidate that passes, or fp32. The chosen
stages are then judged together, demoting the worst until the combination passes. A policy with no
int8 stage (bf16 only, say) is as valid as any; calibration is refused only when no stage passed in
any reduced precision. The report says which candidate failed which threshold, and what each would
have saved.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from voxport.bundle import sha256_file
from voxport.calibration.candidates import CandidateSet, quantize_candidates
from voxport.calibration.capture import cached_capture
from voxport.calibration.corpus import corpus_for, read_sentences
from voxport.calibration.gate import Evaluation, Gate, GateThresholds
from voxport.calibration.install import install
from voxport.calibration.plan import english, plan_of
from voxport.calibration.report import REPORT_SCHEMA, write_reports
from voxport.calibration.search import PolicySearch, ladders, passed_alone, precision_of
from voxport.calibration.timing import pick_sentences, time_candidates, timing_feeds
from voxport.pipeline.precision import DEFAULT_RUNTIME
from voxport.runtimes import canonical_runtime
from voxport.voice import Voice

GATED_RUNTIMES = ("onnxruntime", "openvino")
OPENVINO_METHOD = "equalized, GPTQ weights, least-squares activation ranges"

Say = Callable[[str], None]


class CalibrationRefused(RuntimeError):
    """No stage passed the quality gate in any reduced precision; the report says why. The bundle keeps
    its fp32 graphs only."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Texts:
    corpus: Path
    heldout: Path
    sentences: list[str]  # calibration: what the stages are captured on
    evaluation: list[str]  # held out: what the gate judges on


def gated_runtime(runtime: str) -> str:
    """The canonical name of a runtime calibrate can gate, or an error that says why not."""
    name = canonical_runtime(runtime)
    if name == "tensorrt":
        raise NotImplementedError(
            "TensorRT int8 needs explicit Q/DQ engines built and gated on a GPU with TensorRT; voxport cannot run "
            "that gate here. The QDQ graphs from `--runtime onnxruntime` are the starting point for it."
        )
    if name not in GATED_RUNTIMES:
        raise ValueError(f"calibrate supports runtimes {GATED_RUNTIMES}, not {runtime!r}")
    return name


def read_texts(corpus: str | Path | None, heldout: str | Path | None, max_sentences: int | None,
               language: str = "en-us") -> Texts:
    """The corpus and held-out sentences given, else the shipped ones of the voice's `language`."""
    default_corpus, default_heldout = corpus_for(language)
    corpus_path, heldout_path = Path(corpus or default_corpus), Path(heldout or default_heldout)
    # A shortened corpus (tests, quick runs) is judged on proportionally fewer held-out sentences.
    evaluation = read_sentences(heldout_path)[: max_sentences and max(4, max_sentences // 8)]
    return Texts(corpus_path, heldout_path, read_sentences(corpus_path)[:max_sentences], evaluation)


def recognizer_for(voice: Voice, check_wer: bool, say: Say):  # noqa: ANN201  (Recognizer | None; lazy import)
    """The WER proxy's recognizer, when asked for and the voice speaks English (PocketSphinx's model is
    US English): other languages are judged by MCD and durations against fp32 alone, said once."""
    if not check_wer:
        return None
    if not english(voice):
        say(f"no WER: the recognizer is US English and this voice speaks {voice.manifest.language()}; judged by "
            "MCD and durations against fp32")
        return None
    from voxport.calibration.asr import Recognizer

    return Recognizer()


def search_step(voice: Voice, candidates: CandidateSet, speed: dict[str, dict], texts: Texts, *, seed: int,
                thresholds: GateThresholds, check_wer: bool, require_speedup: bool,
                say: Say) -> tuple[dict[str, str], list[Evaluation]]:
    """Gate the timed candidates against the fp32 voice: stage -> the candidate it keeps (the stages
    that keep one), and every judgement made on the way."""
    recognizer = recognizer_for(voice, check_wer, say)
    say(f"fp32 reference on {len(texts.evaluation)} held-out sentences")
    gate = Gate(voice, texts.evaluation, seed, thresholds, recognizer)

    def evaluate(name: str, chosen: dict[str, str]) -> Evaluation:
        with candidates.open(chosen) as sessions:
            return gate.evaluate(name, sessions, chosen)

    times = {stage: {"fp32": s["fp32_ms"], **s["candidates_ms"]} for stage, s in speed.items()}
    search = PolicySearch(ladders(speed, require_speedup), evaluate, say, times)
    return search.run(), search.evaluations


def policy_kind(precisions: dict[str, str]) -> str:
    """What a policy is made of, for people: "bf16 only", "int8-bf16 + bf16", "fp32 only" (refused)."""
    reduced = sorted({p for p in precisions.values() if p != "fp32"})
    return " + ".join(reduced) + (" only" if len(reduced) == 1 else "") if reduced else "fp32 only"


def build_report(voice: Voice, runtime: str, texts: Texts, chosen: dict[str, str], evaluations: list[Evaluation],
                 speed: dict[str, dict], notes: list[str], *, seed: int, method: str,
                 thresholds: GateThresholds) -> dict[str, Any]:
    """The JSON report; `chosen` is stage -> candidate for the stages that keep one."""
    graphs = {s: chosen.get(s, "fp32") for s in voice.bundle.stages}
    precisions = {s: precision_of(g) for s, g in graphs.items()}
    for stage, s in speed.items():
        s["chosen"] = graphs[stage]
        s["chosen_ms"] = s["candidates_ms"].get(graphs[stage], s["fp32_ms"])
    return {
        "schema_version": REPORT_SCHEMA,
        "bundle": voice.manifest.name,
        "runtime": runtime,
        "seed": seed,
        "method": method,
        "corpus": {"file": texts.corpus.name, "sentences": len(texts.sentences), "sha256": sha256_file(texts.corpus)},
        "heldout": {"file": texts.heldout.name, "sentences": len(texts.evaluation)},
        "thresholds": asdict(thresholds),
        "evaluations": [e.to_dict() for e in evaluations],
        "result": {
            "precisions": precisions,
            "candidates": graphs,  # which graph each precision runs ("+polyphase": the rewritten one)
            "kind": policy_kind(precisions),
            "reduced_stages": [s for s, p in precisions.items() if p != "fp32"],
            "int8_stages": sorted(s for s, p in precisions.items() if p.startswith("int8")),
            "fp32_stages": [s for s, p in precisions.items() if p == "fp32"],
        },
        "speed": speed,
        "notes": notes,
    }


def calibrate(
    bundle_dir: str | Path,
    runtime: str = DEFAULT_RUNTIME,
    *,
    corpus: str | Path | None = None,
    heldout: str | Path | None = None,
    seed: int = 0,
    method: str = "percentile",
    stages: tuple[str, ...] | None = None,
    thresholds: GateThresholds | None = None,
    max_sentences: int | None = None,
    check_wer: bool = True,
    threads: int | None = None,
    require_speedup: bool = True,
    allow_duration_shift: bool = False,
    progress: Say | None = None,
) -> dict[str, Any]:
    """Write the graphs of the fastest configuration that passes the gate into the bundle, with a report.

    `runtime` is "onnxruntime" (alias "cpu") or "openvino"; the bundle records the result under its
    canonical name, and `Voice.load(..., precision="calibrated")` loads it. `stages`: the family plan's
    by default. The shipped corpus is the voice's language's where there is one (calibration/data).
    Raises CalibrationRefused (report attached) when no stage passes in any reduced precision.
    """
    runtime = gated_runtime(runtime)
    thresholds = thresholds or GateThresholds()
    if allow_duration_shift:  # the gate's opt-in policy for stages that move durations (see calibration.gate)
        thresholds = replace(thresholds, allow_duration_shift=True)
    say = progress or (lambda message: None)
    bundle_dir = Path(bundle_dir)
    described = method if runtime == "onnxruntime" else OPENVINO_METHOD
    work = bundle_dir / "calibration" / f"candidates-{runtime}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        with Voice.load(bundle_dir, threads=threads) as voice:
            plan = plan_of(voice)
            texts = read_texts(corpus, heldout, max_sentences, voice.manifest.language())
            captured = cached_capture(voice, texts.sentences, seed, bundle_dir / "calibration", say)
            candidates = quantize_candidates(voice.bundle, runtime, stages or plan.stages, captured, method=method,
                                             seed=seed, threads=threads, work=work, say=say, plan=plan)
            feeds = timing_feeds(voice, pick_sentences(texts.sentences), seed)
            speed = time_candidates(candidates, feeds, voice.manifest, say)
            chosen, evaluations = search_step(voice, candidates, speed, texts, seed=seed, thresholds=thresholds,
                                              check_wer=check_wer, require_speedup=require_speedup, say=say)
            report = build_report(voice, runtime, texts, chosen, evaluations, speed, candidates.notes, seed=seed,
                                  method=described, thresholds=thresholds)
        write_reports(bundle_dir, runtime, report)
        if not report["result"]["reduced_stages"]:
            raise CalibrationRefused(_refusal(report), report)
        install(bundle_dir, runtime, {s: candidates.files[s][g] for s, g in chosen.items()},
                report["result"]["precisions"], seed=seed, method=described, passed=passed_alone(evaluations))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _refusal(report: dict[str, Any]) -> str:
    judged = len(report["evaluations"])
    if not judged:
        return ("no candidate was faster than fp32 on this machine (cold), so none was gated; see the "
                "calibration report's latency table")
    return f"no stage passed the quality gate in any reduced precision ({judged} judged); see the calibration report"
