"""Loaded copies of a voice that share one set of graph sessions (Voice.sibling): a server's workers hold the
weights and the runtime's arenas once. Shared only where a runtime's run is thread-safe (onnxruntime); the
sessions close with the last copy; concurrent copies speak exactly what one copy speaks in turn."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from voxport import Voice
from voxport.pipeline.sessions import StageSessions
from voxport.server.registry import VoiceRegistry, VoiceSpec

TEXTS = ["The quick brown fox.", "It jumps over the lazy dog.", "Numbers like 42 are read aloud.",
         "Short one.", "A somewhat longer sentence, with a pause inside it.", "The end."]


def test_siblings_share_sessions_and_speak_the_same_at_once(tiny_bundle):
    first = Voice.load(tiny_bundle, threads=1)
    copies = [first, first.sibling(), first.sibling()]
    assert all(c is not None for c in copies)
    for stage, session in first.sessions.sessions.items():
        assert all(c.sessions.sessions[stage] is session for c in copies[1:])
    want = [first.synthesize(t, seed=7) for t in TEXTS]
    got: list[np.ndarray | None] = [None] * len(TEXTS)
    errors: list[BaseException] = []

    def speak(voice: Voice, indices: range) -> None:
        try:
            for _ in range(3):  # overlap the copies' calls as much as a short text allows
                for i in indices:
                    got[i] = voice.synthesize(TEXTS[i], seed=7)
        except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=speak, args=(c, range(k, len(TEXTS), 3))) for k, c in enumerate(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)

    first.close()  # the others still hold the sessions
    assert copies[1].synthesize("Still speaking.", seed=0).size > 0
    copies[1].close()
    copies[2].close()
    with pytest.raises(Exception, match="session is closed"):
        copies[2].synthesize("Gone.", seed=0)


def test_a_fixed_shape_sibling_does_not_warm_up_again(tiny_bundle):
    with Voice.load(tiny_bundle, shapes="fixed", threads=1) as first:
        assert first.warm_up_seconds and first.engine.runners  # onnxruntime on buckets: every one ran once
        calls: list[str] = []
        for stage, session in first.sessions.sessions.items():  # the sessions the sibling will share
            real = session.run
            session.run = lambda feeds, _real=real, _stage=stage: calls.append(_stage) or _real(feeds)
        copy = first.sibling()
        assert copy is not None and calls == []  # the shared sessions met every bucket already
        assert copy.warm_up_seconds == first.warm_up_seconds and set(copy.engine.runners) == set(first.engine.runners)
        np.testing.assert_array_equal(copy.synthesize(TEXTS[0], seed=2), first.synthesize(TEXTS[0], seed=2))
        copy.close()


def test_sessions_that_cannot_run_at_once_are_not_shared(tiny_bundle):
    class OneAtATime:  # a session without `concurrent` (OpenVINO's infer requests, TensorRT's contexts)
        def close(self) -> None:
            pass

    sessions = StageSessions({"encoder": OneAtATime()})
    assert not sessions.concurrent
    with pytest.raises(ValueError, match="cannot run from several threads at once"):
        sessions.share()
    pytest.importorskip("openvino", reason="the OpenVINO case needs the openvino package")
    voice = Voice.load(tiny_bundle, runtime="openvino", threads=1, shapes="dynamic", compile_cache=False)
    try:
        assert voice.sibling() is None  # the server loads another copy instead
    finally:
        voice.close()


def test_a_server_pools_workers_on_one_set_of_sessions(tiny_bundle):
    reg = VoiceRegistry.load([VoiceSpec("tiny", str(tiny_bundle))], workers=3, queue_size=2, threads=1,
                             solo_threads=0)
    try:
        voices = reg.get("tiny")._voices  # the workers' copies (no solo copy: solo_threads=0)
        assert len(voices) == 3
        assert all(v.sessions.sessions == voices[0].sessions.sessions for v in voices)
        assert all(v.sessions.sessions["encoder"] is voices[0].sessions.sessions["encoder"] for v in voices)
    finally:
        reg.close()


@pytest.mark.parametrize("family", ["kokoro", "tacotron2-hifigan", "glowtts-hifigan"])
def test_every_family_shares_its_sessions(committed_bundle, family):
    """Siblings are the family's own pipeline on the shared sessions: each family speaks the same at once."""
    first = Voice.load(committed_bundle(family), threads=1)
    second = first.sibling()
    assert second is not None
    try:
        text = "One sentence. And another one."
        want = first.synthesize(text, seed=3)
        got: list[np.ndarray] = []
        thread = threading.Thread(target=lambda: got.append(second.synthesize(text, seed=3)))
        thread.start()
        again = first.synthesize(text, seed=3)
        thread.join()
        np.testing.assert_array_equal(want, got[0])
        np.testing.assert_array_equal(want, again)
    finally:
        first.close()
        second.close()
