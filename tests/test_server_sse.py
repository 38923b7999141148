"""`/v1/audio/speech` with `stream_format: "sse"`: OpenAI's streamed speech events and voxport's word events,
read by the openai client (its own SSE decoder over its streamed response) and by a plain SSE reader."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from support.word_times import expected_words  # noqa: E402
from test_server_http import TIMEOUT, registry, url  # noqa: E402, F401  (module fixtures, reused)

from voxport.server.registry import pcm16  # noqa: E402

TEXT = "Hello there, friend. This is a second sentence."


def plain_sse(lines) -> list[dict]:
    """Server-Sent Events by the spec's rules: `data:` lines joined until a blank line; comments skipped."""
    events, data = [], []
    for line in lines:
        if line == "":
            if data:
                events.append(json.loads("\n".join(data)))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return events


def audio_of(events) -> bytes:
    return b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")


def check(events, voice, text: str, **settings) -> None:
    types = [e["type"] for e in events]
    assert types[-1] == "speech.audio.done" and types.count("speech.audio.done") == 1
    assert "speech.audio.delta" in types and "error" not in types
    # Equal to synthesize with the same seed: both are the same float32 audio quantized by the same pcm16.
    reference = voice.synthesize(text, seed=0, **settings)
    got = np.frombuffer(audio_of(events), "<i2")
    assert got.size == reference.size
    assert np.abs(got.astype(np.int32) - np.frombuffer(pcm16(reference), "<i2")).max() <= 1
    words = [(e["word"], e["start"], e["end"]) for e in events if e["type"] == "speech.word"]
    want = expected_words(voice, text, **settings)
    assert [w for w, _, _ in words] == [w for w, _, _ in want]
    assert np.allclose([w[1:] for w in words], [w[1:] for w in want], atol=1e-3)
    starts = [s for _, s, _ in words]
    assert starts == sorted(starts) and words[-1][2] <= reference.size / voice.sample_rate + 1e-3
    # Words travel with the audio, not after it: the first sentence's words come before the last audio.
    assert types.index("speech.word") < len(types) - 1 - types[::-1].index("speech.audio.delta")
    assert events[-1]["audio_seconds"] == pytest.approx(reference.size / voice.sample_rate, abs=1e-3)


def test_openai_client_reads_the_sse_stream(url, tiny_voice):  # noqa: F811
    openai = pytest.importorskip("openai")
    from openai._streaming import SSEDecoder  # the client's own reader of event streams

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=TIMEOUT, max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="tiny", input=TEXT, response_format="pcm", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert int(response.headers["x-voxport-sample-rate"]) == tiny_voice.sample_rate
        events = [sse.json() for sse in SSEDecoder().iter_bytes(response.iter_bytes())]
    check(events, tiny_voice, TEXT)


def test_plain_sse_reader_with_ssml_speed_and_a_break(url, tiny_voice):  # noqa: F811
    ssml = '<speak>Hello there. <break time="700ms"/> Good bye now.</speak>'
    body = {"voice": "tiny", "input": ssml, "stream_format": "sse", "text_format": "ssml", "speed": 1.25}
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=TIMEOUT) as r:
        assert r.status_code == 200, r.read()
        events = plain_sse(r.iter_lines())
    check(events, tiny_voice, ssml, text_format="ssml", length_scale=0.8)
    words = [e for e in events if e["type"] == "speech.word"]
    there, good = next(w for w in words if w["word"] == "there"), next(w for w in words if w["word"] == "Good")
    assert good["start"] - there["end"] >= 0.7


@pytest.mark.parametrize(("body", "status"), [
    ({"input": "Hi.", "stream_format": "sse", "response_format": "wav"}, 400),
    ({"input": "Hi.", "stream_format": "video"}, 400),
    ({"input": "Hi.", "text_format": "html"}, 400),
    ({"input": "<speak>Hi <break time='x'/></speak>", "text_format": "ssml", "stream_format": "sse"}, 400),
])
def test_bad_sse_requests_are_4xx_before_the_stream(url, body, status):  # noqa: F811
    r = httpx.post(f"{url}/v1/audio/speech", json=body, timeout=TIMEOUT)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]
