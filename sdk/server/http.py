"""HTTP: OpenAI-compatible `POST /v1/audio/speech`, Piper `http_server`-compatible `/`, `/voices`, `/health`,
`/metrics`, and a page to try the voices in a browser (`GET /` without `text`).

Audio is streamed as it is made (wav with an open-ended header, raw 16-bit pcm, or OpenAI's Server-Sent
Events with voxport's word times: voxport.server.sse); flac needs the whole signal before soundfile can
encode it, so it leaves at the end. The first chunk is awaited before the response starts, so a bad
speaker or setting is still a 4xx with a reason, not a broken 200. While the server shuts down, new
requests are answered 503 and /health says so. Request fields: voxport.server.http_fields; the API key
and error shapes: voxport.server.http_guard.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from voxport.pipeline.streaming import AudioChunk
from voxport.pipeline.timestamps import SentenceTiming
from voxport.server import http_fields as fields
from voxport.server.http_fields import MEDIA, BadRequest, HttpOptions, wav_header
from voxport.server.http_guard import ApiKey, CutOffQuietly, error
from voxport.server.metrics import render
from voxport.server.page import page_script, static
from voxport.server.registry import (
    Busy,
    ChunkStream,
    ShuttingDown,
    UnknownVoice,
    VoiceLoadError,
    VoiceRegistry,
    pcm16,
)
from voxport.server.sse import sse_response
from voxport.server.voice_names import VoiceNames
from voxport.synthesis import SynthesisConfig

__all__ = ["BadRequest", "HttpOptions", "build_app", "wav_header"]
STREAM_FORMATS = ("audio", "sse")


async def _started(chunks: ChunkStream) -> tuple[AudioChunk | SentenceTiming | None, ChunkStream]:
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


def _audio_response(first: AudioChunk | None, rest: ChunkStream, fmt: str) -> Response:
    body = _pcm(first, rest)
    if fmt == "pcm":
        return StreamingResponse(body, media_type=MEDIA[fmt])
    if fmt == "wav":
        async def wav() -> AsyncIterator[bytes]:
            yield wav_header(rest.sample_rate)
            async for data in body:
                yield data
        return StreamingResponse(wav(), media_type=MEDIA[fmt])
    raise AssertionError(fmt)  # flac is answered whole, by _flac


async def _flac(first: AudioChunk | None, rest: ChunkStream) -> Response:
    import soundfile as sf

    audio = np.frombuffer(b"".join([b async for b in _pcm(first, rest)]), "<i2")
    out = io.BytesIO()
    sf.write(out, audio, rest.sample_rate, format="FLAC", subtype="PCM_16")
    return Response(out.getvalue(), media_type=MEDIA["flac"])


def _openai_request(body: dict[str, Any], options: HttpOptions, names: VoiceNames
                    ) -> tuple[str | None, str, SynthesisConfig, str, str, str]:
    """(voice, text, config, response format, stream format, text format) of an OpenAI speech request."""
    text = fields.text(body, "input", options)
    fmt = body.get("response_format") or "wav"
    if fmt not in MEDIA:
        raise BadRequest(f"response_format must be one of {', '.join(MEDIA)}, got {fmt!r}")
    stream_format = body.get("stream_format") or "audio"
    if stream_format not in STREAM_FORMATS:
        raise BadRequest(f"stream_format must be one of {', '.join(STREAM_FORMATS)}, got {stream_format!r}")
    if stream_format == "sse" and fmt != "pcm" and body.get("response_format"):
        raise BadRequest(f"stream_format 'sse' carries 16-bit PCM; response_format must be pcm, got {fmt!r}")
    # OpenAI's `model` is tts-1 & co.; a configured voice name there is honoured, anything else ignored.
    model = body.get("model")
    requested = fields.voice_name(body) or (model if isinstance(model, str) and model in names.registry.slots
                                            else None)
    # `voice` may also be a speaker of a voice (a Kokoro pack or blend) or an OpenAI name (voxport.server.voice_names).
    name, spec = names.resolve(requested)
    speed = fields.number(body, "speed")
    # speaker / speaker_id and text_format are voxport's own fields (Piper's and Wyoming's names); an explicit
    # speaker wins over the one the voice name carried.
    config = SynthesisConfig(seed=options.seed, speaker=_or(fields.speaker(body), spec),
                             length_scale=1.0 / speed if speed else None)
    return name, text, config, fmt, stream_format, fields.text_format(body)


def _or(speaker: int | str | None, spec: str | None) -> int | str | None:
    return speaker if speaker is not None else spec


def _routes(registry: VoiceRegistry, options: HttpOptions) -> list[Route]:
    names = VoiceNames(registry, dict(options.voice_map))

    async def openai_speech(request: Request) -> Response:
        body = await fields.json_body(request)
        name, text, config, fmt, stream_format, text_format = _openai_request(body, options, names)
        sse = stream_format == "sse"
        chunks = await registry.open_stream(name, text, config, timeout=options.request_timeout,
                                            text_format=text_format, timings=sse)
        first, rest = await _started(chunks)
        if sse:
            return sse_response(first, rest)
        return await _flac(first, rest) if fmt == "flac" else _audio_response(first, rest, fmt)

    async def piper_speech(request: Request) -> Response:
        if request.method in ("GET", "HEAD") and "text" not in request.query_params:
            return static("page.html")
        if request.method in ("GET", "HEAD"):
            body: dict[str, Any] = dict(request.query_params)
        elif request.headers.get("content-type", "").startswith("application/json"):
            body = await fields.json_body(request)
        else:  # Piper's http_server also takes the bare text as the body
            body = {**request.query_params, "text": (await request.body()).decode("utf-8", "replace")}
        text = fields.text(body, "text", options)
        name, spec = names.resolve(fields.voice_name(body))  # an unknown voice is a 404 before the settings
        config = SynthesisConfig(
            seed=options.seed, speaker=_or(fields.speaker(body), spec),
            length_scale=fields.number(body, "length_scale"),
            noise_scale=fields.number(body, "noise_scale"), noise_w=fields.number(body, "noise_w_scale", "noise_w"),
        )
        chunks = await registry.open_stream(name, text, config, timeout=options.request_timeout)
        first, rest = await _started(chunks)
        data = b"".join([b async for b in _pcm(first, rest)])
        return Response(wav_header(chunks.sample_rate, len(data)) + data, media_type=MEDIA["wav"])

    async def voices(request: Request) -> Response:
        return JSONResponse({v["name"]: v for v in names.describe()})

    async def health(request: Request) -> Response:
        # A load balancer or orchestrator stops sending requests once this is 503.
        status, code = ("ok", 200) if registry.accepting else ("shutting-down", 503)
        return JSONResponse({"status": status, "voices": {n: s.in_flight for n, s in registry.slots.items()},
                             "loaded": [n for n, s in registry.slots.items() if s.loaded]}, code)

    async def metrics(request: Request) -> Response:
        text = render((n, s.stats, s.in_flight, s.loaded) for n, s in registry.slots.items())
        return Response(text, media_type="text/plain; version=0.0.4")

    return [
        Route("/v1/audio/speech", openai_speech, methods=["POST"]),
        Route("/", piper_speech, methods=["GET", "POST"]),
        Route("/page.js", page_script, methods=["GET"]),
        Route("/voices", voices, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def build_app(registry: VoiceRegistry, options: HttpOptions | None = None) -> Starlette:
    options = options or HttpOptions()
    app = Starlette(routes=_routes(registry, options), exception_handlers={
        BadRequest: lambda r, e: error(e.status, e), UnknownVoice: lambda r, e: error(404, e),
        Busy: lambda r, e: error(503, e, {"Retry-After": "1"}), TimeoutError: lambda r, e: error(504, e),
        ShuttingDown: lambda r, e: error(503, e, {"Connection": "close"}), VoiceLoadError: lambda r, e: error(500, e),
        ValueError: lambda r, e: error(400, e),
        TypeError: lambda r, e: error(400, e),
        # Unknown routes and methods: the same JSON reason as every other refusal, not Starlette's plain text.
        HTTPException: lambda r, e: error(e.status_code, RuntimeError(f"{r.method} {r.url.path}: {e.detail}"),
                                          e.headers),
    })
    app.add_middleware(CutOffQuietly)
    if options.api_key:
        app.add_middleware(ApiKey, key=options.api_key)
    return app
