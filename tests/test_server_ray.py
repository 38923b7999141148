"""`voxport serve` on Ray Serve: two replicas of the tiny voice on a local Ray, one killed mid-answer.

Each replica allows one request at a time (one worker), so two concurrent requests must land on two
replicas; every response names its replica (the Ray actor), which is how the test finds the one to kill.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray Serve scale-out needs the ray extra: pip install 'voxport[ray]'")
serve = pytest.importorskip("ray.serve", reason="Ray Serve scale-out needs the ray extra: pip install 'voxport[ray]'")
httpx = pytest.importorskip("httpx")

from voxport.server.ray_app import (  # noqa: E402
    DEPLOYMENT_NAME,
    REPLICA_HEADER,
    RayAppError,
    app_builder,
    build_application,
    parse_args,
    ray_status,
)
from voxport.server.registry import pcm16  # noqa: E402

APP = "voxport"
SENTENCES = [f"This is sentence number {i}, which keeps the voice busy for a while." for i in range(800)]
# About 10,000 characters, most of a second for the tiny voice: two such requests overlap, so the second
# cannot wait for the first's replica to become free.
TEXT = " ".join(SENTENCES[:150])
# About 55,000 characters: several seconds, so a replica can be killed while it is still speaking.
LONG_TEXT = " ".join(SENTENCES)
TIMEOUT = 60.0  # any single wait; a hang fails the test instead of stalling it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(tiny_bundle):
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        options = parse_args({"voices": f"tiny={tiny_bundle}", "replicas": 2, "seed": 0, "max_chars": 100_000,
                              "voice_map": "house=tiny"})
        serve.run(build_application(options), name=APP, route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


def speak(url: str, text: str, results: dict[str, object], key: str) -> None:
    """POST /v1/audio/speech (pcm) and record (replica, audio) or the exception, for a thread."""
    try:
        with httpx.stream("POST", f"{url}/v1/audio/speech", json={"input": text, "response_format": "pcm"},
                          timeout=TIMEOUT) as r:
            results[key] = (r.status_code, r.headers.get(REPLICA_HEADER), r.read())
    except Exception as exc:  # noqa: BLE001 - handed to the test thread
        results[key] = exc


def concurrently(url: str, texts: list[str]) -> list[tuple[int, str, bytes]]:
    results: dict[str, object] = {}
    threads = [threading.Thread(target=speak, args=(url, t, results, str(i))) for i, t in enumerate(texts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    answers = [results.get(str(i)) for i in range(len(texts))]
    for a in answers:
        assert isinstance(a, tuple), f"a request failed: {a!r}"
    return answers  # type: ignore[return-value]


def live_replicas() -> set[str]:
    """The Ray actors now alive for the deployment's replicas (named actors in Serve's namespace)."""
    prefix = f"SERVE_REPLICA::{APP}#{DEPLOYMENT_NAME}#"
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith(prefix)}


def test_two_replicas_answer_concurrently_with_the_same_audio(url, tiny_voice):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=TIMEOUT, max_retries=0)
    answers: dict[int, tuple[str, bytes]] = {}

    def with_openai(i: int) -> None:
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="tiny", input=TEXT, response_format="wav"
        ) as response:
            answers[i] = (response.headers[REPLICA_HEADER], b"".join(response.iter_bytes()))

    threads = [threading.Thread(target=with_openai, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert len(answers) == 2, "a request failed or hung"
    assert answers[0][0] != answers[1][0], "both requests were answered by one replica"
    assert {name for name, _ in answers.values()} == live_replicas()
    expected = pcm16(tiny_voice.synthesize(TEXT, seed=0))
    for _, data in answers.values():
        assert data[:4] == b"RIFF" and data[44:] == expected


def test_a_mapped_voice_name_reaches_its_voice_through_the_replicas(url, tiny_voice):
    """`--voice-map house=tiny` under --ray: the replicas' app answers the extra name with the voice it maps to."""
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": "A mapped name.", "voice": "house",
                                                    "response_format": "pcm"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.content == pcm16(tiny_voice.synthesize("A mapped name.", seed=0))


def test_errors_pass_through_the_proxy(url):
    r = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hi.", "voice": "nobody"}, timeout=TIMEOUT)
    assert r.status_code == 404 and "unknown voice" in r.json()["error"]["message"]
    assert httpx.get(f"{url}/voices", timeout=TIMEOUT).json()["tiny"]["workers"] == 1


