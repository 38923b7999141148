"""What both fuzz files share (tests/test_server_fuzz.py, test_server_fuzz_http.py): the seed, how many cases
of each kind, the per-case RNG and the junk values."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TypeVar

SEED = 1414
MAX_CHARS = 300
TEXT = "Hello there. This is the check after the fuzz."
TIMEOUT = 30.0
ANSWER_TYPES = {"error", "audio-start", "audio-chunk", "audio-stop", "synthesize-stopped"}
# Cases of each kind, in both files (drawn by `draw`); test_enough_cases counts what the tests send.
COUNTS = {"wy_fields": 320, "wy_order": 120, "wy_bytes": 160, "wy_burst": 96, "http_field": 260,
          "http_body": 160, "http_junk": 100, "http_route": 30}
BURST_CLIENTS = 8
T = TypeVar("T")


def case_rng(kind: str, index: int) -> random.Random:
    return random.Random(f"{SEED}/{kind}/{index}")


def draw(kind: str, make: Callable[[random.Random], T]) -> list[T]:
    """The COUNTS[kind] cases of `kind` every test sends, in order; case i from its own RNG, so it replays alone."""
    return [make(case_rng(kind, index)) for index in range(COUNTS[kind])]


# --- junk values ------------------------------------------------------------------------------------------

def junk_string(rng: random.Random) -> str:
    alphabet = "aZ09 .,!?'\"<>&;:/\\\t\n\r\x00\x07\x1b\u00e9\u4e2d\u0627\U0001F600\u202e\ufeff\u200b"
    pick = rng.randrange(7)
    if pick == 0:
        return ""
    if pick == 1:
        return rng.choice([" ", "\n", "\t\t", "\x00", "...", "?!", "<speak>", "</speak>", "\u200b"])
    if pick == 2:
        return "x" * rng.choice([MAX_CHARS + 1, 4 * MAX_CHARS, 1_000_000])  # over the limit
    if pick == 3:
        return rng.choice(["../../etc/passwd", "/etc/passwd", "C:\\\\Windows", "tiny\x00", "TINY", "tiny "])
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))


def junk_value(rng: random.Random, depth: int = 0) -> object:
    pick = rng.randrange(12 if depth < 3 else 9)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 7, -(10 ** 12), 10 ** 30, 2 ** 63])
    if pick == 3:
        return rng.choice([0.0, -0.0, 1.5, -2.5, 1e-300, 1e308, math.nan, math.inf, -math.inf])
    if pick in (4, 5, 6, 7, 8):
        return junk_string(rng)
    if pick in (9, 10):
        return [junk_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {junk_string(rng)[:8]: junk_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
