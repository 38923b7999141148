"""`POST /v1/audio/speech` with `stream_format: "sse"`: OpenAI's streamed speech events, and voxport's word times.

Each event is one `data:` line of JSON (Server-Sent Events), as OpenAI sends them:
- `{"type": "speech.audio.delta", "audio": BASE64}`: 16-bit little-endian mono PCM at the voice's rate (the
  `X-Voxport-Sample-Rate` header; OpenAI's own voices are 24 kHz), in the order it is to be played;
- `{"type": "speech.word", "word": ..., "start": s, "end": s, "sentence": i}` (voxport's extension; clients that
  do not know the type skip it): one per word, times in seconds from the start of the stream, sent right
  after the first audio of the word's sentence, so always before the word is heard;
- `{"type": "speech.audio.done", "audio_seconds": ..., "sample_rate": ...}` at the end; or, when the answer
  cannot be finished once it started (time limit, shutdown, a failure), `{"type": "error", "error":
  {"message": ...}}` instead, since a status code can no longer be sent.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from voxport.pipeline.streaming import AudioChunk
from voxport.pipeline.timestamps import SentenceTiming
from voxport.server.pool import ChunkStream, pcm16

log = logging.getLogger(__name__)
MEDIA = "text/event-stream"


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def word_events(timing: SentenceTiming, sentence: int) -> list[bytes]:
    return [event({"type": "speech.word", "word": w.word, "start": round(w.start, 4), "end": round(w.end, 4),
                   "sentence": sentence}) for w in timing.words]


async def events(first: AudioChunk | SentenceTiming | None, rest: ChunkStream) -> AsyncIterator[bytes]:
    """The SSE body of a stream opened with `timings=True` whose first item was already awaited."""
    samples, sentences = 0, 0
    try:
        async for item in _items(first, rest):
            if isinstance(item, SentenceTiming):
                for data in word_events(item, sentences):
                    yield data
                sentences += 1
            elif item.audio.size:
                samples += item.audio.size
                yield event({"type": "speech.audio.delta", "audio": base64.b64encode(pcm16(item.audio)).decode()})
        yield event({"type": "speech.audio.done", "audio_seconds": round(samples / rest.sample_rate, 4),
                     "sample_rate": rest.sample_rate})
    except Exception as exc:  # the 200 is sent: the reason travels as an event, as OpenAI's streams do
        log.warning("/v1/audio/speech (sse): answer cut off mid-stream: %s", exc)
        yield event({"type": "error", "error": {"message": str(exc).strip("'\""), "type": type(exc).__name__}})
    finally:
        await rest.aclose()  # a client gone mid-stream frees the worker


async def _items(first: AudioChunk | SentenceTiming | None,
                 rest: ChunkStream) -> AsyncIterator[AudioChunk | SentenceTiming]:
    if first is not None:
        yield first
        async for item in rest:
            yield item


def sse_response(first: AudioChunk | SentenceTiming | None, rest: ChunkStream) -> StreamingResponse:
    # no-cache and no proxy buffering: each event is worth sending the moment it exists.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Voxport-Sample-Rate": str(rest.sample_rate)}
    return StreamingResponse(events(first, rest), media_type=MEDIA, headers=headers)
