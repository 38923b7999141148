"""HTTP: OpenAI-compatible `POST /v1/audio/speech`, Piper `http_server`-compatible `/`, `/voices`, `/health`.

Audio is streamed as it is made (wav with an open-ended header, or raw 16-bit pcm); flac needs the whole
signal before soundfile can encode it, so it leaves at the end. The first chunk is awaited before the
response starts, so a bad speaker or setting is still a 4xx with a reason, not a broken 200. While the
server shuts down, new requests are answered 503 and /health says so.
"""

from __future__ import annotations

import io
import logging
import math
import secrets
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from voxport.pipeline.streaming import AudioChunk
from voxport.server.metrics import render
from voxport.server.registry import (
    Busy,
    ChunkStream,
    ShuttingDown,
    UnknownVoice,
    VoiceLoadError,
    VoiceRegistry,
    pcm16,
)
from voxport.synthesis import SynthesisConfig

log = logging.getLogger(__name__)
MEDIA = {"wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac"}


@dataclass(frozen=True)
class HttpOptions:
    api_key: str | None = None
    max_chars: int = 10_000
    seed: int | None = None  # a fixed seed per request makes answers reproducible
    request_timeout: float | None = 120.0  # seconds per request, queueing included


class BadRequest(ValueError):
    """A malformed request: answered 4xx with the reason."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def wav_header(sample_rate: int, data_bytes: int = 0xFFFFFFFF - 36) -> bytes:
    """A 16-bit mono WAV header; the default sizes mean "until the end of the stream", as players accept."""
    return (b"RIFF" + struct.pack("<I", min(data_bytes + 36, 0xFFFFFFFF)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


# Accepted ranges: OpenAI's for speed; wide enough for any Piper client's scales, narrow enough that one request
# cannot hold a worker for hours (length_scale 1e4 turns "Hi there." into 15 minutes of audio).
RANGES = {"speed": (0.25, 4.0), "length_scale": (0.1, 10.0), "noise_scale": (1e-6, 10.0),
          "noise_w_scale": (1e-6, 10.0), "noise_w": (1e-6, 10.0)}


def _number(body: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = body.get(key)
        if value is None or value == "":
            continue
        low, high = RANGES[key]
        try:
            if isinstance(value, bool):  # JSON true is not the number 1
                raise TypeError
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise BadRequest(f"{key} must be a number, got {value!r}") from None
        if not (math.isfinite(number) and low <= number <= high):
            raise BadRequest(f"{key} must be a number in [{low:g}, {high:g}], got {value!r}")
        return number
    return None


def _speaker(body: dict[str, Any]) -> int | str | None:
    speaker_id = body.get("speaker_id")
    if speaker_id is not None and speaker_id != "":
        try:
            if isinstance(speaker_id, bool):
                raise TypeError
            return int(speaker_id)
        except (TypeError, ValueError, OverflowError):
            raise BadRequest(f"speaker_id must be an integer, got {speaker_id!r}") from None
    speaker = body.get("speaker")
    if isinstance(speaker, bool) or (speaker is not None and not isinstance(speaker, (str, int))):
        raise BadRequest("speaker must be a name or an id")
    return speaker or None


def _text(body: dict[str, Any], key: str, options: HttpOptions) -> str:
    text = body.get(key)
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"{key!r} must be a non-empty string")
    if len(text) > options.max_chars:
        raise BadRequest(f"{key!r} is {len(text)} characters, the limit is {options.max_chars}", 413)
    return text


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


async def _started(chunks: ChunkStream) -> tuple[AudioChunk | None, ChunkStream]:
    """The first chunk now (errors become 4xx), then the rest."""
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        return None, chunks
    except BaseException:
        await chunks.aclose()
        raise
    return first, chunks


async def _pcm(first: AudioChunk | None, rest: ChunkStream) -> AsyncIterator[bytes]:
    try:
        if first is not None:
            yield pcm16(first.audio)
            async for chunk in rest:
                yield pcm16(chunk.audio)
    finally:
        await rest.aclose()  # a client gone mid-stream frees the worker


async def _speak(registry: VoiceRegistry, name: str | None, text: str, config: SynthesisConfig, fmt: str,
                 timeout: float | None) -> Response:
    chunks = await registry.open_stream(name, text, config, timeout=timeout)
    sample_rate = chunks.sample_rate
    first, rest = await _started(chunks)
    body = _pcm(first, rest)
    if fmt == "pcm":
        return StreamingResponse(body, media_type=MEDIA[fmt])
    if fmt == "wav":
        async def wav() -> AsyncIterator[bytes]:
            yield wav_header(sample_rate)
            async for data in body:
                yield data
        return StreamingResponse(wav(), media_type=MEDIA[fmt])
    import soundfile as sf

    audio = np.frombuffer(b"".join([b async for b in body]), "<i2")
    out = io.BytesIO()
    sf.write(out, audio, sample_rate, format="FLAC", subtype="PCM_16")
    return Response(out.getvalue(), media_type=MEDIA[fmt])


def build_app(registry: VoiceRegistry, options: HttpOptions | None = None) -> Starlette:
    options = options or HttpOptions()

    async def openai_speech(request: Request) -> Response:
        body = await _json(request)
        text = _text(body, "input", options)
        fmt = body.get("response_format") or "wav"
        if fmt not in MEDIA:
            raise BadRequest(f"response_format must be one of {', '.join(MEDIA)}, got {fmt!r}")
        # OpenAI's `model` is tts-1 & co.; a configured voice name there is honoured, anything else ignored.
        voice = body.get("voice")
        if voice is not None and not isinstance(voice, str):
            raise BadRequest(f"voice must be a voice name (a string), got {voice!r}")
        model = body.get("model")
        name = voice or (model if isinstance(model, str) and model in registry.slots else None)
        speed = _number(body, "speed")
        config = SynthesisConfig(seed=options.seed, length_scale=1.0 / speed if speed else None)
        return await _speak(registry, name, text, config, fmt, options.request_timeout)

    async def piper_speech(request: Request) -> Response:
        if request.method == "GET":
            body: dict[str, Any] = dict(request.query_params)
        elif request.headers.get("content-type", "").startswith("application/json"):
            body = await _json(request)
        else:  # Piper's http_server also takes the bare text as the body
            body = {**request.query_params, "text": (await request.body()).decode("utf-8", "replace")}
        text = _text(body, "text", options)
        name = body.get("voice") or None
        if name is not None and not isinstance(name, str):
            raise BadRequest(f"voice must be a voice name (a string), got {name!r}")
        registry.slot(name)  # an unknown voice is a 404 before the settings are checked
        config = SynthesisConfig(
            seed=options.seed, speaker=_speaker(body), length_scale=_number(body, "length_scale"),
            noise_scale=_number(body, "noise_scale"), noise_w=_number(body, "noise_w_scale", "noise_w"),
        )
        chunks = await registry.open_stream(name, text, config, timeout=options.request_timeout)
        first, rest = await _started(chunks)
        data = b"".join([b async for b in _pcm(first, rest)])
        return Response(wav_header(chunks.sample_rate, len(data)) + data, media_type=MEDIA["wav"])

    async def voices(request: Request) -> Response:
        return JSONResponse({v["name"]: v for v in registry.describe()})

    async def health(request: Request) -> Response:
        # A load balancer or orchestrator stops sending requests once this is 503.
        status, code = ("ok", 200) if registry.accepting else ("shutting-down", 503)
        return JSONResponse({"status": status, "voices": {n: s.in_flight for n, s in registry.slots.items()},
                             "loaded": [n for n, s in registry.slots.items() if s.loaded]}, code)

    async def metrics(request: Request) -> Response:
        text = render((n, s.stats, s.in_flight, s.loaded) for n, s in registry.slots.items())
        return Response(text, media_type="text/plain; version=0.0.4")

    routes = [
        Route("/v1/audio/speech", openai_speech, methods=["POST"]),
        Route("/", piper_speech, methods=["GET", "POST"]),
        Route("/voices", voices, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={
        BadRequest: lambda r, e: _error(e.status, e), UnknownVoice: lambda r, e: _error(404, e),
        Busy: lambda r, e: _error(503, e, {"Retry-After": "1"}), TimeoutError: lambda r, e: _error(504, e),
        ShuttingDown: lambda r, e: _error(503, e, {"Connection": "close"}), VoiceLoadError: lambda r, e: _error(500, e),
        ValueError: lambda r, e: _error(400, e),
        TypeError: lambda r, e: _error(400, e),
        # Unknown routes and methods: the same JSON reason as every other refusal, not Starlette's plain text.
        HTTPException: lambda r, e: _error(e.status_code, RuntimeError(f"{r.method} {r.url.path}: {e.detail}"),
                                           e.headers),
    })
    app.add_middleware(_CutOffQuietly)
    if options.api_key:
        app.add_middleware(_ApiKey, key=options.api_key)
    return app


def _error(status: int, exc: BaseException, headers: dict[str, str] | None = None) -> JSONResponse:
    # OpenAI's error shape, which its client turns into a readable exception.
    message = str(exc).strip("'\"")
    return JSONResponse({"error": {"message": message, "type": type(exc).__name__}}, status, headers=headers)


class _CutOffQuietly:
    """An answer cut off mid-stream (past the request timeout, or at the end of a shutdown's drain) ends
    with the connection closed, so the client sees an incomplete body: expected, so one log line rather
    than the server's "Exception in ASGI application" traceback."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            # Starlette re-raises a handled exception met after the response started as a RuntimeError.
            cause = exc if isinstance(exc, (ShuttingDown, TimeoutError)) else exc.__cause__
            if not started or not isinstance(cause, (ShuttingDown, TimeoutError)):
                raise
            log.warning("%s: answer cut off mid-stream: %s", scope.get("path"), cause)


class _ApiKey:
    """Bearer-token check for every route but /health and /metrics (probes and scrapers carry no key)."""

    def __init__(self, app: Any, key: str) -> None:
        self.app, self.key = app, key.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in ("/health", "/metrics"):
            auth = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(auth, b"Bearer " + self.key):
                await _error(401, PermissionError("missing or wrong API key"))(scope, receive, send)
                return
        await self.app(scope, receive, send)
