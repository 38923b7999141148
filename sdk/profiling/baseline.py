"""The baseline: the original monolithic Piper graph, on the same ids, threads and scales.

It runs through voxport's own onnxruntime backend, so it gets exactly the session options the split
graphs get (threads, no spinning, ORT_ENABLE_ALL) and its time comes from the same Session.stats.
The phoneme ids come from the bundle's front-end, timed the same way, so a baseline row is text in,
audio out, like every other row.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxport.profiling.measure import FRONTEND, Progress, peak_rss_mb, skipped
from voxport.profiling.plan import MONOLITH_STAGE


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
        from voxport.default_voice import default_voice_files

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


def frontend_for(manifest: Any) -> Any:
    """The bundle's text front-end, built the way Voice builds it, without opening any graph."""
    from voxport.frontend import TextFrontend

    return TextFrontend.from_manifest(manifest)


def _open_monolith(path: str, threads: int, multi_speaker: bool) -> Any:
    from voxport.runtimes import RuntimeOptions, TensorSpec, get_backend

    inputs = [TensorSpec("input", "int64", ("batch", "phonemes")), TensorSpec("input_lengths", "int64", ("batch",)),
              TensorSpec("scales", "float32", (3,))]
    if multi_speaker:
        inputs.append(TensorSpec("sid", "int64", ("batch",)))
    outputs = [TensorSpec("output", "float32", ("batch", 1, 1, "samples"))]
    return get_backend("cpu").open(path, inputs, outputs, "fp32", RuntimeOptions(threads=threads), "piper")


def measure_baseline(job: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    from voxport.audio import silence
    from voxport.bundle import Bundle

    texts = job["texts"]
    try:
        manifest = Bundle.load(job["bundle"], verify=False).manifest
        frontend = frontend_for(manifest)
        start = time.perf_counter()
        session = _open_monolith(job["piper"], job["threads"], manifest.num_speakers > 1)
        load_ms = 1000 * (time.perf_counter() - start)
    except Exception as exc:
        return skipped(exc)
    inf = manifest.inference
    # Piper's order: noise_scale, length_scale, noise_w; the same defaults Engine.scales uses.
    scales = np.array([inf.get("noise_scale", 0.667), inf.get("length_scale", 1.0), inf.get("noise_w", 0.8)],
                      np.float32)
    gap = silence(0.2, manifest.sample_rate)  # Voice's default sentence_silence
    extra = {"sid": np.zeros(1, np.int64)} if manifest.num_speakers > 1 else {}

    def synthesize(text: str) -> dict[str, Any]:
        """Text to audio sentence by sentence, as Voice.synthesize does; first audio = first sentence."""
        session.stats.reset()
        gc.collect()
        front, first, first_stages, pieces = 0.0, None, {}, []
        begin = time.perf_counter()
        sentences = frontend.text_to_ids(text)
        while True:
            t = time.perf_counter()
            item = next(sentences, None)
            front += time.perf_counter() - t
            if item is None:
                break
            ids = item[2]
            feeds = {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                     "scales": scales, **extra}
            audio = session.run(feeds)["output"].reshape(-1)
            if first is None:
                first = time.perf_counter() - begin
                first_stages = {FRONTEND: 1000 * front, MONOLITH_STAGE: 1000 * session.stats.total_s}
            if pieces and gap.size:
                pieces.append(gap)
            pieces.append(audio)
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        elapsed = time.perf_counter() - begin
        graph_ms = 1000 * session.stats.total_s
        return {"end_to_end_ms": 1000 * elapsed, "audio_s": audio.size / manifest.sample_rate,
                "first_ms": None if first is None else 1000 * first, "first_stages_ms": first_stages,
                "stages_ms": {FRONTEND: 1000 * front, MONOLITH_STAGE: graph_ms},
                "graph_ms": {MONOLITH_STAGE: graph_ms}, "graph_calls": {MONOLITH_STAGE: session.stats.count}}

    total = (job["warmup"] + job["runs"]) * len(texts)
    done = 0
    with session:
        try:
            start = time.perf_counter()
            synthesize(texts[0])
            first_call_ms = 1000 * (time.perf_counter() - start)
            for _ in range(job["warmup"]):
                for text in texts:
                    synthesize(text)
                    done += 1
                    _tick(progress, done, total)
        except Exception as exc:
            return skipped(exc)
        samples, ttfa = [], []
        try:
            for _ in range(job["runs"]):
                for index, text in enumerate(texts):
                    sample = synthesize(text)
                    first, first_stages = sample.pop("first_ms"), sample.pop("first_stages_ms")
                    samples.append({"text": index, **sample})
                    if first is not None:
                        # For a monolith the first audio is the whole first sentence.
                        ttfa.append({"text": index, "ttfa_ms": first, "stages_ms": first_stages})
                    done += 1
                    _tick(progress, done, total)
        except Exception as exc:
            return skipped(exc, "failed")
    size = Path(job["piper"]).stat().st_size
    return {"status": "ok", "error": None, "load_ms": load_ms, "first_call_ms": first_call_ms,
            "peak_rss_mb": peak_rss_mb(), "bundle_bytes": size, "samples": samples, "ttfa": ttfa}


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
