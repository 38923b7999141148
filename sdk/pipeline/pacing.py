"""Pacing a stream: which sentences leave in windows and which are synthesized whole.

Windows exist for the first audio: a sentence streamed in windows starts playing after its first small
chunk, but every window pays its context margins again and runs graphs on shapes too small to use the
cores well (a sentence of the default voice costs 7-10% more CPU in windows than whole, benchmarks/solo_cpu.py).
Once the listener holds more audio than the next sentence takes to synthesize, nobody waits for that
sentence's first chunk, and rendering it whole, in one call per stage, is the cheaper way to the same audio.

`AheadPacing` decides that sentence by sentence from what it has measured on this stream: the audio handed
out so far (the listener's lead over real time, counted from the first audio) against the next sentence's
length times this stream's own seconds of synthesis per second of audio.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# An estimate from a sentence or two can be off (a longer sentence's encoder, a scheduler hiccup): a whole
# sentence is rendered only when the lead covers twice its expected synthesis time.
DEFAULT_MARGIN = 2.0


class AheadPacing:
    """Stream the first sentence in windows; render a later one whole once the listener is far enough ahead.

    One object per stream (it measures that stream). `Voice.stream` reports each piece of audio it hands out
    with the seconds spent making it (`made`) and asks before each sentence (`whole`).
    """

    def __init__(self, margin: float = DEFAULT_MARGIN, clock: Callable[[], float] = time.perf_counter) -> None:
        if margin <= 0:
            raise ValueError(f"the pacing margin must be positive, got {margin}")
        self.margin = margin
        self._clock = clock
        self._first: float | None = None  # when the first audio was handed out
        self._out = 0.0  # audio seconds handed out (silences between sentences included: they play too)
        self._spent = 0.0  # seconds spent synthesizing the speech among them
        self._spoken = 0.0  # audio seconds of that speech
        self.whole_sentences = 0  # how many sentences were rendered whole (for tests and benchmarks)

    def made(self, audio_seconds: float, seconds: float, *, speech: bool = True) -> None:
        """`audio_seconds` of audio were handed out after `seconds` spent making them (silence: `speech`
        False, nothing synthesized)."""
        if self._first is None and audio_seconds > 0:
            self._first = self._clock()
        self._out += audio_seconds
        if speech:
            self._spent += seconds
            self._spoken += audio_seconds

    def lead(self) -> float:
        """Seconds of audio the listener holds beyond what has played, if it plays from the first audio on."""
        if self._first is None:
            return 0.0
        return self._out - (self._clock() - self._first)

    def whole(self, audio_seconds: float) -> bool:
        """Render the next sentence, `audio_seconds` long, whole? Never before any speech was measured."""
        if self._spoken <= 0:
            return False
        expected = audio_seconds * self._spent / self._spoken
        if self.lead() < self.margin * expected:
            return False
        self.whole_sentences += 1
        return True
