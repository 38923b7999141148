"""The baseline: the original monolithic Piper graph, on the same texts, threads and scales.

It is opened by voxport.tools.piper_monolith (voxport's own onnxruntime backend), so it gets exactly
the session options the split graphs get and its graph time comes from the same Session.stats. Text
goes through the bundle's front-end and sentences are joined as Voice joins them, so a baseline row
is text in, audio out, like every other row.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxport.pipeline.engine import FRONTEND
from voxport.tools import timing
from voxport.tools.profiling.child import Recorder
from voxport.tools.profiling.measure import measure_phases, peak_rss_mb, planned_calls, skipped
from voxport.tools.profiling.plan import MONOLITH_STAGE
from voxport.tools.timing import Deadline, Progress, Ticker


@dataclass(frozen=True)
class BaselineFile:
    """Where the Piper graph is, or why there is none; `note` goes into the report as is."""

    path: Path | None
    note: str

    @property
    def status(self) -> str:
        if self.path is not None:
            return "ok"
        return "not_applicable" if self.note.startswith("not applicable") else "not_found"


def resolve_piper_file(source: dict[str, Any], explicit: str | Path | None) -> BaselineFile:
    """The original Piper graph a bundle was built from: `explicit` if given, else the recorded origin
    path, else the default voice's file when the bundle was built from it."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            return BaselineFile(None, f"Piper graph not found: {path} (given with --piper)")
        return BaselineFile(path, _hash_note(path, source))
    if source.get("kind") != "piper":
        return BaselineFile(None, f"not applicable: the bundle was not built from a Piper voice "
                                  f"(source kind {source.get('kind')!r}); pass --piper FILE to compare anyway")
    candidates = [Path(source["origin"])] if source.get("origin") else []
    try:
        from voxport.bundle.default_voice import default_voice_files

        default = default_voice_files()[0]
        if default.name == source.get("file"):
            candidates.append(default)
    except Exception:  # the voice package is optional for a custom bundle
        pass
    for path in candidates:
        if path.is_file():
            return BaselineFile(path, _hash_note(path, source))
    tried = ", ".join(str(p) for p in candidates) or "no path recorded in the manifest"
    return BaselineFile(None, f"Piper graph {source.get('file')!r} not found (looked at: {tried}); "
                              "pass --piper FILE")


def _hash_note(path: Path, source: dict[str, Any]) -> str:
    recorded = source.get("sha256")
    if not recorded:
        return f"{path} (the manifest records no sha256 to check it against)"
    from voxport.bundle import sha256_file

    if sha256_file(path) != recorded:
        return f"{path} (WARNING: not the file the bundle was built from: its sha256 differs)"
    return f"{path} (sha256 matches the bundle's source)"


class _Baseline:
    """Piper's graph with the bundle's front-end, scales and sentence silence: text to audio the way
    Voice.synthesize does it, timing the front-end and the first sentence on the way."""

    def __init__(self, job: dict[str, Any]) -> None:
        from voxport.audio import silence
        from voxport.bundle import Bundle
        from voxport.synthesis import DEFAULT_SENTENCE_SILENCE
        from voxport.text.frontend import TextFrontend
        from voxport.tools.piper_monolith import PiperMonolith

        manifest = Bundle.load(job["bundle"], verify=False).manifest
        self.sample_rate = manifest.sample_rate
        self.scales = manifest.inference  # the voice's defaults, as Voice uses them without a config
        self.gap = silence(DEFAULT_SENTENCE_SILENCE, manifest.sample_rate)
        self.frontend = TextFrontend.from_manifest(manifest)
        self.monolith, load_s = timing.timed(lambda: PiperMonolith.open(
            job["piper"], threads=job["threads"], multi_speaker=manifest.num_speakers > 1))
        self.load_ms = 1000 * load_s
        self.last_first_audio: dict[str, Any] | None = None

    def sample(self, text: str, index: int) -> dict[str, Any]:
        """One timed sample of `text` (number `index`); its first audio is kept in `last_first_audio`."""
        sample = self.synthesize(text)
        first, first_stages = sample.pop("first_ms"), sample.pop("first_stages_ms")
        self.last_first_audio = None if first is None else {"text": index, "ttfa_ms": first,
                                                             "stages_ms": first_stages}
        return {"text": index, **sample}

    def first_audio(self, text: str, index: int) -> dict[str, Any] | None:
        self.sample(text, index)
        return self.last_first_audio

    def synthesize(self, text: str) -> dict[str, Any]:
        """One sample; `first_ms` is the first sentence's audio (a monolith's first audio)."""
        from voxport.audio import join_sentences

        stats = self.monolith.stats
        stats.reset()
        gc.collect()
        timing: dict[str, Any] = {"front": 0.0, "first": None, "first_stages": {}}
        begin = time.perf_counter()

        def sentences() -> Iterator[np.ndarray]:
            steps = self.frontend.text_to_ids(text)
            while True:
                t = time.perf_counter()
                item = next(steps, None)
                timing["front"] += time.perf_counter() - t
                if item is None:
                    return
                audio = self.monolith.synthesize_ids(item[2], self.scales)
                if timing["first"] is None:
                    timing["first"] = time.perf_counter() - begin
                    timing["first_stages"] = {FRONTEND: 1000 * timing["front"], MONOLITH_STAGE: 1000 * stats.total_s}
                yield audio

        audio = join_sentences(sentences(), self.gap)
        elapsed = time.perf_counter() - begin
        graph_ms = 1000 * stats.total_s
        first = timing["first"]
        return {"end_to_end_ms": 1000 * elapsed, "audio_s": audio.size / self.sample_rate,
                "first_ms": None if first is None else 1000 * first, "first_stages_ms": timing["first_stages"],
                "stages_ms": {FRONTEND: 1000 * timing["front"], MONOLITH_STAGE: graph_ms},
                "graph_ms": {MONOLITH_STAGE: graph_ms}, "graph_calls": {MONOLITH_STAGE: stats.count}}


def measure_baseline(job: dict[str, Any], recorder: Recorder | None = None,
                     progress: Progress | None = None, deadline: Deadline | None = None) -> dict[str, Any]:
    """The baseline's samples into `recorder`, in the order measure.measure_split takes them (and,
    like it, stopped between texts once `deadline` has passed): both run measure.measure_phases."""
    rec = recorder or Recorder()
    try:
        baseline = _Baseline(job)
    except Exception as exc:
        rec.set(**skipped(exc))
        return rec.result
    rec.set(load_ms=baseline.load_ms, bundle_bytes=Path(job["piper"]).stat().st_size)
    with baseline.monolith:
        try:
            _, first_call_s = timing.timed(lambda: baseline.synthesize(job["texts"][0]))
            rec.set(first_call_ms=1000 * first_call_s)
        except Exception as exc:
            rec.set(**skipped(exc))
            return rec.result
        # For a monolith the first audio is the whole first sentence: in the timed rounds it is read
        # from the sample's own call instead of synthesizing the text a second time.
        if not measure_phases(job, rec, Ticker(planned_calls(job), progress, deadline), baseline.sample,
                              baseline.first_audio, baseline.synthesize,
                              first_audio_of_sample=lambda text, index: baseline.last_first_audio):
            return rec.result
    rec.set(peak_rss_mb=peak_rss_mb(), status="ok", error=None)
    return rec.result
