"""The HTTP server on a real socket, driven by httpx and the openai client."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from voxport.server.http import HttpOptions, build_app  # noqa: E402
from voxport.server.registry import VoiceRegistry, VoiceSpec, pcm16  # noqa: E402

TEXT = "Hello there. This is a second sentence."
TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(app) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def registry(tiny_bundle):
    reg = VoiceRegistry.load([VoiceSpec("tiny", tiny_bundle)], workers=2, queue_size=2)
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def url(registry):
    base, server, thread = _run(build_app(registry, HttpOptions(seed=0, max_chars=500)))
    yield base
    server.should_exit = True
    thread.join(TIMEOUT)


def test_openai_client_streams_wav_equal_to_synthesize(url, tiny_voice):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=TIMEOUT, max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="tiny", input=TEXT, response_format="wav"
    ) as response:
        data = b"".join(response.iter_bytes())
    assert data[:4] == b"RIFF" and data[36:40] == b"data"
    assert data[44:] == pcm16(tiny_voice.synthesize(TEXT, seed=0))


def test_openai_pcm_and_speed(url, tiny_voice):
    r = httpx.post(f"{url}/v1/audio/speech", json={"model": "tts-1", "voice": "tiny", "input": TEXT,
                                                   "response_format": "pcm", "speed": 2.0}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == pcm16(tiny_voice.synthesize(TEXT, seed=0, length_scale=0.5))


def test_openai_flac(url, tiny_voice):
    import soundfile as sf

    r = httpx.post(f"{url}/v1/audio/speech", json={"model": "tts-1", "voice": "tiny", "input": TEXT,
                                                   "response_format": "flac"}, timeout=TIMEOUT)
    assert r.status_code == 200
    audio, rate = sf.read(io.BytesIO(r.content), dtype="int16")
    assert rate == tiny_voice.sample_rate
    assert audio.tobytes() == pcm16(tiny_voice.synthesize(TEXT, seed=0))


def test_piper_routes(url, tiny_voice):
    expected = pcm16(tiny_voice.synthesize(TEXT, seed=0, length_scale=1.2, noise_scale=0.5, noise_w=0.6))
    post = httpx.post(url, json={"text": TEXT, "voice": "tiny", "length_scale": 1.2, "noise_scale": 0.5,
                                 "noise_w_scale": 0.6}, timeout=TIMEOUT)
    get = httpx.get(url, params={"text": TEXT, "length_scale": "1.2", "noise_scale": "0.5",
                                 "noise_w_scale": "0.6"}, timeout=TIMEOUT)
    for r in (post, get):
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        assert r.content[44:] == expected


def test_voices_and_health(url):
    assert httpx.get(f"{url}/voices", timeout=TIMEOUT).json()["tiny"]["languages"] == ["en-us"]
    assert httpx.get(f"{url}/health", timeout=TIMEOUT).json()["status"] == "ok"


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/v1/audio/speech", {"voice": "tiny"}, 400),  # no input
    ("/v1/audio/speech", {"input": "Hi.", "voice": "nobody"}, 404),
    ("/v1/audio/speech", {"input": "Hi.", "voice": "/etc/passwd"}, 404),
    ("/v1/audio/speech", {"input": "Hi.", "response_format": "mp3"}, 400),
    ("/v1/audio/speech", {"input": "Hi.", "speed": -1}, 400),
    ("/v1/audio/speech", {"input": "x" * 501}, 413),
    ("/", {"text": "Hi.", "speaker_id": "seven"}, 400),
    ("/", {"text": "Hi.", "length_scale": "fast"}, 400),
])
def test_malformed_requests_get_4xx_with_reason(url, path, body, status):
    r = httpx.post(url + path, json=body, timeout=TIMEOUT)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_not_json_is_400(url):
    r = httpx.post(f"{url}/v1/audio/speech", content=b"{not json", headers={"content-type": "application/json"},
                   timeout=TIMEOUT)
    assert r.status_code == 400


def test_api_key(registry):
    base, server, thread = _run(build_app(registry, HttpOptions(api_key="sesame", seed=0)))
    try:
        body = {"input": "Hi.", "response_format": "pcm"}
        assert httpx.post(f"{base}/v1/audio/speech", json=body, timeout=TIMEOUT).status_code == 401
        ok = httpx.post(f"{base}/v1/audio/speech", json=body, headers={"Authorization": "Bearer sesame"},
                        timeout=TIMEOUT)
        assert ok.status_code == 200
        assert httpx.get(f"{base}/health", timeout=TIMEOUT).status_code == 200
        # The page and its script load without the key (the page asks for it); Piper's GET /?text= does not.
        page = httpx.get(f"{base}/", timeout=TIMEOUT)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script src="page.js">' in page.text
        assert "speech.word" in httpx.get(f"{base}/page.js", timeout=TIMEOUT).text
        assert httpx.get(f"{base}/", params={"text": "Hi."}, timeout=TIMEOUT).status_code == 401
        assert httpx.get(f"{base}/voices", timeout=TIMEOUT).status_code == 401
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)


def test_metrics(url):
    httpx.post(f"{url}/v1/audio/speech", json={"input": "Hi.", "response_format": "pcm"}, timeout=TIMEOUT)
    text = httpx.get(f"{url}/metrics", timeout=TIMEOUT).text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line[0] != "#"}
    assert values['voxport_requests_total{voice="tiny"}'] >= 1
    assert values['voxport_time_to_first_audio_seconds_count{voice="tiny"}'] >= 1
    assert values['voxport_audio_seconds_total{voice="tiny"}'] > 0
    assert values['voxport_in_flight{voice="tiny"}'] == 0


def _histogram(text: str, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """(le, cumulative count) per bucket, sum and count of one voice's histogram in exposition text."""
    assert f"# TYPE {name} histogram" in text
    buckets, total, count = [], None, None
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key.startswith(f'{name}_bucket{{voice="tiny",le="'):
            buckets.append((float(key.split('le="')[1].rstrip('"}')), float(value)))
        elif key == f'{name}_sum{{voice="tiny"}}':
            total = float(value)
        elif key == f'{name}_count{{voice="tiny"}}':
            count = float(value)
    return buckets, total, count


