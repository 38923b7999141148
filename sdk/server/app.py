"""Run the configured servers together in one event loop (`voxport serve`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from voxport.server.http import HttpOptions, build_app
from voxport.server.registry import VoiceRegistry
from voxport.server.wyoming_server import WyomingOptions, serve_wyoming

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    wyoming_uri: str | None = "tcp://127.0.0.1:10200"  # Home Assistant's default Wyoming port
    http_host: str = "127.0.0.1"  # localhost unless told otherwise
    http_port: int | None = 5000  # Piper's http_server port
    api_key: str | None = None
    max_chars: int = 10_000
    seed: int | None = None
    request_timeout: float | None = 120.0


async def serve(registry: VoiceRegistry, options: ServeOptions) -> None:
    """Serve until cancelled (Ctrl-C); the voices stay loaded, the caller closes the registry."""
    tasks = []
    if options.wyoming_uri:
        wy = WyomingOptions(seed=options.seed, max_chars=options.max_chars,
                            request_timeout=options.request_timeout)
        tasks.append(asyncio.create_task(serve_wyoming(registry, options.wyoming_uri, wy)))
        log.warning("Wyoming on %s", options.wyoming_uri)
    if options.http_port is not None:
        import uvicorn

        app = build_app(registry, HttpOptions(api_key=options.api_key, max_chars=options.max_chars,
                                              seed=options.seed, request_timeout=options.request_timeout))
        config = uvicorn.Config(app, host=options.http_host, port=options.http_port, log_level="warning")
        tasks.append(asyncio.create_task(uvicorn.Server(config).serve()))
        log.warning("HTTP on http://%s:%d", options.http_host, options.http_port)
    if not tasks:
        raise ValueError("nothing to serve: give a Wyoming URI or an HTTP port")
    try:
        # The first server to stop (uvicorn on Ctrl-C, or a failed bind) stops the others.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
            raise r
