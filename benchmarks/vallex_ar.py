"""VALL-E X AR step latency: voxport's step graphs (onnxruntime, OpenVINO) against Plachtaa's own torch loop
with its KV cache, at the released size (d 1024, 16 heads, 12 layers), random weights.

Random weights never stop on their own, so both sides run the same fixed number of tokens, teacher-forced
with the same token sequence. Plachtaa's side replays the body of `VALLE.inference`'s loop (embedding and
positions of the whole audio so far, the mask, `ar_decoder.infer(past_kv=...)`, the prediction layer) one
token at a time; the time per token excludes sampling on both sides.

    VALLEX_CHECKOUT=/path/to/VALL-E-X python benchmarks/vallex_ar.py [--tokens 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def plachtaa_loop(ref, text: torch.Tensor, prompt: torch.Tensor, tokens: torch.Tensor) -> list[float]:  # noqa: ANN001
    """Seconds per token of Plachtaa's cached loop (prefill excluded: the first call fills the cache)."""
    x = ref.ar_text_position(ref.ar_text_embedding(text) + ref.ar_language_embedding(torch.tensor([0])))
    x_len = x.shape[1]
    x_mask = torch.zeros((x_len, x_len), dtype=torch.bool)
    y = F.pad(prompt, (1, 0), value=1025)
    cache, times = None, []
    for i in range(tokens.numel() + 1):
        start = time.perf_counter()
        y_pos = ref.ar_audio_position(ref.ar_audio_embedding(y))
        xy = torch.concat([x, y_pos], dim=1)
        y_len = y.shape[1]
        mask = torch.concat([F.pad(x_mask, (0, y_len), value=True),
                             F.pad(torch.triu(torch.ones(y_len, y_len, dtype=torch.bool), diagonal=1),
                                   (x_len, 0), value=False)], dim=0)
        if cache is not None:
            xy = xy[:, [-1]]
        dec, cache = ref.ar_decoder.infer(xy, mask=mask, past_kv=cache, use_cache=True)
        ref.ar_predict_layer(dec[:, -1])
        if i:
            times.append(time.perf_counter() - start)
        if i < tokens.numel():
            y = torch.concat([y, tokens[i].view(1, 1)], dim=1)
    return times


def graph_loop(run_prefill, run_step, feeds: dict, tokens: np.ndarray, start: int, slots: int | None
               ) -> list[float]:
    out = run_prefill(feeds)
    cache = out[1]
    length = cache.shape[4]
    if slots:
        padded = np.zeros((*cache.shape[:4], slots, cache.shape[5]), np.float32)
        padded[..., :length, :] = cache
        cache = padded
    times = []
    for i, token in enumerate(tokens):
        step = {"token": np.array([[token]], np.int64), "position": np.array([start + i], np.int64), "cache": cache}
        if slots:
            step["length"] = np.array([length + i], np.int64)
        t = time.perf_counter()
        cache = run_step(step)[1]
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--text", type=int, default=40)
    p.add_argument("--prompt", type=int, default=150)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.environ["VALLEX_CHECKOUT"])
    from models.vallex import VALLE

    from voxport.export.onnx_export import export_graph
    from voxport.export.vallex.graphs import fixed_step_spec, prefill_spec, step_spec
    from voxport.export.vallex.model import Vallex

    torch.manual_seed(0)
    ref = VALLE(1024, 16, 12, norm_first=True, add_prenet=False, prefix_mode=1, share_embedding=True,
                nar_scale_factor=1.0, prepend_bos=True, num_quantizers=8).eval()
    mine = Vallex().eval()
    mine.load_state_dict(ref.state_dict())
    rng = np.random.default_rng(0)
    text = rng.integers(0, 2048, (1, args.text))
    prompt = rng.integers(0, 1024, (1, args.prompt))
    tokens = rng.integers(0, 1024, args.tokens)
    slots = args.text + 1 + args.prompt + args.tokens
    feeds = {"text_ids": text, "prompt_text_length": np.array([0]), "languages": np.array([0, 0]),
             "audio_ids": np.concatenate([[[1025]], prompt], axis=1)}
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in (prefill_spec(mine), step_spec(mine), fixed_step_spec(mine, slots)):
            export_graph(spec, Path(tmp) / f"{spec.name}.onnx")
        loops = _runtimes(Path(tmp), feeds, tokens, args, slots)
        loops["plachtaa torch (KV cache)"] = lambda: plachtaa_loop(
            ref, torch.from_numpy(text), torch.from_numpy(prompt), torch.from_numpy(tokens))
        # Rounds interleave the contenders, so a shared machine's load falls on all of them alike.
        for _ in range(args.rounds):
            for name, loop in loops.items():
                with torch.no_grad():
                    results.setdefault(name, []).extend(loop())
    theirs = results["plachtaa torch (KV cache)"]
    base = float(np.median(theirs))
    print(f"AR step, d 1024 x 12 layers, random weights, {args.tokens} forced tokens after {args.text} text + "
          f"{args.prompt} prompt frames, {args.threads} threads")
    for name, times in results.items():
        med = float(np.median(times))
        print(f"  {name:40s} median {1000 * med:8.2f} ms/token   x Plachtaa {med / base:5.2f}")


def _runtimes(tmp: Path, feeds: dict, tokens: np.ndarray, args: argparse.Namespace, slots: int) -> dict:
    """name -> a loop over the tokens giving seconds per token."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads

    def session(name: str):  # noqa: ANN202
        s = ort.InferenceSession(str(tmp / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])
        return lambda f: s.run(None, f)

    start = args.prompt + 1
    prefill, step, fixed = session("ar_prefill"), session("ar_step"), session("ar_step_fixed")
    out = {"onnxruntime ar_step (growing cache)": lambda: graph_loop(prefill, step, feeds, tokens, start, None),
           "onnxruntime ar_step_fixed": lambda: graph_loop(prefill, fixed, feeds, tokens, start, slots)}
    try:
        import openvino as ov
    except ImportError:
        return out
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": args.threads, "INFERENCE_PRECISION_HINT": "f32"}

    def compiled(name: str):  # noqa: ANN202
        c = core.compile_model(str(tmp / f"{name}.onnx"), "CPU", config)
        return lambda f: list(c(f).values())

    ov_prefill, ov_fixed = compiled("ar_prefill"), compiled("ar_step_fixed")
    out["openvino ar_step_fixed"] = lambda: graph_loop(ov_prefill, ov_fixed, feeds, tokens, start, slots)
    return out

if __name__ == "__main__":
    main()
