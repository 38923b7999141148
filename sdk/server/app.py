"""Run the configured servers together in one event loop (`voxport serve`), and shut them down gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Any

from voxport.server.http import HttpOptions, build_app
from voxport.server.registry import VoiceRegistry
from voxport.server.wyoming_server import WyomingOptions, serve_wyoming

log = logging.getLogger(__name__)
HTTP_FINISH_SECONDS = 5.0  # after the drain, the longest wait for HTTP responses still being sent


@dataclass(frozen=True)
class ServeOptions:
    wyoming_uri: str | None = "tcp://127.0.0.1:10200"  # Home Assistant's default Wyoming port
    http_host: str = "127.0.0.1"  # localhost unless told otherwise
    http_port: int | None = 5000  # Piper's http_server port
    api_key: str | None = None
    max_chars: int = 10_000
    seed: int | None = None
    request_timeout: float | None = 120.0
    drain_timeout: float = 10.0  # on shutdown, how long running requests may take to finish
    voice_map: tuple[tuple[str, str], ...] = ()  # --voice-map NAME=VOICE (voxport.server.voice_names)


async def serve(registry: VoiceRegistry, options: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM or until cancelled, then shut down gracefully: refuse new requests
    (HTTP 503, Wyoming error `shutting-down`), let the running ones finish for up to `drain_timeout`
    seconds, cut off the rest, stop listening and close the voices. A second signal, or a second
    cancellation, cuts off at once."""
    tasks: list[asyncio.Task[Any]] = []
    http = wyoming = None
    if options.wyoming_uri:
        wy = WyomingOptions(seed=options.seed, max_chars=options.max_chars,
                            request_timeout=options.request_timeout, voice_map=options.voice_map)
        wyoming = asyncio.create_task(serve_wyoming(registry, options.wyoming_uri, wy))
        tasks.append(wyoming)
        log.warning("Wyoming on %s", options.wyoming_uri)
    if options.http_port is not None:
        app = build_app(registry, HttpOptions(api_key=options.api_key, max_chars=options.max_chars,
                                              seed=options.seed, request_timeout=options.request_timeout,
                                              voice_map=options.voice_map))
        http = _http_server(app, options)
        tasks.append(asyncio.create_task(http.serve()))
        log.warning("HTTP on http://%s:%d", options.http_host, options.http_port)
    if not tasks:
        raise ValueError("nothing to serve: give a Wyoming URI or an HTTP port")
    stop, now = asyncio.Event(), asyncio.Event()
    signals = _catch_signals(stop, now)
    stopping = asyncio.create_task(stop.wait())
    cancelled = False
    try:
        # A signal, or the first server to stop (a failed bind), stops the others.
        await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        cancelled = True
    finally:
        stopping.cancel()
        shutdown = asyncio.create_task(_shut_down(registry, options, tasks, http, wyoming, now))
        while not shutdown.done():
            try:
                await asyncio.shield(shutdown)
            except asyncio.CancelledError:  # cancelled (again) while draining: cut off at once
                cancelled = True
                now.set()
        _release_signals(signals)
    if cancelled:
        raise asyncio.CancelledError
    shutdown.result()
    for t in tasks:
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()  # type: ignore[misc]


async def _shut_down(registry: VoiceRegistry, options: ServeOptions, tasks: list[asyncio.Task[Any]],
                     http: Any, wyoming: asyncio.Task[Any] | None, now: asyncio.Event) -> None:
    log.warning("shutting down: refusing new requests, letting running ones finish (up to %g s)",
                options.drain_timeout)
    await registry.drain(options.drain_timeout, now=now)
    if http is not None:
        http.should_exit = True  # closes its listener, then waits (bounded) for responses still being sent
        http.force_exit = now.is_set()
    if wyoming is not None:
        wyoming.cancel()  # stops listening, lets answers finish writing (bounded), then closes connections
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(registry.close)
    log.warning("stopped")


def _http_server(app: Any, options: ServeOptions) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        # serve() owns SIGINT/SIGTERM: uvicorn's own handling would close the listener and re-raise the
        # signal, while the drain wants the listener answering 503 until the end.
        def capture_signals(self) -> contextlib.AbstractContextManager[None]:
            return contextlib.nullcontext()

    config = uvicorn.Config(app, host=options.http_host, port=options.http_port, log_level="warning",
                            timeout_graceful_shutdown=HTTP_FINISH_SECONDS)
    return Server(config)


def _catch_signals(stop: asyncio.Event, now: asyncio.Event) -> list[signal.Signals]:
    """SIGINT/SIGTERM start the shutdown; a second one cuts off at once. Only the main thread can."""
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("%s again: cutting off running requests now", sig.name)
            now.set()
        else:
            log.warning("%s received", sig.name)
            stop.set()

    caught = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such support
            continue
        caught.append(sig)
    return caught


def _release_signals(signals: list[signal.Signals]) -> None:
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.remove_signal_handler(sig)
