"""What an HTTP request may carry, checked: the options every route shares, the fields of a body, and the
refusal (`BadRequest`, answered 4xx with the reason) for anything malformed."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

MEDIA = {"wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac"}
TEXT_FORMATS = ("text", "ssml")


@dataclass(frozen=True)
class HttpOptions:
    api_key: str | None = None
    max_chars: int = 10_000
    seed: int | None = None  # a fixed seed per request makes answers reproducible
    request_timeout: float | None = 120.0  # seconds per request, queueing included
    # --voice-map NAME=VOICE pairs (OpenAI's voice names onto configured voices or their speakers)
    voice_map: tuple[tuple[str, str], ...] = ()


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


def number(body: dict[str, Any], *keys: str) -> float | None:
    """The first of `keys` present, as a number in its accepted range; None when none is."""
    for key in keys:
        value = body.get(key)
        if value is None or value == "":
            continue
        low, high = RANGES[key]
        try:
            if isinstance(value, bool):  # JSON true is not the number 1
                raise TypeError
            found = float(value)
        except (TypeError, ValueError, OverflowError):
            raise BadRequest(f"{key} must be a number, got {value!r}") from None
        if not (math.isfinite(found) and low <= found <= high):
            raise BadRequest(f"{key} must be a number in [{low:g}, {high:g}], got {value!r}")
        return found
    return None


def speaker(body: dict[str, Any]) -> int | str | None:
    speaker_id = body.get("speaker_id")
    if speaker_id is not None and speaker_id != "":
        try:
            if isinstance(speaker_id, bool):
                raise TypeError
            return int(speaker_id)
        except (TypeError, ValueError, OverflowError):
            raise BadRequest(f"speaker_id must be an integer, got {speaker_id!r}") from None
    name = body.get("speaker")
    if isinstance(name, bool) or (name is not None and not isinstance(name, (str, int))):
        raise BadRequest("speaker must be a name or an id")
    return name or None


def text(body: dict[str, Any], key: str, options: HttpOptions) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{key!r} must be a non-empty string")
    if len(value) > options.max_chars:
        raise BadRequest(f"{key!r} is {len(value)} characters, the limit is {options.max_chars}", 413)
    return value


def text_format(body: dict[str, Any]) -> str:
    """voxport's `text_format` field: "text" (the default; markup is read as text) or "ssml"."""
    value = body.get("text_format") or "text"
    if value not in TEXT_FORMATS:
        raise BadRequest(f"text_format must be one of {', '.join(TEXT_FORMATS)}, got {value!r}")
    return value


def voice_name(body: dict[str, Any], key: str = "voice") -> str | None:
    name = body.get(key) or None
    if name is not None and not isinstance(name, str):
        raise BadRequest(f"{key} must be a voice name (a string), got {name!r}")
    return name


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
