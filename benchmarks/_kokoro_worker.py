"""The benchmarks/kokoro.py rows that do not run voxport, each in its own interpreter (a venv of its own):
kokoro-onnx (`--engine onnx`) and the `kokoro` package's KModel on torch (`--engine kmodel`). This file imports
nothing of voxport: it speaks the parent's record protocol through tools/profiling/child.py, loaded by its
path (stdlib only).

    PYTHON benchmarks/_kokoro_worker.py --engine onnx --plan PLAN.json --model MODEL.onnx [--runs K]
    PYTHON benchmarks/_kokoro_worker.py --engine kmodel --plan PLAN.json [--runs K]

Both run with their defaults. kokoro-onnx: its `Kokoro(model, voices)` session (onnxruntime's default threads
and providers), `create` trims silence, given the phonemes voxport's front-end made (`is_phonemes=True`), so no
G2P is timed; first audio is `create_stream`'s first chunk. KModel: `KModel(config, model)` on the checkpoint
benchmarks/_kokoro_prepare.py wrote (the int8 file's weights dequantized by voxport, in kokoro's layout),
`forward_with_tokens` on voxport's ids (torch's default threads); it has no streaming call, so its first
audio is the whole sentence. The phases run in the voxport worker's order (benchmarks/_common.time_ids, then
time to first audio): load, one warm-up call, each cold sentence once, the same again, the warm sentences
repeated, then each first-audio sentence once (cold) and once more (warm).
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
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
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


class OnnxEngine:
    """kokoro-onnx with its defaults."""

    def __init__(self, args: argparse.Namespace, plan: dict[str, Any]) -> None:
        import kokoro_onnx
        import onnxruntime

        self.ko = kokoro_onnx.Kokoro(args.model, plan["voices"], vocab_config=plan["vocab"])
        self.voice = plan["voice"]
        self.versions = f"kokoro-onnx {_version('kokoro-onnx')}, onnxruntime {onnxruntime.__version__}"

    def once(self, item: dict[str, Any]) -> tuple[int, int]:
        audio, _ = self.ko.create(item["phonemes"], self.voice, speed=1.0, lang="ja", is_phonemes=True)
        return len(self.ko.tokenizer.tokenize(item["phonemes"])) + 2, int(audio.size)

    def first_audio(self, item: dict[str, Any]) -> tuple[float, float, int]:
        """(seconds to create_stream's first chunk, to its last, samples)."""

        async def go() -> tuple[float, float, int]:
            start = time.perf_counter()
            first, samples = None, 0
            async for audio, _ in self.ko.create_stream(item["phonemes"], self.voice, speed=1.0, lang="ja",
                                                        is_phonemes=True):
                first = first if first is not None else time.perf_counter() - start
                samples += int(audio.size)
            total = time.perf_counter() - start
            return (total if first is None else first), total, samples

        return asyncio.run(go())


class KModelEngine:
    """The `kokoro` package's KModel on torch, with its defaults, on voxport's ids."""

    def __init__(self, args: argparse.Namespace, plan: dict[str, Any]) -> None:
        import numpy as np
        import torch

        _stub_misaki()
        # This script's folder holds benchmarks/kokoro.py, which would shadow the `kokoro` package.
        here = Path(__file__).resolve().parent
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
        from kokoro.model import KModel

        self.torch = torch
        self.model = KModel(repo_id="hexgrad/Kokoro-82M", config=plan["kmodel_config"],
                            model=plan["kmodel_checkpoint"]).eval()
        # KModel falls back to a non-strict load that would leave a misnamed tensor random: load strictly again,
        # so a mismatch fails this row instead of timing random weights.
        for part, state in torch.load(plan["kmodel_checkpoint"], map_location="cpu", weights_only=True).items():
            getattr(self.model, part).load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
        self.pack = np.load(plan["voices"])[plan["voice"]]  # [510, 1, 256]
        self.versions = f"kokoro {_version('kokoro')}, torch {torch.__version__}, threads {torch.get_num_threads()}"

    def once(self, item: dict[str, Any]) -> tuple[int, int]:
        ids = item["ids"]
        ref_s = self.torch.from_numpy(self.pack[len(ids) - 3])  # kokoro: the pack's row len(phonemes) - 1
        with self.torch.no_grad():
            audio, _ = self.model.forward_with_tokens(self.torch.tensor([ids]), ref_s, 1.0)
        return len(ids), int(audio.numel())

    def first_audio(self, item: dict[str, Any]) -> tuple[float, float, int]:
        start = time.perf_counter()
        _, samples = self.once(item)
        total = time.perf_counter() - start
        return total, total, samples


def _stub_misaki() -> None:
    """kokoro's package __init__ imports its G2P (misaki), which KModel never uses: a stand-in when absent."""
    try:
        import misaki  # noqa: F401
    except ImportError:
        import types

        stub = types.ModuleType("misaki")
        stub.en = stub.espeak = types.SimpleNamespace(MToken=object, G2P=object, EspeakFallback=object,  # type: ignore[attr-defined]
                                                      EspeakG2P=object)
        sys.modules["misaki"] = stub


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


def work(args: argparse.Namespace, rec: Any) -> None:
    plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
    start = time.perf_counter()
    engine = (OnnxEngine if args.engine == "onnx" else KModelEngine)(args, plan)
    rec.set(sample_rate=SAMPLE_RATE, load_s=time.perf_counter() - start, rss_mb=rss_mb(), versions=engine.versions)
    s = plan["sentences"]
    rec.set(planned={"cold": len(s["cold"]), "cold_warm": len(s["cold"]), "warm": len(s["warm"]),
                     "first_audio": len(s["first_audio"]), "first_audio_warm": len(s["first_audio"]),
                     "paragraph": len(s.get("paragraphs", [])) if args.engine == "onnx" else 0})

    def once(item: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        ids, samples = engine.once(item)
        return {"ids": ids, "s": time.perf_counter() - t0, "samples": samples}

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
            first, total, samples = engine.first_audio(item)
            rec.add(key, {"text": index, "ttfa_s": first, "s": total, "audio_s": samples / SAMPLE_RATE})
    # KModel has no streaming call: its first audio on a paragraph would be the paragraph; not measured.
    for index, item in enumerate(s.get("paragraphs", []) if args.engine == "onnx" else []):
        first, total, samples = engine.first_audio(item)
        rec.add("paragraph", {"text": index, "ttfa_s": first, "s": total, "audio_s": samples / SAMPLE_RATE})
    rec.set(peak_rss_mb=rss_mb("VmHWM"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--engine", choices=("onnx", "kmodel"), required=True)
    parser.add_argument("--model", help="the .onnx file (--engine onnx)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rec = _recorder()
    try:
        work(args, rec)
    except ImportError as exc:
        rec.set(status="skipped",
                error=f"{exc} (this interpreter lacks what --engine {args.engine} needs: see benchmarks/kokoro.py)")
    except Exception as exc:  # reported with what was measured before it, never raised past the parent
        traceback.print_exc()
        rec.set(status="failed", error=f"{type(exc).__name__}: {exc}")
    else:
        rec.set(status="ok", error=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
