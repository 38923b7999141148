"""The page of `voxport serve` in a real headless Chromium (W3C WebDriver over HTTP: tests/support/webdriver.py):
it loads from the app on uvicorn, asks for the API key, plays the streamed answer through Web Audio (an
AnalyserNode on the page's output sees the samples), shows time to first audio and the real-time factor,
highlights each word while the audio clock is inside it, honours an SSML break, and shows a 401.

Chromium and chromedriver come from Debian (`tests/support/install_test_tools.sh`, run by `make test`); without
them this module skips with that reason. A screenshot is kept in out/test-artifacts/serve_page.png."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
from support.webdriver import Browser, find_browser  # noqa: E402
from support.word_times import expected_words  # noqa: E402
from test_server_http import TIMEOUT, _run  # noqa: E402

from voxport.server.http import HttpOptions, build_app  # noqa: E402
from voxport.server.registry import VoiceRegistry, VoiceSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "out" / "test-artifacts"
KEY = "sesame"
TEXT = "Hello there, friend. This is voxport in a browser. One more sentence here."
SSML = '<speak>Hello there. <break time="1200ms"/> Good bye now.</speak>'
FRAME = 0.025  # the page checks the audio clock every 20 ms


@pytest.fixture(scope="module")
def url(tiny_bundle):
    reg = VoiceRegistry.load([VoiceSpec("tiny", tiny_bundle)], workers=1, queue_size=2)
    base, server, thread = _run(build_app(reg, HttpOptions(api_key=KEY, seed=0)))
    yield base
    server.should_exit = True
    thread.join(TIMEOUT)
    reg.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    found = find_browser()
    if found is None:
        pytest.skip("chromium and chromedriver are not installed (tests/support/install_test_tools.sh installs them)")
    b = Browser(*found, log=tmp_path_factory.mktemp("chromedriver") / "chromedriver.log")
    yield b
    b.close()


def speak(browser: Browser, text: str, fmt: str = "text") -> dict:
    browser.type("#text", text)
    browser.click(f"input[name=format][value={fmt}]")
    browser.click("#speak")
    return browser.wait("return window.voxport.finished && window.voxport", what="the page to finish playing")


def test_page_loads_without_the_key_and_asks_for_it(browser, url):
    browser.open(url + "/")
    error = browser.wait("return window.voxport.error", what="the 401 of /voices")
    assert error.startswith("401") and "API key" in error
    browser.type("#key", KEY)
    browser.run("document.getElementById('key').dispatchEvent(new Event('change'))")
    browser.wait("return document.getElementById('voice').value === 'tiny'", what="the voices")
    assert browser.run("return document.getElementById('error').hidden")


def test_speak_plays_as_it_streams_and_highlights_words_in_step(browser, url, tiny_voice):
    stats = speak(browser, TEXT)
    assert stats["error"] is None
    # Everything the server sent was scheduled, and an AudioNode after the sources received it.
    assert stats["samples"] == tiny_voice.synthesize(TEXT, seed=0).size
    assert stats["peak"] > 0.01, "the analyser on the page's output heard nothing"
    assert browser.text("#ttfa").endswith(" ms") and 0 < stats["firstAudioMs"] < 5000
    assert float(browser.text("#rtf")) == pytest.approx(stats["rtf"], abs=1e-3) and stats["rtf"] > 0
    want = expected_words(tiny_voice, TEXT)
    highlights = stats["highlights"]
    assert [h["index"] for h in highlights] == list(range(len(want)))  # every word, once, in order
    assert [h["word"] for h in highlights] == [w for w, _, _ in want]
    late = [h["audioTime"] - start for h, (_, start, _end) in zip(highlights, want, strict=True)]
    # Highlighted once the audio clock reached the word, never before, and at most three 25 ms checks late
    # (some of the tiny voice's words last less than one check; a busy CI machine delays timers).
    assert min(late) >= 0 and max(late) <= 3 * FRAME, late
    print(f"highlight delay after the word's start: median {sorted(late)[len(late) // 2] * 1000:.0f} ms, "
          f"max {max(late) * 1000:.0f} ms")
    # ... and the audio clock ran in real time: wall time between highlights equals audio time between words.
    wall = (highlights[-1]["wallMs"] - highlights[0]["wallMs"]) / 1000
    assert wall == pytest.approx(want[-1][1] - want[0][1], abs=4 * FRAME)


def test_screenshot_while_speaking(browser, url):
    """Kept for people to look at: a word highlighted mid-sentence (slowed down so that one is on screen)."""
    slow = "const s = document.getElementById('speed'); s.value = arguments[0]; s.dispatchEvent(new Event('input'))"
    browser.run(slow, "0.5")
    browser.type("#text", TEXT)
    browser.click("#speak")
    browser.wait("return window.voxport.highlights.length >= 6 && document.querySelector('#words .current')",
                 what="a highlighted word")
    path = browser.screenshot(ARTIFACTS / "serve_page.png")
    print(f"screenshot: {path}")
    browser.wait("return window.voxport.finished", what="the page to finish playing")
    browser.run(slow, "1")


def test_an_ssml_break_is_a_pause_in_playback(browser, url, tiny_voice):
    stats = speak(browser, SSML, "ssml")
    assert stats["error"] is None
    assert stats["samples"] == tiny_voice.synthesize(SSML, seed=0, text_format="ssml").size
    by_word = {h["word"]: h for h in stats["highlights"]}
    assert list(by_word) == [w for w, _, _ in expected_words(tiny_voice, SSML, text_format="ssml")]
    # "there" ends the first sentence; "Good" starts after the 1.2 s break, heard that much later.
    gap = (by_word["Good"]["wallMs"] - by_word["there"]["wallMs"]) / 1000
    assert gap >= 1.2


def test_a_wrong_key_shows_the_servers_refusal(browser, url):
    browser.type("#key", "not-the-key")
    browser.click("#speak")
    browser.wait("return window.voxport.error", what="the error")
    # Typing the key also reloads the voice list with it, which the server refuses too: whichever refusal
    # lands last is shown, the voice list's with a hint to type the server's key. Read in one script, since
    # the second refusal can land between two reads (it did in CI).
    error, hidden, shown = browser.run(
        "const e = document.getElementById('error'); return [window.voxport.error, e.hidden, e.innerText];")
    assert error in ("401: missing or wrong API key", "401: missing or wrong API key — type the server's API key")
    assert not hidden and shown == error