def test_killed_replica_fails_its_request_and_is_replaced(url, tiny_voice):
    before = live_replicas()
    assert len(before) == 2
    survivor: dict[str, object] = {}
    other = threading.Thread(target=speak, args=(url, LONG_TEXT, survivor, "answer"))
    with httpx.stream("POST", f"{url}/v1/audio/speech", json={"input": LONG_TEXT, "response_format": "pcm"},
                      timeout=TIMEOUT) as r:
        assert r.status_code == 200
        victim = r.headers[REPLICA_HEADER]
        other.start()  # now: the only free replica is the other one
        received, killed_at = 0, None
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete"):
            for data in r.iter_raw():
                received += len(data)
                # Audio has arrived while the replica is still speaking: the proxy streams, and the
                # kill lands mid-answer.
                if killed_at is None and received >= 64_000:
                    ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
                    killed_at = time.monotonic()
        assert killed_at is not None, "the answer ended before the replica could be killed"
        assert time.monotonic() - killed_at < TIMEOUT / 2, "the cut-off request took too long to fail"

    other.join(TIMEOUT * 2)
    status, name, audio = survivor["answer"]  # type: ignore[misc]
    assert status == 200 and name != victim, "the other replica's request should be unaffected"
    assert audio == pcm16(tiny_voice.synthesize(LONG_TEXT, seed=0))

    # Serve notices the dead actor and starts a replacement: two replicas again, the victim not among them.
    deadline = time.monotonic() + TIMEOUT
    while True:
        live = live_replicas()
        if victim not in live and len(live) == 2 and ray_status(APP) == {"RUNNING": 2}:
            break
        assert time.monotonic() < deadline, f"not back to two replicas: {ray_status(APP)}, {live}"
        time.sleep(0.2)
    replacement = (live - before).pop()
    # The proxy learns of the replacement a moment after the controller; wait until it routes there.
    while httpx.get(f"{url}/health", timeout=TIMEOUT).headers[REPLICA_HEADER] != replacement:
        assert time.monotonic() < deadline, "the proxy never routed to the replacement replica"
        time.sleep(0.05)

    answers = concurrently(url, [TEXT, TEXT])
    assert {name for _, name, _ in answers} == live
    expected = pcm16(tiny_voice.synthesize(TEXT, seed=0))
    assert all(status == 200 and audio == expected for status, _, audio in answers)


@pytest.mark.parametrize(("args", "reason"), [
    ({}, "at least one voice"),
    ({"voices": "a=/x", "replicas": "two"}, "replicas must be an integer"),
    ({"voices": "a=/x", "autoscale": "3:1"}, "autoscale needs"),
    ({"voices": "a=/x", "autoscale": "many"}, "MIN:MAX"),
    ({"voices": "a=/x,a=/y"}, "unique"),
    ({"voices": "a=/x", "num_cpus": "nan"}, "num_cpus"),
    ({"voices": "a=/x", "queue": 0}, "queue must be >= 1"),
    ({"voices": "a=/x", "replica": 2}, "unknown argument"),
    ({"voices": "a=/x", "voice_map": "alloy"}, "voice_map: --voice-map is NAME=VOICE"),
    ({"voices": "a=/x", "voice_map": 3}, "voice_map is NAME=VOICE"),
])
def test_bad_application_arguments_are_refused_with_the_reason(args, reason):
    with pytest.raises(RayAppError, match=reason):
        parse_args(args)


def test_autoscaling_options_follow_the_replica_size():
    options = parse_args({"voices": "a=/x,b=/y", "workers": "2", "threads": 2, "autoscale": "0:4"})
    assert options.deployment_options() == {
        "max_ongoing_requests": 4, "max_queued_requests": 8, "ray_actor_options": {"num_cpus": 8.0},
        "autoscaling_config": {"min_replicas": 0, "max_replicas": 4, "initial_replicas": 1,
                               "target_ongoing_requests": 4.0},
    }
    assert parse_args({"voices": ["a=/x"], "replicas": 3}).deployment_options()["num_replicas"] == 3
    assert parse_args({"voices": "a=/x", "voice_map": "alloy=a, echo=a"}).replica.http.voice_map == (
        ("alloy", "a"), ("echo", "a"))
    # `serve run voxport.server.ray_app:app_builder voices=... replicas=2` passes every value as a string.
    assert isinstance(app_builder({"voices": "a=/x", "replicas": "2", "seed": "0"}), serve.Application)


@pytest.mark.parametrize(("argv", "message"), [
    (["--replicas", "2", "--autoscale", "1:2"], "give --replicas or --autoscale, not both"),
    (["--autoscale", "4:2"], "autoscale needs"),
    (["--voice", "x=/nonexistent/voice.bundle"], "voice 'x': nothing at /nonexistent/voice.bundle"),
    (["--port", "0"], "--ray serves HTTP"),
])
def test_cli_refuses_bad_ray_options_before_starting_ray(argv, message, capsys, tiny_bundle):
    from voxport.cli import main

    voice = [] if "--voice" in argv else ["--voice", f"tiny={tiny_bundle}"]
    assert main(["serve", "--ray", *voice, *argv]) == 1
    assert message in capsys.readouterr().err
