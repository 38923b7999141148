"""`voxport serve`'s options and command; the server itself (voxport.server) needs the server extra."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxport.cli.options import add_lean_option, add_runtime_options, stage_choice


def add_serve_parser(sub) -> None:
    s = sub.add_parser("serve", help="serve voices over Wyoming (Home Assistant) and HTTP (OpenAI- and "
                       "Piper-compatible); needs the server extra")
    s.add_argument("--voice", action="append", metavar="NAME=PATH",
                   help="a voice to serve: a bundle directory or a Piper VOICE.onnx (its .onnx.json beside it; "
                   "converted once into the cache). Repeatable; the first is the default; none: the default voice")
    s.add_argument("--voice-option", action="append", default=[], metavar="NAME:KEY=VALUE",
                   help="a setting voice NAME always speaks with, of its family's own (e.g. a VALL-E X voice "
                   "prompt: alice:prompt=alice.npz). Repeatable; requests cannot set these")
    s.add_argument("--voice-map", action="append", default=[], metavar="NAME=VOICE",
                   help="what a requested voice NAME speaks with, e.g. an OpenAI name onto a Kokoro pack "
                   "(alloy=jf_alpha) or a configured voice (alloy=default). Repeatable. Unmapped OpenAI names "
                   "follow the first voice whose family maps them (Kokoro: by register), else the default voice")
    s.add_argument("--wyoming", default="tcp://127.0.0.1:10200", metavar="URI",
                   help="Wyoming address (default %(default)s; 'none' to disable)")
    s.add_argument("--host", default="127.0.0.1", help="HTTP address (default %(default)s: this machine only)")
    s.add_argument("--port", type=int, default=5000, help="HTTP port (default %(default)s; 0 disables HTTP)")
    s.add_argument("--workers", type=int,
                   help="workers (loaded copies) per voice (default: cores / voices loaded at once, at most 8)")
    s.add_argument("--queue", type=int, default=8, help="requests waiting per voice before 'busy' (default 8)")
    add_runtime_options(s, threads_default=1)  # --threads: per worker
    add_lean_option(s)
    s.add_argument("--solo-threads", type=int, metavar="N",
                   help="threads of one more copy of each voice, for a request that runs alone (the usual home "
                   "has one client): default the usable cores (none with --thread-pool shared); 0: no such copy "
                   "(less memory)")
    s.add_argument("--thread-pool", choices=("per-copy", "shared"), default="per-copy",
                   help="onnxruntime threads: 'per-copy' (default): each copy keeps --threads, and a request "
                   "running alone gets a copy of its own (--solo-threads); 'shared': one pool of the usable cores "
                   "for the whole server and no extra copy: faster and smaller for one client at a time, slower "
                   "under concurrent requests (docs/serving.md)")
    s.add_argument("--solo-windows", action="store_true",
                   help="a request running alone streams every sentence in windows, as on a worker copy "
                   "(default: once the client is far enough ahead, its next sentence is synthesized whole: "
                   "the same audio for less work)")
    s.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on HTTP (default: $VOXPORT_API_KEY)")
    s.add_argument("--max-chars", type=int, default=10_000, help="longest accepted text (default 10000)")
    s.add_argument("--seed", type=int, help="fixed noise seed per request (reproducible audio)")
    s.add_argument("--request-timeout", type=float, default=120.0,
                   help="seconds a request may take, queueing included (default 120)")
    s.add_argument("--preload", action="store_true",
                   help="load the voices at start, the first N with --max-loaded N (default: each on its first "
                   "request)")
    s.add_argument("--max-loaded", type=int, metavar="N",
                   help="keep at most N voices loaded, closing the least recently used idle one to load another "
                   "(default: no limit)")
    s.add_argument("--drain-timeout", type=float, default=10.0,
                   help="on SIGINT/SIGTERM, seconds running requests may take to finish before they are cut off "
                   "(default 10)")
    s.add_argument("--quiet", action="store_true",
                   help="no progress while a Piper voice or the default voice is converted at start")
    add_ray_arguments(s)  # Ray Serve scale-out: see the block at the end
    s.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.ray:  # Ray Serve scale-out: see the block at the end
        return cmd_serve_ray(args)
    import asyncio
    import logging
    import os

    try:
        from voxport.server.app import ServeOptions, serve
        from voxport.server.registry import VoiceRegistry, VoiceSpec
        from voxport.server.voice_names import VoiceNames, parse_voice_map
    except ImportError as exc:
        raise ValueError(f"{exc.name} is missing: pip install 'voxport[server]'") from None
    logging.basicConfig(level=logging.INFO, format="voxport serve: %(message)s")
    if args.voice:
        specs = [VoiceSpec.parse(v) for v in args.voice]
    else:
        from voxport.bundle.default_voice import ensure_default_bundle

        specs = [VoiceSpec("default", Path(ensure_default_bundle(progress=not args.quiet)))]
    specs = with_voice_options(specs, args.voice_option)
    if args.max_loaded is not None and args.max_loaded < 1:
        raise ValueError(f"--max-loaded must be at least 1, got {args.max_loaded}")
    if not args.drain_timeout >= 0:  # NaN too
        raise ValueError(f"--drain-timeout must be 0 or more seconds, got {args.drain_timeout:g}")
    # Every copy of every voice loads with these; a voice that cannot (no calibrated policy, a runtime
    # missing) fails at start with --preload, else on its first request with the reason.
    load_options = {"runtime": stage_choice(args.runtime, "--runtime"),
                    "precision": stage_choice(args.precision, "--precision"), "shapes": args.shapes,
                    "lean": args.lean}
    if args.solo_threads is not None and args.solo_threads < 0:
        raise ValueError(f"--solo-threads must be 0 or more, got {args.solo_threads}")
    voice_map = parse_voice_map(args.voice_map)  # malformed: refused before any voice loads
    registry = VoiceRegistry.load(specs, workers=args.workers, queue_size=args.queue, threads=args.threads,
                                  solo_threads=args.solo_threads, solo_ahead=not args.solo_windows,
                                  shared_pool=args.thread_pool == "shared",
                                  preload=args.preload, max_loaded=args.max_loaded, progress=not args.quiet,
                                  **load_options)
    try:
        VoiceNames(registry, voice_map)  # a target that is no configured voice or speaker: refused now
    except ValueError:
        registry.close()
        raise
    mapped = tuple(voice_map.items())
    options = ServeOptions(
        wyoming_uri=None if args.wyoming.lower() == "none" else args.wyoming, http_host=args.host,
        http_port=args.port or None, api_key=args.api_key or os.environ.get("VOXPORT_API_KEY"),
        max_chars=args.max_chars, seed=args.seed, request_timeout=args.request_timeout,
        drain_timeout=args.drain_timeout, voice_map=mapped,
    )
    try:
        asyncio.run(serve(registry, options))
    finally:
        registry.close()
    return 0


def with_voice_options(specs: list, given: list[str]) -> list:  # noqa: ANN001 -- VoiceSpecs
    """`NAME:KEY=VALUE` settings attached to the voices they name; a name not configured is an error."""
    from dataclasses import replace

    from voxport.cli.checks import option_value

    options: dict[str, dict[str, object]] = {}
    for text in given:
        name, _, setting = text.partition(":")
        key, sep, value = setting.partition("=")
        if not (name and key and sep):
            raise ValueError(f"--voice-option is NAME:KEY=VALUE, got {text!r}")
        options.setdefault(name, {})[key] = option_value(value)  # fixed_step=false: False, as speak --option
    unknown = sorted(set(options) - {s.name for s in specs})
    if unknown:
        raise ValueError(f"--voice-option names voices that are not configured: {', '.join(unknown)}")
    return [replace(s, options=tuple(options.get(s.name, {}).items())) for s in specs]


# --- Ray Serve scale-out (`voxport serve --ray`; voxport.server.ray_app, the ray extra) ---------------------


def add_ray_arguments(s: argparse.ArgumentParser) -> None:
    g = s.add_argument_group("scale-out on Ray Serve (HTTP only; needs the ray extra)")
    g.add_argument("--ray", action="store_true",
                   help="serve HTTP from Ray Serve replicas, each loading every voice (--workers copies, default 1)")
    g.add_argument("--replicas", type=int, help="fixed number of replicas (default 1)")
    g.add_argument("--autoscale", metavar="MIN:MAX", help="let Ray Serve scale between MIN and MAX replicas")
    g.add_argument("--ray-address", metavar="ADDRESS",
                   help="Ray cluster to join ('auto': the one this machine runs in; default: start a local one)")


def cmd_serve_ray(args: argparse.Namespace) -> int:
    import logging
    import os

    try:
        from voxport.server.ray_app import parse_args, run
    except ImportError as exc:
        raise ValueError(f"{exc.name} is missing: pip install 'voxport[ray]'") from None
    logging.basicConfig(level=logging.INFO, format="voxport serve: %(message)s")
    if args.replicas is not None and args.autoscale:
        raise ValueError("give --replicas or --autoscale, not both")
    if args.voice:
        voices = list(args.voice)
    else:
        from voxport.bundle.default_voice import ensure_default_bundle

        voices = [f"default={ensure_default_bundle(progress=not args.quiet)}"]
    options = parse_args({
        "voices": voices, "replicas": args.replicas, "autoscale": args.autoscale, "workers": args.workers,
        "queue": args.queue, "threads": args.threads, "api_key": args.api_key or os.environ.get("VOXPORT_API_KEY"),
        "max_chars": args.max_chars, "seed": args.seed, "request_timeout": args.request_timeout,
        "voice_map": args.voice_map,  # the form is checked here; each replica checks the targets against its voices
    })
    if not args.port:
        raise ValueError("--ray serves HTTP: give a --port")
    if not args.ray_address:  # a local Ray: the replicas read the same disk, so a wrong path fails here, now
        for spec in options.replica.voices:
            if not spec.path.exists():
                raise ValueError(f"voice {spec.name!r}: nothing at {spec.path}")
    logging.getLogger(__name__).warning("Ray Serve: HTTP on http://%s:%d (Wyoming is not served under --ray)",
                                        args.host, args.port)
    try:
        run(options, address=args.ray_address, host=args.host, port=args.port, request_timeout=args.request_timeout)
    except RuntimeError as exc:  # Ray Serve's "Deploying application ... failed"; replicas' errors are logged
        raise ValueError(f"{exc} (the replicas' errors are in the log above)") from exc
    return 0


# --- end of the Ray Serve block ---------------------------------------------------------------------------
