"""Where `voxport serve`'s histogram bucket edges come from: per-request time to first audio, request seconds
and real-time factor of a voice, as /metrics records them (voxport.server.metrics), with one client and with
more clients than workers. Prints each histogram's counts per bucket and its mean.

    .venv/bin/python benchmarks/histogram_buckets.py                         # the default voice
    .venv/bin/python benchmarks/histogram_buckets.py --bundle tests/data/bundles/vits --clients 8
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

import httpx
from starlette.testclient import TestClient

from voxport.calibration.corpus import HELDOUT, read_sentences
from voxport.server.http import HttpOptions, build_app
from voxport.server.metrics import Histogram, PoolStats
from voxport.server.registry import VoiceRegistry, VoiceSpec

NAMES = ("first_audio", "request_seconds", "real_time_factor")


def show(label: str, stats: PoolStats) -> None:
    print(label)
    for name in NAMES:
        h: Histogram = getattr(stats, name)
        buckets = ", ".join(f"≤{edge:g}: {n}" for edge, n in zip(h.edges, h.counts) if n)  # noqa: B905
        above = f", above {h.edges[-1]:g}: {h.counts[-1]}" if h.counts[-1] else ""
        print(f"  {name}: n={h.count} mean={h.total / max(1, h.count):.4f}  {buckets}{above}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="a bundle directory (default: the default voice)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the second phase")
    parser.add_argument("--sentences", type=int, default=12)
    args = parser.parse_args()
    if args.bundle is None:
        from voxport.bundle.default_voice import ensure_default_bundle

        args.bundle = str(ensure_default_bundle())
    texts = read_sentences(HELDOUT)[: args.sentences]
    registry = VoiceRegistry.load([VoiceSpec("v", args.bundle)], workers=args.workers, queue_size=4 * args.clients)
    stats = registry.slots["v"].stats
    try:
        with TestClient(build_app(registry, HttpOptions(seed=0))) as client:
            def speak(text: str) -> None:
                r = client.post("/v1/audio/speech", json={"input": text, "response_format": "pcm"})
                if r.status_code != 200:
                    raise httpx.HTTPStatusError(r.text, request=r.request, response=r)

            for text in texts:
                speak(text)
            show("1 client", stats)
            for name in NAMES:
                setattr(stats, name, Histogram(getattr(stats, name).edges))
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(speak, texts * 2))
            show(f"{args.clients} clients, {args.workers} workers", stats)
    finally:
        registry.close()


if __name__ == "__main__":
    main()
