"""A request that runs alone gets the copy with every core's threads; concurrent requests run on the worker
copies (one thread each), so they share the cores instead of fighting over them (issue 23, item 4)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from voxport.pipeline.pacing import AheadPacing
from voxport.pipeline.streaming import AudioChunk
from voxport.server.registry import VoiceRegistry, VoiceSpec
from voxport.synthesis import SynthesisConfig

TIMEOUT = 10.0


class ThreadsVoice:
    """Stands in for a Voice loaded with `threads`; each stream records them, then waits for `gate` if set."""

    def __init__(self, manifest, threads: int, ran: list[int], gate: threading.Event | None,
                 paced: list[bool] | None = None, spin: bool = False) -> None:
        self.manifest, self.sample_rate, self.threads, self.spin = manifest, 22050, threads, spin
        self.ran, self.gate, self.paced = ran, gate, paced if paced is not None else []

    def stream(self, text, config, **kwargs):
        self.ran.append(self.threads)
        self.paced.append(isinstance(kwargs.get("pacing"), AheadPacing))
        if self.gate is not None and text == "hold":
            assert self.gate.wait(TIMEOUT), "the test never let the held request finish"
        yield AudioChunk(np.zeros(10, np.float32), 0, 0, True, None)

    def close(self) -> None:
        pass


def _registry(tiny_voice, *, solo_threads: int | None, gate: threading.Event | None = None,
              paced: list[bool] | None = None, **options):
    ran: list[int] = []
    loaded: list[int] = []

    def loader(path, *, threads: int, spin: bool = False, **kwargs):
        loaded.append(threads)
        return ThreadsVoice(tiny_voice.manifest, threads, ran, gate, paced, spin)

    reg = VoiceRegistry.load([VoiceSpec("v", "unused")], workers=2, queue_size=2, threads=1, loader=loader,
                             solo_threads=solo_threads, **options)
    return reg, ran, loaded


async def _speak(reg: VoiceRegistry, text: str) -> None:
    async for _ in await reg.open_stream("v", text, SynthesisConfig()):
        pass


def _alone_beside_alone(reg: VoiceRegistry, ran: list[int], gate: threading.Event, *, first_alone: bool) -> None:
    """Requests in turn: (one alone, if `first_alone`), one alone held open while another runs beside it, one
    alone again; the registry is closed after."""

    async def scenario() -> None:
        if first_alone:
            await _speak(reg, "alone")
        started = len(ran) + 1
        held = asyncio.ensure_future(_speak(reg, "hold"))  # alone: then waits for the gate
        while len(ran) < started:
            await asyncio.sleep(0.01)
        await _speak(reg, "beside it")  # another is running
        gate.set()
        await held
        await _speak(reg, "alone again")

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        reg.close()


@pytest.mark.parametrize("ahead", [True, False])
def test_a_lone_request_runs_on_every_core_and_concurrent_ones_share(tiny_voice, ahead):
    gate, paced = threading.Event(), []
    reg, ran, loaded = _registry(tiny_voice, solo_threads=4, gate=gate, paced=paced, solo_ahead=ahead)
    assert sorted(loaded) == [1, 1, 4]  # two worker copies and the all-cores one

    _alone_beside_alone(reg, ran, gate, first_alone=True)
    assert ran == [4, 4, 1, 4]
    assert reg.slots["v"].stats.solo == 3
    # The lone requests are paced (unless turned off); the one beside them keeps its windows.
    assert paced == [ahead, ahead, False, ahead]


def test_no_extra_copy_when_it_would_have_no_more_threads(tiny_voice):
    for solo_threads in (0, 1):
        reg, ran, loaded = _registry(tiny_voice, solo_threads=solo_threads)
        try:
            asyncio.run(_speak(reg, "alone"))
        finally:
            reg.close()
        assert loaded == [1, 1] and ran == [1]


@pytest.mark.parametrize("cores", [1, 2])
def test_the_default_is_the_usable_cores(tiny_voice, monkeypatch, cores):
    import voxport.server.registry as registry

    monkeypatch.setattr(registry, "_usable_cores", lambda: cores)
    reg, _, loaded = _registry(tiny_voice, solo_threads=None)
    copies = reg.pools["v"]._voices  # the workers', then the lone request's
    reg.close()
    assert loaded == ([1, 1, 2] if cores == 2 else [1, 1])
    # Only the copy that runs while its request is alone spins during its calls.
    assert [c.spin for c in copies] == ([False, False, True] if cores == 2 else [False, False])


TEXT = "A lone request speaks first. Then its next sentence comes whole. And the last one too!"


def _audio(tiny_bundle, monkeypatch, ahead: bool) -> tuple[np.ndarray, list[int], int]:
    """A lone request's audio through a real registry, its chunks per sentence, and its whole sentences."""
    import voxport.server.pool as pool

    made: list[AheadPacing] = []

    def pacing() -> AheadPacing:  # the listener is always far enough ahead: every later sentence is whole
        made.append(AheadPacing(margin=1e-12, clock=lambda: 0.0))
        return made[-1]

    monkeypatch.setattr(pool, "AheadPacing", pacing)
    reg = VoiceRegistry.load([VoiceSpec("v", tiny_bundle)], workers=1, queue_size=1, threads=1, solo_threads=2,
                             solo_ahead=ahead)

    async def speak() -> list[AudioChunk]:
        return [c async for c in await reg.open_stream("v", TEXT, SynthesisConfig(seed=3))]

    try:
        chunks = asyncio.run(speak())
    finally:
        reg.close()
    per_sentence = [sum(c.sentence_index == i for c in chunks) for i in range(3)]
    return np.concatenate([c.audio for c in chunks]), per_sentence, sum(p.whole_sentences for p in made)


