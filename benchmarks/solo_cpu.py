"""Process CPU seconds per second of audio: a voice's streaming paths against whole-sentence synthesis.

    .venv/bin/python benchmarks/solo_cpu.py [--threads 2] [--requests 30] [--sentences 1] [--modes ...]

Wall-clock ratios taken on a machine that others share are no A/B, but the CPU a process spends on a
request barely changes with load (onnxruntime's threads do not spin in voxport: an idle thread sleeps and
costs nothing). So each mode synthesizes its own never-repeated requests (benchmarks/_serve_clients.py:
`--sentences` corpus sentences per request, no text twice in the run), the modes taking turns request by
request so that drift hits them alike, and the table gives per mode the sum of the process's CPU time
(time.process_time: every thread) over the sum of the audio seconds, and the same for wall time (only
meaningful on a quiet machine). Modes:

    stream   Voice.stream with its default windows (what a one-thread worker copy runs)
    whole    Voice.iter_sentences: each sentence in one decoder and one vocoder call (wyoming-piper's way)
    solo     Voice.stream with the lone request's pacing (voxport.pipeline.pacing.AheadPacing)

The sum over the stage calls' wall time (Engine hooks) is split per stage, to see where a mode's extra
cost lies. `--spinning` lets onnxruntime's idle threads busy-wait (its own default, and wyoming-piper's;
voxport's is off): that costs CPU by design, so compare its wall column with a run without it, on a quiet
machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _serve_clients import unseen_sentences  # noqa: E402


def run_mode(voice: Any, mode: str, text: str) -> tuple[int, float, int]:
    """Synthesize `text` the way `mode` does: (samples, seconds to the first audio, sentences rendered whole
    by the pacing)."""
    start, first, samples, pacing = time.perf_counter(), None, 0, None
    if mode == "whole":
        pieces = (s.audio for s in voice.iter_sentences(text, seed=0))
    elif mode == "stream":
        pieces = (c.audio for c in voice.stream(text, seed=0))
    elif mode == "solo":
        from voxport.pipeline.pacing import AheadPacing

        pacing = AheadPacing()
        pieces = (c.audio for c in voice.stream(text, seed=0, pacing=pacing))
    else:
        raise ValueError(f"unknown mode {mode!r}")
    for audio in pieces:
        if first is None and audio.size:
            first = time.perf_counter() - start
        samples += audio.size
    return samples, first or 0.0, pacing.whole_sentences if pacing is not None else 0


def load_voice(threads: int, spinning: bool) -> Any:
    """The default voice as `Voice.load` opens it, with spinning threads if asked."""
    from voxport.voice import Voice

    if not spinning:
        return Voice.load(threads=threads, progress=False)
    from voxport.bundle import Bundle
    from voxport.bundle.default_voice import ensure_default_bundle
    from voxport.pipeline.sessions import StageSessions
    from voxport.pipeline.shaped import unpadded_stages
    from voxport.runtimes import RuntimeOptions

    bundle = Bundle.load(ensure_default_bundle(progress=False))
    options = RuntimeOptions(threads=threads, extra={"allow_spinning": True})
    return Voice(bundle, StageSessions.open(bundle, options=options,
                                            unpadded=unpadded_stages(bundle, "onnxruntime", None)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="the voice's threads (default %(default)s)")
    p.add_argument("--requests", type=int, default=30, help="requests per mode (default %(default)s)")
    p.add_argument("--sentences", type=int, default=1, help="sentences per request (default %(default)s)")
    p.add_argument("--modes", default="stream,whole,solo", help="comma-separated (default %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="sentence draw (default %(default)s)")
    p.add_argument("--spinning", action="store_true", help="onnxruntime's idle threads busy-wait")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()

    modes = args.modes.split(",")
    voice = load_voice(args.threads, args.spinning)
    texts = unseen_sentences(len(modes) * args.requests * args.sentences + 1, seed=args.seed)
    voice.synthesize(texts.pop())  # the process's one-off costs, in no mode
    cpu: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    audio: dict[str, float] = defaultdict(float)
    firsts: dict[str, list[float]] = defaultdict(list)
    whole: dict[str, int] = defaultdict(int)
    stages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for _ in range(args.requests):
        for mode in modes:
            text = " ".join(texts.pop() for _s in range(args.sentences))

            def hook(event: Any, mode: str = mode) -> None:
                stages[mode][event.stage] += event.seconds

            with voice.engine.watch(hook):
                c0, w0 = time.process_time(), time.perf_counter()
                samples, first, paced = run_mode(voice, mode, text)
                cpu[mode] += time.process_time() - c0
                wall[mode] += time.perf_counter() - w0
            audio[mode] += samples / voice.sample_rate
            firsts[mode].append(first)
            whole[mode] += paced
    voice.close()

    spinning = " (spinning)" if args.spinning else ""
    print(f"threads {args.threads}{spinning}, {args.requests} requests of {args.sentences} sentence(s) per mode, "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{'mode':8} {'audio s':>8} {'CPU s/audio s':>14} {'wall s/audio s':>15} {'first audio p50':>16}  "
          "stage wall s/audio s")
    results = {}
    for mode in modes:
        firsts[mode].sort()
        split = {k: v / audio[mode] for k, v in sorted(stages[mode].items())}
        results[mode] = {"audio_s": audio[mode], "cpu_per_audio": cpu[mode] / audio[mode],
                         "wall_per_audio": wall[mode] / audio[mode],
                         "first_audio_p50": firsts[mode][len(firsts[mode]) // 2], "stages": split,
                         "paced_whole_sentences": whole[mode]}
        r = results[mode]
        print(f"{mode:8} {r['audio_s']:8.1f} {r['cpu_per_audio']:14.4f} {r['wall_per_audio']:15.4f} "
              f"{r['first_audio_p50'] * 1000:13.0f} ms  " + " ".join(f"{k} {v:.4f}" for k, v in split.items()))
    if whole["solo"]:
        print(f"solo rendered {whole['solo']} of {args.requests * args.sentences} sentences whole")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
