"""Memory growth of loading and closing voices, and of creating text front-ends (issue 14).

A server that loads voices on demand creates and drops voices and front-ends for as long as it runs;
each cycle must give back what it took. This script runs, in this process:

* ``frontend``: ``TextFrontend`` created, used to phonemize a sentence, and dropped, N times;
* ``voice``: ``Voice.load(path)`` (default: the default voice), one phonemization, ``close()``, N times;

and prints the resident set size (RSS, from /proc/self/statm after ``gc.collect()``) every few cycles,
the total growth and the growth per cycle. Warm-up cycles (imports, one-off caches, allocator pools)
are run first and not counted. Target (issue 14): 100 voice cycles grow RSS by < 10 MB in total.

    python benchmarks/load_close_memory.py                 # both, 100 cycles each
    python benchmarks/load_close_memory.py voice -n 300    # a longer voice run
    python benchmarks/load_close_memory.py voice --keep-freed  # without giving freed heap back on close

Linux only (/proc). ``--keep-freed`` skips the ``malloc_trim`` that ``Voice.close`` runs, to show how
much of the remaining growth is glibc keeping freed pages rather than anything held.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

SENTENCE = "Hello world, this is a memory test. Loading and closing voices must not grow the process!"


def rss_mb() -> float:
    """Resident set size of this process in MiB (/proc/self/statm: pages)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(name: str, cycle: Callable[[], None], cycles: int, warmup: int, every: int) -> tuple[float, float]:
    """Run ``warmup`` uncounted cycles, then ``cycles`` counted ones; print RSS as it goes.

    Returns (total growth in MiB, seconds per cycle).
    """
    for _ in range(warmup):
        cycle()
    gc.collect()
    start_rss = rss_mb()
    print(f"{name}: RSS after {warmup} warm-up cycles {start_rss:.1f} MiB")
    start = time.perf_counter()
    for i in range(1, cycles + 1):
        cycle()
        if i % every == 0 or i == cycles:
            gc.collect()
            print(f"  {i:5d} cycles: {rss_mb() - start_rss:+7.2f} MiB", flush=True)
    seconds = (time.perf_counter() - start) / cycles
    growth = rss_mb() - start_rss
    print(f"{name}: {cycles} cycles grew RSS by {growth:+.2f} MiB in total, {growth / cycles * 1024:+.1f} KiB "
          f"per cycle ({seconds * 1e3:.0f} ms per cycle)")
    return growth, seconds


def frontend_cycle(phoneme_id_map: dict[str, list[int]]) -> Callable[[], None]:
    from voxport.text.frontend import TextFrontend

    def cycle() -> None:
        frontend = TextFrontend(phoneme_id_map)
        frontend.phonemes(SENTENCE)
        del frontend

    return cycle


def voice_cycle(path: Path | None, threads: int | None) -> Callable[[], None]:
    from voxport import Voice

    def cycle() -> None:
        voice = Voice.load(path, progress=False, threads=threads)
        voice.phonemize(SENTENCE)
        voice.close()
        del voice

    return cycle


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", help="frontend and/or voice (default: both)")
    parser.add_argument("-n", "--cycles", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--every", type=int, default=10, help="print RSS every this many cycles")
    parser.add_argument("--voice", type=Path, default=None, help="bundle directory (default: the default voice)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keep-freed", action="store_true", help="skip malloc_trim in Voice.close (diagnosis)")
    args = parser.parse_args(argv)
    if unknown := set(args.what) - {"frontend", "voice"}:
        parser.error(f"unknown {sorted(unknown)}: choose frontend and/or voice")
    if not Path("/proc/self/statm").exists():
        print("needs Linux (/proc/self/statm)", file=sys.stderr)
        return 2

    import voxport.voice

    if args.keep_freed:
        voxport.voice._malloc_trim, voxport.voice._malloc_trim_looked_up = None, True
    print(f"{cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.libc_ver()}")

    results = {}
    for what in args.what or ["frontend", "voice"]:
        if what == "frontend":
            from voxport import Voice

            voice = Voice.load(args.voice, progress=False, threads=args.threads)
            id_map = dict(voice.manifest.phoneme_id_map)
            voice.close()
            cycle = frontend_cycle(id_map)
        else:
            cycle = voice_cycle(args.voice, args.threads)
        results[what] = measure(what, cycle, args.cycles, args.warmup, args.every)
    if "voice" in results:
        growth = results["voice"][0]
        verdict = "meets" if growth < 10 * args.cycles / 100 else "MISSES"
        print(f"voice: {verdict} the target of < 10 MiB per 100 load/close cycles ({growth:+.2f} MiB "
              f"for {args.cycles})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
