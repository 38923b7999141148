"""Worker pools and their bounded queues: a full voice answers "busy" at once (HTTP 503, Wyoming error)."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from voxport.pipeline.streaming import AudioChunk
from voxport.server.metrics import render
from voxport.server.registry import Busy, UnknownVoice, VoiceLoadError, VoiceRegistry, VoiceSpec
from voxport.synthesis import SynthesisConfig

TIMEOUT = 30.0


class SlowVoice:
    """Stands in for a Voice: each stream waits for `release` before its one chunk."""

    def __init__(self, manifest, release: threading.Event) -> None:
        self.manifest, self.sample_rate, self.release = manifest, 22050, release
        self.closed = False

    def stream(self, text, config, **kwargs):
        assert self.release.wait(TIMEOUT), "test never released the workers"
        yield AudioChunk(np.zeros(10, np.float32), 0, 0, True, None)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def slow(tiny_voice):
    release = threading.Event()
    made: list[SlowVoice] = []

    def loader(path, **kwargs):
        made.append(SlowVoice(tiny_voice.manifest, release))
        return made[-1]

    reg = VoiceRegistry.load([VoiceSpec("slow", "unused")], workers=1, queue_size=1, loader=loader)
    yield reg, release, made
    release.set()
    reg.close()


def test_full_queue_is_busy_and_frees_after(slow):
    reg, release, _ = slow
    pool = reg.get("slow")

    async def body():
        a = pool.stream("a", None)  # runs
        b = pool.stream("b", None)  # queued
        with pytest.raises(Busy, match="busy"):
            pool.stream("c", None)
        assert pool.in_flight == 2
        release.set()
        assert len([c async for c in a]) == len([c async for c in b]) == 1
        assert pool.in_flight == 0
        assert [c async for c in pool.stream("d", None)]  # admitted again

    asyncio.run(asyncio.wait_for(body(), TIMEOUT))


def test_abandoned_queued_request_frees_its_slot(slow):
    reg, release, _ = slow
    pool = reg.get("slow")

    async def body():
        a = pool.stream("a", None)
        b = pool.stream("b", None)
        await b.aclose()  # the client went away before its turn
        c = pool.stream("c", None)  # so there is room again
        release.set()
        assert len([x async for x in a]) == len([x async for x in c]) == 1
        assert pool.in_flight == 0

    asyncio.run(asyncio.wait_for(body(), TIMEOUT))


def test_names_resolve_only_to_configured_voices(slow):
    reg, _, made = slow
    assert reg.get(None) is reg.get("slow")
    for name in ("other", "../slow", "/tmp/x"):
        with pytest.raises(UnknownVoice):
            reg.get(name)
    reg.close()
    assert all(v.closed for v in made)


def test_voice_spec_parse():
    assert VoiceSpec.parse("joe=/v/joe").name == "joe"
    assert VoiceSpec.parse("/v/amy").name == "amy"
    with pytest.raises(ValueError):
        VoiceSpec.parse("=x")
    with pytest.raises(ValueError, match="unique"):
        VoiceRegistry.load([VoiceSpec("a", "x"), VoiceSpec("a", "y")], loader=lambda *a, **k: None)


# --- loading on first use, at most max_loaded voices (LRU) ------------------------------------------------


class CountingLoader:
    """Makes stand-in voices (each stream: one chunk, once its voice is not held), recording loads and
    closes; a load waits `delay` seconds, or for `gate` when one is given (in the loading thread)."""

    def __init__(self, manifest, *, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.manifest, self.delay, self.gate = manifest, delay, gate
        self.released: defaultdict[str, threading.Event] = defaultdict(_set_event)
        self.made: list[tuple[str, SlowVoice]] = []
        self.failures = 0  # loads to fail before one succeeds
        self.threads: set[str] = set()

    def __call__(self, path, **kwargs):
        self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            assert self.gate.wait(TIMEOUT), "test never opened the load gate"
        time.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise OSError(f"cannot read {path}")
        name = Path(path).name
        self.made.append((name, SlowVoice(self.manifest, self.released[name])))
        return self.made[-1][1]

    def hold(self, name: str) -> None:
        """Requests for `name` stay in flight until `let_go`."""
        self.released[name].clear()

    def let_go(self, name: str) -> None:
        self.released[name].set()

    def loads(self, name: str) -> int:
        return sum(1 for n, _ in self.made if n == name)

    def closed(self, name: str) -> bool:
        voices = [v for n, v in self.made if n == name]
        return bool(voices) and all(v.closed for v in voices)


@pytest.fixture
def voice_dirs(tiny_bundle, tmp_path):
    """Three bundle directories a, b, c (copies of the tiny bundle): configured voices with real manifests."""
    dirs = {}
    for name in "abc":
        dirs[name] = tmp_path / name
        shutil.copytree(tiny_bundle, dirs[name])
    return dirs


def _lazy(voice_dirs, loader, names="abc", **kwargs) -> VoiceRegistry:
    specs = [VoiceSpec(n, voice_dirs[n]) for n in names]
    # solo_threads=0: no all-cores copy, so that loads count one copy per voice (tests/test_server_solo.py has it)
    return VoiceRegistry.load(specs, workers=1, queue_size=4, loader=loader, preload=False, solo_threads=0, **kwargs)


async def _speak(reg: VoiceRegistry, name: str) -> int:
    return len([c async for c in await reg.open_stream(name, "text", SynthesisConfig())])


def test_voices_are_described_without_loading(voice_dirs, tiny_voice):
    loader = CountingLoader(tiny_voice.manifest)
    reg = _lazy(voice_dirs, loader)
    try:
        assert loader.made == []
        facts = {f["name"]: f for f in reg.describe()}
        assert list(facts) == ["a", "b", "c"]
        assert all(not f["loaded"] and f["sample_rate"] == 16000 and f["languages"] == ["en-us"]
                   for f in facts.values())
        with pytest.raises(LookupError, match="not loaded"):
            reg.get("a")
        assert asyncio.run(_speak(reg, "b")) == 1
        assert [f["name"] for f in reg.describe() if f["loaded"]] == ["b"]
        assert reg.get("b").in_flight == 0
    finally:
        reg.close()


def test_preload_loads_every_voice_at_start(voice_dirs, tiny_voice):
    loader = CountingLoader(tiny_voice.manifest)
    reg = VoiceRegistry.load([VoiceSpec(n, voice_dirs[n]) for n in "abc"], workers=2, loader=loader, solo_threads=4)
    try:
        assert [loader.loads(n) for n in "abc"] == [3, 3, 3]  # two workers' copies each, and one for a lone request
        assert all(f["loaded"] for f in reg.describe())
        assert all(s.stats.loads == 1 for s in reg.slots.values())
    finally:
        reg.close()
    assert all(loader.closed(n) for n in "abc")


def test_concurrent_first_requests_load_the_voice_once(voice_dirs, tiny_voice):
    loader = CountingLoader(tiny_voice.manifest, delay=0.3)
    reg = _lazy(voice_dirs, loader)

    async def body():
        return await asyncio.gather(*(_speak(reg, "a") for _ in range(5)))

    try:
        assert asyncio.run(asyncio.wait_for(body(), TIMEOUT)) == [1] * 5
        stats = reg.slots["a"].stats
        assert loader.loads("a") == 1 and stats.loads == 1 and stats.load_seconds >= 0.3
        assert stats.requests == 5 and reg.get("a").in_flight == 0
        assert all(name.startswith("voxport-load") for name in loader.threads)  # never on the event loop
    finally:
        reg.close()


def test_a_load_blocks_neither_the_loop_nor_other_voices(voice_dirs, tiny_voice):
    gate = threading.Event()
    loader = CountingLoader(tiny_voice.manifest, gate=gate)
    reg = _lazy(voice_dirs, loader, names="ab")

    async def body():
        a = asyncio.create_task(_speak(reg, "a"))
        while not reg.slots["a"].loading:
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        await asyncio.sleep(0.05)  # the loop still turns while a loads
        tick = time.perf_counter() - started
        gate.set()  # from here on loads go through; b's request is answered whatever a does
        assert await _speak(reg, "b") == 1
        assert await a == 1
        return tick

    try:
        assert asyncio.run(asyncio.wait_for(body(), TIMEOUT)) < 0.5
    finally:
        gate.set()
        reg.close()


def test_a_failed_load_reaches_its_waiters_and_the_next_request_retries(voice_dirs, tiny_voice):
    httpx = pytest.importorskip("httpx")
    from voxport.server.http import build_app

    loader = CountingLoader(tiny_voice.manifest, delay=0.1)
    loader.failures = 2
    reg = _lazy(voice_dirs, loader)

    async def body():
        failed = await asyncio.gather(_speak(reg, "a"), _speak(reg, "a"), return_exceptions=True)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(reg)), base_url="http://x") as c:
            http = await c.post("/v1/audio/speech", json={"input": "a", "voice": "a", "response_format": "pcm"})
        return failed, http, await _speak(reg, "a")

    try:
        failed, http, then = asyncio.run(asyncio.wait_for(body(), TIMEOUT))
        assert [type(e) for e in failed] == [VoiceLoadError, VoiceLoadError]  # one load, both waiters told
        assert "voice 'a' could not be loaded: cannot read" in str(failed[0])
        assert http.status_code == 500 and "could not be loaded" in http.json()["error"]["message"]  # not a 4xx
        assert then == 1 and reg.slots["a"].stats.loads == 1
    finally:
        reg.close()


def test_max_loaded_closes_the_least_recently_used_voice(voice_dirs, tiny_voice):
    loader = CountingLoader(tiny_voice.manifest)
    reg = _lazy(voice_dirs, loader, max_loaded=2)

    async def body():
        for name in "aba":  # b is now the least recently used
            await _speak(reg, name)
        await _speak(reg, "c")

    try:
        asyncio.run(asyncio.wait_for(body(), TIMEOUT))
        assert sorted(reg.pools) == ["a", "c"]
        assert loader.closed("b") and not loader.closed("a")
        assert reg.slots["b"].stats.unloads == 1 and reg.slots["a"].stats.unloads == 0
        text = render((n, s.stats, s.in_flight, s.loaded) for n, s in reg.slots.items())
        assert 'voxport_unloads_total{voice="b"} 1' in text and 'voxport_loaded{voice="b"} 0' in text
        assert 'voxport_loads_total{voice="c"} 1' in text and 'voxport_load_seconds_total{voice="c"}' in text
        asyncio.run(asyncio.wait_for(_speak(reg, "b"), TIMEOUT))  # b again: loaded anew, a goes
        assert sorted(reg.pools) == ["b", "c"] and loader.loads("b") == 2 and reg.slots["b"].stats.loads == 2
    finally:
        reg.close()


def test_a_voice_with_requests_in_flight_is_never_unloaded(voice_dirs, tiny_voice):
    """max_loaded=2: a is busy and the least recently used, b idle -> c takes b's place. Then with every
    loaded voice busy, a request for b waits until one is idle, rather than cutting a request off."""
    loader = CountingLoader(tiny_voice.manifest)
    reg = _lazy(voice_dirs, loader, max_loaded=2)

    async def body():
        loader.hold("a")
        busy_a = await reg.open_stream("a", "text", SynthesisConfig())
        await _speak(reg, "b")
        await _speak(reg, "c")  # needs a place: b goes, although a was used before b
        assert sorted(reg.pools) == ["a", "c"] and loader.closed("b") and not loader.closed("a")
        loader.hold("c")
        busy_c = await reg.open_stream("c", "text", SynthesisConfig())
        b = asyncio.create_task(_speak(reg, "b"))  # a and c busy: b waits for a place
        await asyncio.sleep(0.3)
        assert not b.done() and not reg.slots["b"].loaded
        assert sorted(reg.pools) == ["a", "c"] and not loader.closed("a") and not loader.closed("c")
        loader.let_go("a")
        assert len([x async for x in busy_a]) == 1
        assert await asyncio.wait_for(b, TIMEOUT) == 1  # a, idle now, made room
        loader.let_go("c")
        assert len([x async for x in busy_c]) == 1

    try:
        asyncio.run(asyncio.wait_for(body(), TIMEOUT))
        assert sorted(reg.pools) == ["b", "c"] and loader.closed("a")
        assert reg.slots["b"].stats.loads == 2 and reg.slots["a"].stats.unloads == 1
    finally:
        for name in "abc":
            loader.let_go(name)
        reg.close()


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


# --- Piper voices as distributed (voice.onnx + voice.onnx.json) ------------------------------------------


def test_piper_onnx_voice_is_converted_once_into_the_cache(tiny_piper_voice, built_tiny_voice, tmp_path,
                                                            monkeypatch):
    from voxport.server import piper_voices

    cache = tmp_path / "cache"
    monkeypatch.setenv("VOXPORT_CACHE_DIR", str(cache))
    spec = VoiceSpec.parse(str(tiny_piper_voice))
    assert spec.name == "tiny"
    reg = VoiceRegistry.load([spec], workers=1, preload=False)
    try:
        (bundle,) = [p for p in (cache / "piper").iterdir() if p.is_dir()]
        assert reg.slots["tiny"].path == bundle and not reg.slots["tiny"].loaded
        assert reg.describe()[0]["origin"] == str(tiny_piper_voice)
        text = "Hello there. A second sentence."

        async def speak():
            return [c.audio async for c in await reg.open_stream("tiny", text, SynthesisConfig(seed=0))]

        audio = np.concatenate(asyncio.run(asyncio.wait_for(speak(), TIMEOUT)))
        assert np.array_equal(audio, built_tiny_voice.synthesize(text, seed=0))  # the bundle built from it
    finally:
        reg.close()

    # A restart, or the same files moved elsewhere: the cached bundle, no conversion.
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(piper_voices, "build_bundle_in_child", no_conversion)
    moved = tmp_path / "moved"
    moved.mkdir()
    for path in (tiny_piper_voice, piper_voices.piper_config(tiny_piper_voice)):
        shutil.copy(path, moved / path.name)
    again = VoiceRegistry.load([VoiceSpec("joe", tiny_piper_voice), VoiceSpec("amy", moved / "tiny.onnx")],
                               workers=1, preload=False)
    assert again.slots["joe"].path == again.slots["amy"].path == bundle
    again.close()
    # Another config (its scales and phoneme map go into the bundle) is another bundle.
    config = moved / "tiny.onnx.json"
    config.write_text(config.read_text().replace('"noise_scale": 0.667', '"noise_scale": 0.5'))
    assert piper_voices.cached_bundle_dir(moved / "tiny.onnx") != bundle


def test_piper_voice_problems_are_one_clear_line(tiny_piper_voice, tmp_path, monkeypatch, capsys):
    from voxport.cli import main
    from voxport.server import piper_voices

    monkeypatch.setenv("VOXPORT_CACHE_DIR", str(tmp_path / "cache"))
    lone = tmp_path / "lone.onnx"
    shutil.copy(tiny_piper_voice, lone)
    with pytest.raises(piper_voices.PiperVoiceError, match=r"lone\.onnx\.json is missing"):
        VoiceRegistry.load([VoiceSpec.parse(str(lone))])
    with pytest.raises(piper_voices.PiperVoiceError, match="no such Piper voice file"):
        VoiceRegistry.load([VoiceSpec.parse(str(tmp_path / "gone.onnx"))])

    monkeypatch.setattr(piper_voices, "missing_export_modules", lambda: ["torch"])
    assert main(["serve", "--voice", str(tiny_piper_voice), "--port", "0", "--wyoming", "none"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'voxport[export]'" in err and "tiny.onnx" in err
    assert not (tmp_path / "cache" / "piper").exists() or not any((tmp_path / "cache" / "piper").iterdir())


def test_voices_and_wyoming_describe_list_unloaded_voices(voice_dirs, tiny_voice):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("wyoming")
    from wyoming.info import Info

    from voxport.server.http import build_app
    from voxport.server.wyoming_server import info_event

    loader = CountingLoader(tiny_voice.manifest)
    reg = _lazy(voice_dirs, loader, max_loaded=1)

    async def body():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(reg)), base_url="http://x") as c:
            before = (await c.get("/voices")).json()
            await _speak(reg, "b")
            return before, (await c.get("/voices")).json(), (await c.get("/health")).json()

    try:
        before, after, health = asyncio.run(asyncio.wait_for(body(), TIMEOUT))
        assert {n: v["loaded"] for n, v in before.items()} == {"a": False, "b": False, "c": False}
        assert {n: v["loaded"] for n, v in after.items()} == {"a": False, "b": True, "c": False}
        assert before["a"]["sample_rate"] == 16000 and before["a"]["model"] == "tiny"
        assert health == {"status": "ok", "voices": {"a": 0, "b": 0, "c": 0}, "loaded": ["b"]}
        (program,) = Info.from_event(info_event(reg)).tts
        assert [v.name for v in program.voices] == ["a", "b", "c"]
        assert loader.loads("a") == loader.loads("c") == 0  # described, never loaded
    finally:
        reg.close()
