"""`voxport serve` with a Kokoro bundle beside a Piper (VITS) voice: each voice pack listed as a voice (Wyoming
`info`, HTTP `/voices`), packs, blends and OpenAI's voice names over HTTP, `--voice-map`, unknown names
refused with what is known, and streaming (Wyoming chunks, SSE word times) for a pack. The Kokoro bundle is
built from the tiny Kokoro-shaped model (random weights: plumbing, not speech) where torch is installed;
without torch the tests use the committed tests/data/bundles/kokoro, made from the same model and packs."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("wyoming")
httpx = pytest.importorskip("httpx")

from support.word_times import expected_words  # noqa: E402
from test_server_http import TIMEOUT, _run  # noqa: E402
from test_server_sse import plain_sse  # noqa: E402
from test_server_wyoming import _audio, _read_until, _with_server  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.tts import (  # noqa: E402
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from voxport import Voice  # noqa: E402
from voxport.families.kokoro.voices import openai_voices  # noqa: E402
from voxport.server.errors import UnknownVoice  # noqa: E402
from voxport.server.http import HttpOptions, build_app  # noqa: E402
from voxport.server.registry import VoiceRegistry, VoiceSpec, pcm16  # noqa: E402
from voxport.server.voice_names import VoiceNames, parse_voice_map  # noqa: E402
from voxport.server.wyoming_server import WyomingOptions  # noqa: E402

TEXT = "Hello there. This is a second sentence."
PACKS = ("af_a", "am_b", "af_c")  # support.tiny_kokoro.TINY_PACKS: the committed bundle's packs
BLEND = "af_a:0.6,am_b:0.4"


@pytest.fixture(scope="module")
def kokoro_bundle(tmp_path_factory, committed_bundle):
    if importlib.util.find_spec("torch") is None:
        # tests/support/make_tiny_bundles.py built it from tiny_model(seed=0) and tiny_packs(PACKS, seed=0)
        # under the same name: the same graphs and packs as the build below, so the same expectations hold.
        return committed_bundle("kokoro", "tiny-kokoro")
    from support.tiny_kokoro import tiny_model, tiny_packs

    from voxport.export.kokoro.build import build_bundle

    out = tmp_path_factory.mktemp("kokoro") / "tiny-kokoro"
    return build_bundle(tiny_model(seed=0), tiny_packs(PACKS, seed=0), out, name="tiny-kokoro")


@pytest.fixture(scope="module")
def kokoro_voice(kokoro_bundle):
    v = Voice.load(kokoro_bundle)
    yield v
    v.sessions.close()


@pytest.fixture(scope="module")
def registry(tiny_bundle, kokoro_bundle):
    reg = VoiceRegistry.load([VoiceSpec("piper", tiny_bundle), VoiceSpec("kokoro", kokoro_bundle)], workers=1,
                             queue_size=2, solo_threads=0)
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def url(registry):
    base, server, thread = _run(build_app(registry, HttpOptions(seed=0, max_chars=500)))
    yield base
    server.should_exit = True
    thread.join(TIMEOUT)


def test_kokoro_maps_openai_names_by_register():
    m = SimpleNamespace(params={"voices": ["jf_alpha", "jf_nezumi", "jm_kumo", "xx"], "default_voice": "jf_nezumi"})
    mapping = openai_voices(m)
    assert mapping["alloy"] == "jf_nezumi"  # the default pack
    assert mapping["nova"] in ("jf_alpha", "jf_nezumi") and mapping["shimmer"] in ("jf_alpha", "jf_nezumi")
    assert {mapping[n] for n in ("echo", "onyx", "fable")} == {"jm_kumo"}  # the only male pack
    assert {mapping[n] for n in ("coral", "marin", "nova", "sage", "shimmer")} == {"jf_alpha", "jf_nezumi"}
    only_female = SimpleNamespace(params={"voices": ["af_x"], "default_voice": "af_x"})
    assert set(openai_voices(only_female).values()) == {"af_x"}  # no male pack: the packs there are


def test_names_resolve_to_voices_packs_blends_and_openai_names(registry):
    names = VoiceNames(registry)
    assert names.resolve(None) == ("piper", None)
    assert names.resolve("piper") == ("piper", None) and names.resolve("kokoro") == ("kokoro", None)
    assert names.resolve("am_b") == ("kokoro", "am_b") and names.resolve("kokoro/af_c") == ("kokoro", "af_c")
    assert names.resolve(BLEND) == ("kokoro", BLEND)
    # The Piper voice's family maps no OpenAI names, the Kokoro bundle's does: its default pack and registers.
    assert names.resolve("alloy") == ("kokoro", "af_a") and names.resolve("echo") == ("kokoro", "am_b")
    mapped = VoiceNames(registry, parse_voice_map(["alloy=piper", "echo=af_c", "house=kokoro/am_b"]))
    assert mapped.resolve("alloy") == ("piper", None) and mapped.resolve("echo") == ("kokoro", "af_c")
    assert mapped.resolve("house") == ("kokoro", "am_b") and mapped.resolve("nova")[0] == "kokoro"
    with pytest.raises(UnknownVoice, match=r"unknown voice 'zz'; known: piper, kokoro, af_a, am_b, af_c.*alloy"):
        names.resolve("zz")
    with pytest.raises(UnknownVoice, match="'kokoro' has no speaker 'zz'"):
        names.resolve("kokoro/zz")
    with pytest.raises(ValueError, match="weight 'x' of 'af_a' is not a number"):
        names.resolve("af_a:x,am_b")


@pytest.mark.parametrize("given, reason", [(["alloy"], "NAME=VOICE"), (["=af_a"], "NAME=VOICE"),
                                           (["alloy=nobody"], "alloy=nobody: unknown voice 'nobody'")])
def test_a_bad_voice_map_is_refused_in_one_line(registry, given, reason):
    with pytest.raises(ValueError, match=reason):
        VoiceNames(registry, parse_voice_map(given))


def test_http_lists_each_pack_as_a_voice(url):
    voices = httpx.get(f"{url}/voices", timeout=TIMEOUT).json()
    assert list(voices) == ["piper", "kokoro", *PACKS]
    assert voices["am_b"]["voice"] == "kokoro" and voices["am_b"]["speaker"] == "am_b"
    assert voices["am_b"]["languages"] == voices["kokoro"]["languages"] == ["en-us"]
    assert voices["kokoro"]["speakers"] == list(PACKS) and voices["piper"]["languages"] == ["en-us"]


def _speech(url: str, **body) -> httpx.Response:
    return httpx.post(f"{url}/v1/audio/speech", json={"model": "tts-1", "input": TEXT, "response_format": "pcm",
                                                      **body}, timeout=TIMEOUT)


@pytest.mark.parametrize("voice, speaker", [(BLEND, BLEND), ("alloy", "af_a"), ("echo", "am_b"), ("af_c", "af_c"),
                                            ("kokoro", None)])
def test_http_speaks_packs_blends_and_openai_names(url, kokoro_voice, voice, speaker):
    r = _speech(url, voice=voice)
    assert r.status_code == 200, r.text
    assert r.content == pcm16(kokoro_voice.synthesize(TEXT, seed=0, speaker=speaker))


def test_http_blends_differ_from_their_packs(url):
    blend, a = _speech(url, voice=BLEND).content, _speech(url, voice="af_a").content
    assert blend != a  # the blend reaches the style graph, not just the first pack


def test_http_unknown_voice_is_a_404_listing_the_known_ones(url):
    r = _speech(url, voice="nobody")
    assert r.status_code == 404
    message = r.json()["error"]["message"]
    assert "unknown voice 'nobody'" in message and "af_a" in message and "alloy (kokoro/af_a)" in message
    bad = _speech(url, voice="af_a:0,am_b")
    assert bad.status_code == 400 and "weight of 'af_a' must be > 0" in bad.json()["error"]["message"]


def test_http_sse_streams_a_pack_with_word_times(url, kokoro_voice):
    with httpx.stream("POST", f"{url}/v1/audio/speech", timeout=TIMEOUT,
                      json={"input": TEXT, "voice": "am_b", "stream_format": "sse"}) as r:
        assert r.status_code == 200
        events = plain_sse(r.iter_lines())
    words = [(e["word"], e["start"], e["end"]) for e in events if e["type"] == "speech.word"]
    want = expected_words(kokoro_voice, TEXT, speaker="am_b")
    assert [w for w, _, _ in words] == [w for w, _, _ in want] and len(want) >= 6
    assert np.allclose([s for _, s, _ in words], [s for _, s, _ in want], atol=1e-3)
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    assert audio == pcm16(kokoro_voice.synthesize(TEXT, seed=0, speaker="am_b"))
    assert events[-1]["type"] == "speech.audio.done"


def test_wyoming_describes_each_pack_with_its_language(registry):
    async def body(client):
        await client.write_event(Describe().event())
        return Info.from_event(await client.read_event())

    (program,) = asyncio.run(_with_server(registry, body)).tts
    voices = {v.name: v for v in program.voices}
    assert list(voices) == ["piper", "kokoro", *PACKS]
    assert all(voices[p].languages == ["en-us"] for p in PACKS)
    assert [s.name for s in voices["kokoro"].speakers] == list(PACKS)


def test_wyoming_speaks_a_pack_one_shot_and_streaming(registry, kokoro_voice):
    pieces = ["Hello ", "there. This is a sec", "ond sentence."]

    async def body(client):
        await client.write_event(Synthesize(text=TEXT, voice=SynthesizeVoice(name="am_b")).event())
        one_shot = await _read_until(client, "audio-stop")
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name=BLEND)).event())
        for p in pieces:
            await client.write_event(SynthesizeChunk(text=p).event())
        await client.write_event(SynthesizeStop().event())
        return one_shot, await _read_until(client, SynthesizeStopped().event().type)

    one_shot, streamed = asyncio.run(_with_server(registry, body, WyomingOptions(seed=0)))
    assert _audio(one_shot) == pcm16(kokoro_voice.synthesize(TEXT, seed=0, speaker="am_b"))
    assert [e.type for e in streamed if e.type != "audio-chunk"] == ["audio-start", "audio-stop", "audio-start",
                                                                     "audio-stop", "synthesize-stopped"]
    assert _audio(streamed) == pcm16(kokoro_voice.synthesize("".join(pieces), seed=0, speaker=BLEND))


def test_cli_voice_map_reaches_the_server_and_a_bad_one_is_one_line(monkeypatch, capsys, tiny_bundle, kokoro_bundle):
    import voxport.server.app as app
    from voxport.cli import main

    seen = {}

    async def fake_serve(registry, options):  # what the servers would get, then stop
        seen["map"] = options.voice_map
        seen["alloy"] = VoiceNames(registry, dict(options.voice_map)).resolve("alloy")

    monkeypatch.setattr(app, "serve", fake_serve)
    voices = ["--voice", f"piper={tiny_bundle}", "--voice", f"ja={kokoro_bundle}", "--port", "0", "--wyoming", "none"]
    assert main(["serve", *voices, "--voice-map", "alloy=am_b"]) == 0
    assert seen == {"map": (("alloy", "am_b"),), "alloy": ("ja", "am_b")}
    assert main(["serve", *voices, "--voice-map", "alloy=nobody"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("--voice-map alloy=nobody: unknown voice 'nobody'; known: piper, ja, af_a, am_b, af_c")
    assert main(["serve", *voices, "--voice-map", "alloy"]) == 1
    assert "--voice-map is NAME=VOICE" in capsys.readouterr().err