def test_metrics_histograms_count_every_request(tiny_bundle):
    """A fresh voice, 3 requests: each histogram counts 3, its buckets cumulative up to +Inf."""
    reg = VoiceRegistry.load([VoiceSpec("tiny", tiny_bundle)], workers=1, queue_size=2)
    base, server, thread = _run(build_app(reg, HttpOptions(seed=0)))
    try:
        for text in ("Hi.", TEXT, "One more sentence here."):
            r = httpx.post(f"{base}/v1/audio/speech", json={"input": text, "response_format": "pcm"}, timeout=TIMEOUT)
            assert r.status_code == 200
        text = httpx.get(f"{base}/metrics", timeout=TIMEOUT).text
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        reg.close()
    stats = reg.slots["tiny"].stats
    for name in ("voxport_time_to_first_audio_seconds", "voxport_request_seconds", "voxport_real_time_factor"):
        buckets, total, count = _histogram(text, name)
        les = [le for le, _ in buckets]
        assert len(buckets) >= 8 and les == sorted(les) and les[-1] == float("inf")
        assert [n for _, n in buckets] == sorted(n for _, n in buckets)  # cumulative
        assert count == 3 and buckets[-1][1] == 3 and total > 0
    # The same numbers the counters carry: first-audio sum is today's series; RTF matches worker/audio seconds.
    assert _histogram(text, "voxport_time_to_first_audio_seconds")[1] == pytest.approx(stats.first_audio_seconds)
    rtf_mean = _histogram(text, "voxport_real_time_factor")[1] / 3
    assert 0.2 * stats.worker_seconds / stats.audio_seconds < rtf_mean < 5 * stats.worker_seconds / stats.audio_seconds
    request_sum = _histogram(text, "voxport_request_seconds")[1]
    assert request_sum >= _histogram(text, "voxport_time_to_first_audio_seconds")[1]
    print("\n" + "\n".join(line for line in text.splitlines() if "_sum" in line or "_count" in line))
