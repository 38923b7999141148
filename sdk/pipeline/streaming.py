"""Streaming synthesis: audio leaves in small chunks while the rest of the sentence is still decoding.

Per sentence the encoder and duration predictor run once. The decoder then runs twice: a short head
covering the first chunk, then the rest of the sentence. The vocoder runs over growing frame windows,
each widened by a context margin on both sides that is cut away afterwards. Margins are the measured
receptive fields of the two graphs (voxport.pipeline.reach), so the chunks join into exactly the
audio of a whole-sentence render. Windows grow geometrically: the first is small for a fast first
sound; later ones are large because every window pays for its margins again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from voxport.bundle.manifest import Reach
from voxport.pipeline.timestamps import SentenceTiming
from voxport.pipeline.windows import DEFAULT_CHUNK_FRAMES, DEFAULT_FIRST_CHUNK_FRAMES
from voxport.text.sentences import split_sentences

__all__ = ["DEFAULT_CHUNK_FRAMES", "DEFAULT_FIRST_CHUNK_FRAMES", "AudioChunk", "LazyTiming", "chunk_windows",
           "sentences_from_pieces", "stream_windows"]

# Each window may be this many times the audio already out: with RTF well below 1/8 the next window is
# ready before the audio before it has played, and few windows keep the margin overhead small.
GROWTH = 8


@dataclass(frozen=True)
class AudioChunk:
    """A piece of the output stream: float32 samples starting at `offset` samples into the stream."""

    audio: np.ndarray
    offset: int
    sentence_index: int  # -1 for the silence between sentences
    last_in_sentence: bool
    # The sentence's phoneme/word times, shared by its chunks and computed on first access: aligning
    # words can take tens of ms on a long sentence and must not delay the first sound.
    timing_source: LazyTiming | None = None

    @property
    def timing(self) -> SentenceTiming | None:
        return None if self.timing_source is None else self.timing_source.get()


class LazyTiming:
    def __init__(self, compute: Callable[[], SentenceTiming]) -> None:
        self._compute: Callable[[], SentenceTiming] | None = compute
        self._value: SentenceTiming | None = None

    def get(self) -> SentenceTiming:
        if self._compute is not None:
            self._value, self._compute = self._compute(), None
        return self._value  # type: ignore[return-value]


def chunk_windows(n_frames: int, first: int, size: int, growth: int = GROWTH) -> list[tuple[int, int]]:
    """[start, stop) frame ranges covering n_frames: `first`, then growing by `growth` up to `size`."""
    if first < 1 or size < 1 or growth < 1:
        raise ValueError(f"chunk sizes must be >= 1 frame, got first={first}, size={size}, growth={growth}")
    windows, start, step = [], 0, first
    while start < n_frames:
        stop = min(n_frames, start + step)
        windows.append((start, stop))
        start, step = stop, min(size, max(step * growth, 1))
    return windows


def stream_windows(
    decode: Callable[[int, int], np.ndarray], vocode: Callable[[np.ndarray], np.ndarray], n: int, reach: Reach, *,
    hop: int, multiple: int = 1, first: int, size: int, growth: int = GROWTH,
) -> Iterator[tuple[np.ndarray, bool]]:
    """Yield (audio, is_last) window by window over `n` frames decoded by `decode(lo, hi)` (frames
    [lo, hi) of the decoder's output, on its frame `multiple`) and vocoded by `vocode(latent)`; the audio
    joined equals vocode(decode(0, n)) when `reach` holds both graphs' receptive fields.

    Whether a window is the last is known from the plan, not by computing the next one first: a
    look-ahead would decode the whole sentence before the first chunk could leave.
    """
    windows = chunk_windows(n, first, size, growth)
    latent: np.ndarray | None = None
    valid = 0  # decoded latent is exact on frames [0, valid)

    def decode_until(stop: int) -> None:
        nonlocal latent, valid
        # Decoder windows lie on the frame multiple (n is one), so the decoder groups frames as in a full render.
        lo = max(0, valid - reach.decoder) // multiple * multiple
        hi = min(n, -(-(stop + reach.decoder) // multiple) * multiple)
        # A call that reaches the sentence's end is exact up to it: keeping all of it spares a short
        # sentence (the default voice: under ~0.6 s) a second decoder call over the same frames.
        stop = n if hi == n else stop
        part = decode(lo, hi)[:, :, valid - lo : stop - lo]
        latent = part if latent is None else np.concatenate([latent, part], axis=2)
        valid = stop

    for i, (start, stop) in enumerate(windows):
        need = min(n, stop + reach.vocoder)
        if need > valid:
            # The head covers just the first window; after it, decode the rest in one call.
            decode_until(need if i == 0 else n)
        lo, hi = max(0, start - reach.vocoder), need
        audio = vocode(latent[:, :, lo:hi])
        yield audio[(start - lo) * hop : (stop - lo) * hop], i == len(windows) - 1


def sentences_from_pieces(pieces: Iterable[str], max_chars: int = 400) -> Iterator[str]:
    """Complete sentences as soon as text arriving in pieces (e.g. LLM tokens) contains them.

    A sentence is complete once text after its boundary has arrived (split_sentences then yields
    something after it); the remainder waits for more pieces or the end of the input.
    """
    buffer = ""
    for piece in pieces:
        buffer += piece
        if not buffer.strip():
            continue
        parts = list(split_sentences(buffer, max_chars=max_chars))
        if len(parts) > 1:
            yield from parts[:-1]
            # Keep the unfinished tail as raw text when it can be found, so spacing survives.
            head = parts[-1][:20]
            buffer = buffer[buffer.rfind(head) :] if head in buffer else parts[-1]
    if buffer.strip():
        yield from split_sentences(buffer, max_chars=max_chars)
