"""Fuzz of `voxport serve`, the HTTP side: malformed bodies, fields, content types and routes against the
Starlette app through httpx's ASGI transport (test_server_fuzz.py: the Wyoming side, the shared junk and
counts, and what must hold). A body that breaks the API must get a 4xx with a JSON reason; no answer may
be a 5xx but the 503/504 the design chooses; a 200 carries audio.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

pytest.importorskip("wyoming")
httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")

from support.fuzz import MAX_CHARS, TIMEOUT, draw, junk_string, junk_value  # noqa: E402
from test_server_fuzz import wait_idle  # noqa: E402

from voxport.server.http import HttpOptions, build_app  # noqa: E402
from voxport.server.registry import VoiceRegistry, VoiceSpec  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::voxport.errors.UnknownSymbolWarning")


@pytest.fixture(scope="module")
def registry(tiny_bundle):
    reg = VoiceRegistry.load([VoiceSpec("tiny", tiny_bundle)], workers=2, queue_size=8)
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def app(registry):
    return build_app(registry, HttpOptions(seed=0, max_chars=MAX_CHARS, request_timeout=TIMEOUT))


@dataclass
class HttpCase:
    method: str
    path: str
    must_refuse: bool  # the request breaks the API: a 4xx (503/504 by design) is the only right answer
    json_body: object = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    params: dict[str, str] | None = None
    use_json: bool = False

    def show(self) -> str:
        body = json.dumps(self.json_body, default=str) if self.use_json else repr(self.content or self.params)
        return f"{self.method} {self.path} {self.headers or ''} {body[:200]}"


MISSING = object()
BAD_TEXT = [MISSING, None, 0, 12, True, [], ["Hi."], {}, {"a": 1}, "", "   ", "\n\t", "x" * (MAX_CHARS + 1), 1.5]
# "" is not here: an empty number means "not given" (Piper's http_server's query strings).
BAD_NUMBER = [-1, 0, -0.0, -1e-9, "fast", "-2", [1], {"x": 1}, math.nan, math.inf, -math.inf, "1e999", "nan", True,
              10 ** 400]
BAD_FORMAT = ["mp3", "opus", "aac", "WAV", "wav ", "pcm\x00", 5, True, ["wav"], {"f": "wav"}]
BAD_VOICE = ["nobody", "../tiny", "/etc/passwd", "TINY", "tiny\x00", 5, 1.5, True, ["tiny"], {"name": "tiny"}]
# No integers: a single-speaker voice ignores speaker_id, as Piper's http_server does.
BAD_SPEAKER_ID = ["seven", "1.5", [], {"id": 0}, [0], math.inf, -math.inf, math.nan]
BAD_SPEAKER = [[], {}, 1.5, ["a"], {"name": "x"}]
OPENAI_FIELDS = {"input": BAD_TEXT, "speed": BAD_NUMBER, "response_format": BAD_FORMAT, "voice": BAD_VOICE}
PIPER_FIELDS = {"text": BAD_TEXT, "length_scale": BAD_NUMBER, "noise_scale": BAD_NUMBER, "noise_w_scale": BAD_NUMBER,
                "voice": BAD_VOICE, "speaker_id": BAD_SPEAKER_ID, "speaker": BAD_SPEAKER}


def openai_body(rng: random.Random) -> dict[str, object]:
    return {"model": "tts-1", "input": "Hi there.", "voice": "tiny",
            "response_format": rng.choice(["wav", "pcm", "flac"]), "speed": rng.choice([0.8, 1.0, 1.25])}


def piper_body(rng: random.Random) -> dict[str, object]:
    return {"text": "Hi there.", "voice": "tiny", "length_scale": 1.0, "noise_scale": 0.667, "noise_w_scale": 0.8}


def field_http_case(rng: random.Random) -> HttpCase:
    """A valid request with one field made invalid."""
    openai = rng.random() < 0.5
    body, fields = (openai_body(rng), OPENAI_FIELDS) if openai else (piper_body(rng), PIPER_FIELDS)
    key = rng.choice(sorted(fields))
    if key == "speaker" and rng.random() < 0.5:
        key = "speaker_id"
    value = rng.choice(fields[key])
    if value is MISSING:
        del body[key]
    else:
        body[key] = value
    path = "/v1/audio/speech" if openai else "/"
    if not openai and rng.random() < 0.3 and (value is MISSING or isinstance(value, str)):
        # Piper's GET /?text=: every value a string, so only bad strings are malformed there.
        return HttpCase("GET", "/", must_refuse=True, params={k: str(v) for k, v in body.items()})
    return HttpCase("POST", path, must_refuse=True, json_body=body, use_json=True)


def raw_http_case(rng: random.Random) -> HttpCase:
    """A body that is not a JSON object, or not what its content type says."""
    path = rng.choice(["/v1/audio/speech", "/"])
    valid = json.dumps(openai_body(rng) if path != "/" else piper_body(rng)).encode()
    pick = rng.randrange(8)
    if pick == 0:  # cut short or with junk after it
        content = valid[: rng.randrange(1, len(valid) - 1)] if rng.random() < 0.5 else valid + b"}junk"
    elif pick == 1:
        content = rng.choice([b"{input: Hi}", b"{'input': 'Hi.'}", b"{", b"", b"   ", b'{"input": "Hi.",}',
                              b"\xff\xfe{\x00}\x00", b'{"input": "\xff\xfe"}'])
    elif pick == 2:
        content = json.dumps(rng.choice([[], 5, "Hi there.", True, None, [{"input": "Hi."}], 1e308])).encode()
    elif pick == 3:
        content = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))
    elif pick == 4:  # huge numbers as JSON literals
        field = "speed" if path != "/" else rng.choice(["length_scale", "noise_scale", "noise_w_scale"])
        literal = rng.choice([b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity", b"1e-400"])
        content = valid[:-1] + b', "' + field.encode() + b'": ' + literal + b"}"
    elif pick == 5:  # a body far over the text limit
        key = "input" if path != "/" else "text"
        content = json.dumps({key: "word " * rng.randint(MAX_CHARS, 20 * MAX_CHARS)}).encode()
    elif pick == 6:
        content = b"--xyz\r\nContent-Disposition: form-data; name=\"input\"\r\n\r\nHi.\r\n--xyz--\r\n"
    elif rng.random() < 0.5:
        content = json.dumps({"input" if path != "/" else "text": "Hi.", "voice": {"$ref": "/etc/passwd"}}).encode()
    else:  # nested deeper than the JSON parser recurses
        depth, key = rng.choice([5_000, 100_000]), b"input" if path != "/" else b"text"
        content = rng.choice([b"[" * depth, b'{"' + key + b'": ' + b"[" * depth + b"]" * depth + b"}"])
    ctype = "application/json" if path == "/" or rng.random() < 0.7 else rng.choice(
        ["application/octet-stream", "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded"])
    return HttpCase("POST", path, must_refuse=True, content=content, headers={"content-type": ctype})


def junk_http_case(rng: random.Random) -> HttpCase:
    """Junk everywhere (several fields, odd content types): never a 5xx; a 200 carries audio."""
    path = rng.choice(["/v1/audio/speech", "/", "/"])
    body: dict[str, object] = openai_body(rng) if path != "/" else piper_body(rng)
    for key in rng.sample(sorted(body) + ["model", "speaker", "speaker_id", junk_string(rng)[:6]], rng.randint(1, 3)):
        body[key] = junk_value(rng)
    if rng.random() < 0.05:  # a lone surrogate escape: valid JSON, not valid Unicode
        return HttpCase("POST", path, must_refuse=False, content=b'{"input": "Hi.\\ud800", "text": "Hi.\\udfff"}',
                        headers={"content-type": "application/json"})
    if rng.random() < 0.25:  # Piper's route takes a plain-text body as the text itself
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 8)))
        text = junk_string(rng).encode("utf-8", "surrogatepass") + junk
        ctype = rng.choice(["text/plain", "application/octet-stream", "text/plain; charset=latin-1", ""])
        return HttpCase("POST", "/", must_refuse=False, content=text, headers={"content-type": ctype})
    return HttpCase("POST", path, must_refuse=False, json_body=body, use_json=True)


ROUTES = [("PUT", "/v1/audio/speech"), ("DELETE", "/"), ("PATCH", "/"), ("GET", "/v1/audio/speech"),
          ("POST", "/voices"), ("POST", "/health"), ("GET", "/nope"), ("POST", "/v1/audio/translations"),
          ("GET", "/v1/audio/speech/../../etc/passwd"), ("GET", "/%00")]  # (a trailing slash redirects: fine)


def route_http_case(rng: random.Random) -> HttpCase:
    """A path that does not exist, or a method its route does not take."""
    method, path = rng.choice(ROUTES)
    return HttpCase(method, path, must_refuse=True, content=json.dumps(openai_body(rng)).encode(),
                    headers={"content-type": "application/json"})


async def send_http(client, case: HttpCase):
    if case.use_json:
        content = json.dumps(case.json_body).encode()  # NaN and Infinity as Python writes them
        return await client.request(case.method, case.path, content=content,
                                    headers={"content-type": "application/json"})
    return await client.request(case.method, case.path, content=case.content, headers=case.headers,
                                params=case.params)


def http_problems(case: HttpCase, response) -> list[str]:
    status = response.status_code
    if status >= 500 and status not in (503, 504):
        return [f"{status} {response.text[:120]!r}"]
    if status >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return [f"{status} without a JSON reason: {response.headers.get('content-type')} {response.text[:80]!r}"]
        return [] if isinstance(message, str) and message.strip() else [f"{status} with an empty reason"]
    if case.must_refuse:
        return [f"{status} for a malformed request"]
    if not response.headers.get("content-type", "").startswith("audio/") or not response.content:
        return [f"{status} without audio: {response.headers.get('content-type')}"]
    return []


def run_http_cases(app, kind: str, make: Callable[[random.Random], HttpCase],
                   keep: Callable[[HttpCase], bool] = lambda case: True) -> list[str]:
    async def body() -> list[str]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a bug is then a 500, as served
        failures = []
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz", timeout=TIMEOUT) as client:
            for index, case in enumerate(draw(kind, make)):
                if keep(case):
                    response = await send_http(client, case)
                    failures += [f"{kind}[{index}] {p} <- {case.show()}" for p in http_problems(case, response)]
        return failures

    return asyncio.run(body())




# Patterns of the bugs the fuzz found in sdk/server/http.py (fixed): each is drawn and answered with a 4xx
# and a JSON reason in test_http; test_http_former_bugs checks the fuzz still draws every one.

NUMBER_FIELDS = ("speed", "length_scale", "noise_scale", "noise_w_scale")


def http_body_of(case: HttpCase) -> object:
    if case.use_json:
        return case.json_body
    try:
        return json.loads(case.content or b"")
    except (ValueError, RecursionError):
        return None


def number_overflows(case: HttpCase) -> bool:
    """An integer past float range as a number, or ±Infinity as speaker_id: float()/int() raise OverflowError,
    which no exception handler maps, so the answer is a 500."""
    body = http_body_of(case)
    if not isinstance(body, dict):
        return False
    big = any(type(body.get(k)) is int and abs(body[k]) > 1e308 for k in NUMBER_FIELDS)
    return big or (isinstance(body.get("speaker_id"), float) and math.isinf(body["speaker_id"]))


def nested_too_deep(case: HttpCase) -> bool:
    """JSON nested deeper than the parser recurses: json.loads raises RecursionError, not ValueError -> 500."""
    return (case.content or b"").count(b"[") > 900


def voice_not_a_string(case: HttpCase) -> bool:
    """OpenAI route with a non-string voice (5, true, ["tiny"], {...}): silently the default voice, a 200."""
    body = http_body_of(case)
    return (case.path == "/v1/audio/speech" and isinstance(body, dict) and body.get("voice") is not None
            and not isinstance(body["voice"], str))


def boolean_number(case: HttpCase) -> bool:
    """true as speed / length_scale / noise scales: float(True) is 1.0, so it is taken as a number, a 200."""
    body = http_body_of(case)
    return isinstance(body, dict) and any(body.get(k) is True for k in NUMBER_FIELDS)


def unrouted(case: HttpCase) -> bool:
    """Unknown path or method: Starlette's own 404/405 answer is plain text, not a JSON reason."""
    return (case.method, case.path) in ROUTES


