"""`Voice.load(lean=True)` (CLI `--lean`): each graph call hands back its buffers when it returns (onnxruntime's
arena shrinks, OpenVINO releases the compiled model's memory). The audio must not change by a sample."""

from __future__ import annotations

import numpy as np
import pytest

from voxport import Voice
from voxport.runtimes import available_runtimes

TEXTS = ["A lean voice speaks what any voice speaks.", "Hi."]


def _speak(voice: Voice) -> list[np.ndarray]:
    return [voice.synthesize(t, seed=3) for t in TEXTS]


def test_onnxruntime_shrinks_its_arena_after_every_call_and_speaks_the_same(tiny_bundle):
    with Voice.load(tiny_bundle, threads=1) as plain, Voice.load(tiny_bundle, threads=1, lean=True) as lean:
        for session in lean.sessions.sessions.values():
            run_options = session._run_options
            assert run_options is not None
            assert run_options.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
        assert all(s._run_options is None for s in plain.sessions.sessions.values())
        for a, b in zip(_speak(plain), _speak(lean), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif("openvino" not in available_runtimes(), reason="openvino is not installed")
def test_openvino_releases_after_every_call_and_speaks_the_same(tiny_bundle, monkeypatch):
    import openvino as ov

    with Voice.load(tiny_bundle, runtime="openvino", threads=1) as plain:
        want = _speak(plain)
    released = []
    real = ov.CompiledModel.release_memory
    monkeypatch.setattr(ov.CompiledModel, "release_memory", lambda self: released.append(1) or real(self))
    with Voice.load(tiny_bundle, runtime="openvino", threads=1, lean=True) as lean:
        sessions = lean.sessions.sessions.values()
        runs_before, after_load = sum(s.stats.count for s in sessions), len(released)
        got = _speak(lean)
        runs = sum(s.stats.count for s in sessions) - runs_before
        assert len(released) - after_load == runs > 0  # one release per graph call, windows included
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_cli_passes_lean_to_the_voice(tiny_bundle, tmp_path, monkeypatch):
    from voxport.cli import main

    seen = {}
    real = Voice.load

    def load(*args, **kwargs):
        seen["lean"] = kwargs.get("lean")
        return real(*args, **kwargs)

    monkeypatch.setattr(Voice, "load", load)
    assert main(["speak", "Lean.", "--bundle", str(tiny_bundle), "-o", str(tmp_path / "a.wav"), "--lean"]) == 0
    assert seen == {"lean": True}


def test_serve_loads_every_copy_lean(tiny_bundle, monkeypatch):
    pytest.importorskip("uvicorn", reason="voxport serve needs the serve extra")
    import voxport.server.app as app
    from voxport.cli import main

    seen = {}

    async def fake_serve(registry, options):  # the registry as the server would get it, then stop
        voices = registry.pools["tiny"]._voices
        seen["lean"] = [all(s._run_options is not None for s in v.sessions.sessions.values()) for v in voices]

    monkeypatch.setattr(app, "serve", fake_serve)
    argv = ["serve", "--voice", f"tiny={tiny_bundle}", "--preload", "--workers", "2", "--port", "0",
            "--wyoming", "none", "--lean"]
    assert main(argv) == 0
    assert seen["lean"] and all(seen["lean"])


def test_a_lean_voice_trims_the_heap_after_every_sentence_and_a_plain_one_does_not(tiny_bundle, monkeypatch):
    import voxport.voice as voice_module

    trims = []
    monkeypatch.setattr(voice_module, "release_freed_memory", lambda: trims.append(1) or True)
    text = "One sentence here. And a second one there."
    with Voice.load(tiny_bundle, threads=1) as plain, Voice.load(tiny_bundle, threads=1, lean=True) as lean:
        trims.clear()
        plain.synthesize(text)
        list(plain.stream(text))
        assert trims == []
        lean.synthesize(text)
        assert len(trims) == 2
        list(lean.stream(text))
        assert len(trims) == 4
