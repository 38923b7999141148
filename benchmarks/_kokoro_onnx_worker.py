"""One benchmarks/kokoro.py configuration on kokoro-onnx, run by kokoro-onnx's own interpreter (its venv):
this file imports neither voxport nor numpy's siblings beyond what kokoro-onnx needs, and speaks the
parent's record protocol through voxport's tools/profiling/child.py loaded by its path (stdlib only).

    PYTHON benchmarks/_kokoro_onnx_worker.py --plan PLAN.json --model MODEL.onnx [--runs K]

kokoro-onnx runs with its defaults (its `Kokoro(model, voices)` session: onnxruntime's default threads and
providers; `create` trims silence). It is given the phonemes voxport's front-end made (`is_phonemes=True`),
so neither side's G2P is timed. The order of the phases is the voxport worker's (benchmarks/_common.time_ids,
then time to first audio): load, one warm-up call, each cold sentence once, the same again, the warm
sentences repeated, then each first-audio sentence streamed once (cold) and once more (warm).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

CHILD = Path(__file__).resolve().parents[1] / "tools" / "profiling" / "child.py"
SAMPLE_RATE = 24000


def _recorder() -> Any:
    spec = importlib.util.spec_from_file_location("voxport_child", CHILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Recorder(sys.stdout)


def rss_mb(field: str = "VmRSS") -> float | None:
    """This process's resident memory (VmHWM: its peak) in MB, from /proc (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _first_audio(ko: Any, phonemes: str, voice: str) -> tuple[float, float, int]:
    """(seconds to create_stream's first chunk, to its last, samples)."""

    async def go() -> tuple[float, float, int]:
        start = time.perf_counter()
        first, samples = None, 0
        async for audio, _ in ko.create_stream(phonemes, voice, speed=1.0, lang="ja", is_phonemes=True):
            first = first if first is not None else time.perf_counter() - start
            samples += int(audio.size)
        total = time.perf_counter() - start
        return (total if first is None else first), total, samples

    return asyncio.run(go())


def work(args: argparse.Namespace, rec: Any) -> None:
    plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
    import kokoro_onnx
    import onnxruntime

    start = time.perf_counter()
    ko = kokoro_onnx.Kokoro(args.model, plan["voices"], vocab_config=plan["vocab"])
    rec.set(sample_rate=SAMPLE_RATE, load_s=time.perf_counter() - start, rss_mb=rss_mb(),
            versions=f"kokoro-onnx {kokoro_onnx.__version__ if hasattr(kokoro_onnx, '__version__') else '?'}, "
                     f"onnxruntime {onnxruntime.__version__}")
    s = plan["sentences"]
    voice = plan["voice"]
    rec.set(planned={"cold": len(s["cold"]), "cold_warm": len(s["cold"]), "warm": len(s["warm"]),
                     "first_audio": len(s["first_audio"]), "first_audio_warm": len(s["first_audio"])})

    def once(item: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        audio, _ = ko.create(item["phonemes"], voice, speed=1.0, lang="ja", is_phonemes=True)
        return {"ids": len(ko.tokenizer.tokenize(item["phonemes"])) + 2, "s": time.perf_counter() - t0,
                "samples": int(audio.size)}

    once(s["warm"][0])  # the process's one-off costs (arenas, thread pool) stay out of the cold figure
    for key in ("cold", "cold_warm"):
        for item in s["cold"]:
            rec.add(key, once(item))
    for item in s["warm"]:
        once(item)
        calls = [once(item) for _ in range(args.runs)]
        rec.add("warm", {**calls[0], "s": statistics.median(c["s"] for c in calls)})
    for key in ("first_audio", "first_audio_warm"):
        for index, item in enumerate(s["first_audio"]):
            first, total, samples = _first_audio(ko, item["phonemes"], voice)
            rec.add(key, {"text": index, "ttfa_s": first, "s": total, "audio_s": samples / SAMPLE_RATE})
    rec.set(peak_rss_mb=rss_mb("VmHWM"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rec = _recorder()
    try:
        work(args, rec)
    except ImportError as exc:
        rec.set(status="skipped",
                error=f"{exc} (this interpreter has no kokoro-onnx: pip install 'kokoro-onnx>=0.6,<0.7')")
    except Exception as exc:  # reported with what was measured before it, never raised past the parent
        traceback.print_exc()
        rec.set(status="failed", error=f"{type(exc).__name__}: {exc}")
    else:
        rec.set(status="ok", error=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