FORMER_HTTP_BUGS = {
    "number_overflows": (number_overflows, "was: OverflowError from float(10**400) in http._number or int(inf) in "
                         "http._speaker is not mapped to a 4xx: HTTP 500"),
    "nested_too_deep": (nested_too_deep, "deeply nested JSON makes json.loads raise RecursionError, which http._json "
                        "does not catch (only ValueError): HTTP 500"),
    "voice_not_a_string": (voice_not_a_string, "POST /v1/audio/speech with a non-string voice is answered 200 with "
                           "the default voice instead of a 400"),
    "boolean_number": (boolean_number, "JSON true for speed/length_scale/noise_scale/noise_w_scale is taken as 1.0 "
                       "(http._number calls float()) instead of a 400"),
    "unrouted": (unrouted, "unknown paths and methods get Starlette's plain-text 404/405, not a JSON reason"),
}
HTTP_KINDS = {"http_field": field_http_case, "http_body": raw_http_case, "http_junk": junk_http_case,
              "http_route": route_http_case}


@pytest.mark.parametrize("kind", sorted(HTTP_KINDS))
def test_http(app, registry, kind):
    failures = run_http_cases(app, kind, HTTP_KINDS[kind], keep=lambda case: True)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert wait_idle(registry) == {"tiny": 0}


@pytest.mark.parametrize("bug", sorted(FORMER_HTTP_BUGS))
def test_http_former_bugs(app, registry, bug):
    """Each fixed bug's pattern is still drawn by the fuzz, and every case of it is answered properly."""
    check = FORMER_HTTP_BUGS[bug][0]
    drawn = sum(check(case) for kind, make in HTTP_KINDS.items() for case in draw(kind, make))
    assert drawn, f"the fuzz drew no {bug} case"
    failures = [f for kind, make in HTTP_KINDS.items() for f in run_http_cases(app, kind, make, keep=check)]
    assert wait_idle(registry) == {"tiny": 0}
    assert not failures, f"{len(failures)} of {drawn} failed:\n" + "\n".join(failures)