def test_a_lone_request_gets_the_audio_it_would_get_in_windows(tiny_bundle, monkeypatch):
    windowed, windows, whole = _audio(tiny_bundle, monkeypatch, ahead=False)
    assert whole == 0 and min(windows) > 1
    paced, chunks, whole = _audio(tiny_bundle, monkeypatch, ahead=True)
    assert whole == 2 and chunks[0] == windows[0]
    # Equal within float rounding (Pipeline.whole_is_stream); the tiny committed voice gives the very samples.
    assert paced.shape == windowed.shape and float(np.max(np.abs(paced - windowed))) <= 1e-4


@pytest.mark.parametrize("flag,ahead", [([], True), (["--solo-windows"], False)])
def test_serve_paces_the_lone_request_unless_told_not_to(monkeypatch, tiny_bundle, flag, ahead):
    pytest.importorskip("uvicorn", reason="voxport serve needs the serve extra")
    import voxport.server.app as app
    from voxport.cli import main

    seen = {}

    async def fake_serve(registry, options):  # the registry as the server would get it, then stop
        pool = registry.pools["tiny"]
        seen["ahead"], seen["solo"] = pool._pace_alone, pool._solo is not None

    monkeypatch.setattr(app, "serve", fake_serve)
    argv = ["serve", "--voice", f"tiny={tiny_bundle}", "--preload", "--workers", "1", "--solo-threads", "2",
            "--port", "0", "--wyoming", "none", *flag]
    assert main(argv) == 0
    assert seen == {"ahead": ahead, "solo": True}


def test_with_one_shared_pool_a_lone_request_is_paced_on_a_worker_copy(tiny_voice, shared_pool_calls, monkeypatch):
    import voxport.server.registry as registry

    monkeypatch.setattr(registry, "_usable_cores", lambda: 2)
    gate, paced = threading.Event(), []
    reg, ran, loaded = _registry(tiny_voice, solo_threads=None, gate=gate, paced=paced, shared_pool=True)
    assert loaded == [1, 1] and shared_pool_calls == [2]  # no all-cores copy: the pool gives every core

    _alone_beside_alone(reg, ran, gate, first_alone=False)
    assert paced == [True, False, True] and reg.slots["v"].stats.solo == 0


@pytest.mark.parametrize("runtime", ["openvino", {"encoder": "onnxruntime", "vocoder": "openvino"}, "no-such"])
def test_the_shared_pool_leaves_other_runtimes_their_solo_copy(tiny_voice, shared_pool_calls, monkeypatch, runtime):
    import voxport.server.registry as registry

    monkeypatch.setattr(registry, "_usable_cores", lambda: 2)
    reg, _, loaded = _registry(tiny_voice, solo_threads=None, shared_pool=True, runtime=runtime)
    reg.close()
    assert loaded == [1, 1, 2] and shared_pool_calls == []


@pytest.mark.parametrize("flag,pooled", [([], False), (["--thread-pool", "shared"], True)])
def test_serve_shares_one_pool_when_told_to(monkeypatch, tiny_bundle, shared_pool_calls, flag, pooled):
    pytest.importorskip("uvicorn", reason="voxport serve needs the serve extra")
    import voxport.server.app as app
    import voxport.server.registry as registry
    from voxport.cli import main

    seen = {}

    async def fake_serve(reg, options):
        pool = reg.pools["tiny"]
        seen["solo"], seen["paced"] = pool._solo is not None, pool._pace_alone

    monkeypatch.setattr(app, "serve", fake_serve)
    monkeypatch.setattr(registry, "_usable_cores", lambda: 2)
    argv = ["serve", "--voice", f"tiny={tiny_bundle}", "--preload", "--workers", "1", "--port", "0",
            "--wyoming", "none", *flag]
    assert main(argv) == 0
    assert seen == {"solo": not pooled, "paced": True}
    assert shared_pool_calls == ([2] if pooled else [])
