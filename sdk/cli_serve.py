"""`voxport serve`'s options and command; the server itself (voxport.server) needs the server extra."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_serve_parser(sub) -> None:
    s = sub.add_parser("serve", help="serve voices over Wyoming (Home Assistant) and HTTP (OpenAI- and "
                       "Piper-compatible); needs the server extra")
    s.add_argument("--voice", action="append", metavar="NAME=BUNDLE_DIR",
                   help="a voice to serve (repeatable; the first is the default; none: the default voice)")
    s.add_argument("--wyoming", default="tcp://127.0.0.1:10200", metavar="URI",
                   help="Wyoming address (default %(default)s; 'none' to disable)")
    s.add_argument("--host", default="127.0.0.1", help="HTTP address (default %(default)s: this machine only)")
    s.add_argument("--port", type=int, default=5000, help="HTTP port (default %(default)s; 0 disables HTTP)")
    s.add_argument("--workers", type=int, help="workers (loaded copies) per voice (default: cores / voices, at most 8)")
    s.add_argument("--queue", type=int, default=8, help="requests waiting per voice before 'busy' (default 8)")
    s.add_argument("--threads", type=int, default=1, help="runtime threads per worker (default 1)")
    s.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on HTTP (default: $VOXPORT_API_KEY)")
    s.add_argument("--max-chars", type=int, default=10_000, help="longest accepted text (default 10000)")
    s.add_argument("--seed", type=int, help="fixed noise seed per request (reproducible audio)")
    s.add_argument("--request-timeout", type=float, default=120.0,
                   help="seconds a request may take, queueing included (default 120)")
    s.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import os

    try:
        from voxport.server.app import ServeOptions, serve
        from voxport.server.registry import VoiceRegistry, VoiceSpec
    except ImportError as exc:
        raise ValueError(f"{exc.name} is missing: pip install 'voxport[server]'") from None
    logging.basicConfig(level=logging.INFO, format="voxport serve: %(message)s")
    if args.voice:
        specs = [VoiceSpec.parse(v) for v in args.voice]
    else:
        from voxport.default_voice import ensure_default_bundle

        specs = [VoiceSpec("default", Path(ensure_default_bundle(progress=True)))]
    registry = VoiceRegistry.load(specs, workers=args.workers, queue_size=args.queue, threads=args.threads)
    options = ServeOptions(
        wyoming_uri=None if args.wyoming.lower() == "none" else args.wyoming, http_host=args.host,
        http_port=args.port or None, api_key=args.api_key or os.environ.get("VOXPORT_API_KEY"),
        max_chars=args.max_chars, seed=args.seed, request_timeout=args.request_timeout,
    )
    try:
        asyncio.run(serve(registry, options))
    finally:
        registry.close()
    return 0
