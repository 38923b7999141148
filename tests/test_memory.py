"""Creating and dropping front-ends, and loading and closing voices, gives memory back (issue 14).

RSS is read from /proc/self/statm after gc.collect(), with warm-up cycles excluded (imports, one-off
caches and allocator pools grow RSS once). Linux only.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voxport.errors import EspeakUnavailableError
from voxport.text.frontend import TextFrontend
from voxport.text.phonemize import EspeakPhonemizer

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc (Linux)")


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _espeak_copies() -> set[str]:
    """The espeak-ng library files mapped into this process. phonemizer copies the library to a new
    temporary file and dlopens that copy on every load, and never unloads it, so each load shows here."""
    with open("/proc/self/maps", encoding="utf-8") as f:
        fields = [line.split(maxsplit=5) for line in f]
    paths = {parts[5].strip().removesuffix(" (deleted)") for parts in fields if len(parts) == 6}  # 5: anonymous
    return {path for path in paths if Path(path).name.startswith("libespeak-ng")}


def test_phonemizers_of_one_voice_share_one_espeak():
    a = EspeakPhonemizer("en-us")
    loaded = _espeak_copies()
    assert loaded  # the check below could not see a new copy otherwise
    b = EspeakPhonemizer("en-us")
    assert _espeak_copies() == loaded  # the second phonemizer of a voice maps no new library copy
    de = EspeakPhonemizer("de")
    hello, hallo = a.phonemize("Hello."), de.phonemize("Hallo.")
    assert hello != hallo
    # Interleaved calls keep their languages: one voice per library copy, no voice switched under a call.
    assert b.phonemize("Hello.") == hello and de.phonemize("Hallo.") == hallo and a.phonemize("Hello.") == hello


def test_an_unknown_voice_reuses_the_copy_it_loaded():
    before = _espeak_copies()
    for _ in range(3):
        with pytest.raises(EspeakUnavailableError, match="no voice"):
            EspeakPhonemizer("xx-not-a-voice")
    assert len(_espeak_copies() - before) <= 1  # a new copy per failed voice would be a leak


def test_frontends_created_and_dropped_keep_rss_flat(joe_phoneme_map):
    # Before the fix each front-end loaded its own copy of libespeak-ng, never unloaded: 0.9-1.5 MB
    # each, so 30 of them grew RSS by 25-45 MB. Now they share one; the bound leaves room for noise.
    def cycle() -> None:
        frontend = TextFrontend(joe_phoneme_map)
        assert frontend.phonemes("Hello world, this is a test.")

    for _ in range(3):
        cycle()
    gc.collect()
    before = _rss_mb()
    for _ in range(30):
        cycle()
    gc.collect()
    assert _rss_mb() - before < 5.0


_VOICE_CYCLES = textwrap.dedent("""
    import gc, json, os, sys
    from voxport import Voice

    def rss():
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def cycle():
        voice = Voice.load(sys.argv[1], progress=False, threads=1)
        voice.phonemize("Hello world, this is a memory test.")
        voice.close()

    for _ in range(int(sys.argv[2])):
        cycle()
    gc.collect()
    start = rss()
    for _ in range(int(sys.argv[3])):
        cycle()
    gc.collect()
    print(json.dumps({"growth_mb": rss() - start}))
""")


@pytest.mark.slow
def test_loading_and_closing_a_voice_100_times_keeps_rss_flat(joe_bundle):
    """100 Voice.load + close cycles of the real default voice grow RSS by < 8 MB (issue 14 asks < 10 MB).

    Runs in a fresh process so that nothing else the test session allocates is counted. Measured on a
    2-core AMD EPYC: 0.8 MB in total (it was 196 MB before espeak was shared and freed heap given back
    on close). The 8 MB bound keeps a margin under the issue's 10 MB; it can fail if a future change keeps
    something per voice alive (a cache keyed by voice, a session not released), if espeak is again
    loaded per front-end, or on a C library other than glibc (no malloc_trim: freed heap pages stay
    in RSS, measured at about 5 MB per 100 cycles, more on a fragmented heap).
    """
    proc = subprocess.run(
        [sys.executable, "-c", _VOICE_CYCLES, str(joe_bundle), "5", "100"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    growth = json.loads(proc.stdout.strip().splitlines()[-1])["growth_mb"]
    assert growth < 8.0, f"100 load/close cycles grew RSS by {growth:.1f} MB"
