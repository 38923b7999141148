"""Streaming: chunks join into exactly what synthesize() gives; text pieces; timestamps."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from voxport.bundle.contract import STAGES
from voxport.pipeline.reach import measure_reach
from voxport.pipeline.streaming import chunk_windows, sentences_from_pieces

TEXT = "Streaming starts early. The rest of the sentence follows while the first words already play!"


def test_windows_cover_every_frame_once_and_grow():
    for n in (1, 7, 8, 9, 100, 1000):
        windows = chunk_windows(n, 8, 512)
        assert windows[0][0] == 0 and windows[-1][1] == n
        assert all(a[1] == b[0] for a, b in pairwise(windows))
        sizes = [b - a for a, b in windows[:-1]]
        assert sizes == sorted(sizes)
    with pytest.raises(ValueError):
        chunk_windows(10, 0, 8)


def test_reach_is_measured_not_assumed(tiny_voice):
    reach = measure_reach(tiny_voice.engine)
    # Tiny model: 2 coupling layers of a 2-layer WaveNet with kernel 5 reach 2 * 2 * 2 = 8 frames.
    assert reach.decoder == 8
    assert 1 <= reach.vocoder < 16


@pytest.mark.parametrize("first,size", [(1, 1), (1, 4), (3, 17), (8, 512), (64, 64), (10_000, 10_000)])
def test_stream_equals_synthesize_at_every_chunk_size(tiny_voice, first, size):
    ref = tiny_voice.synthesize(TEXT, seed=11)
    chunks = list(tiny_voice.stream(TEXT, seed=11, first_chunk_frames=first, chunk_frames=size))
    out = np.concatenate([c.audio for c in chunks])
    assert out.shape == ref.shape
    assert float(np.max(np.abs(out - ref))) <= 1e-4
    offsets = np.cumsum([0] + [c.audio.size for c in chunks[:-1]])
    assert [c.offset for c in chunks] == offsets.tolist()


def test_first_chunk_is_small(tiny_voice):
    first = next(iter(tiny_voice.stream(TEXT, seed=0, first_chunk_frames=4)))
    assert first.audio.size == 4 * tiny_voice.hop_length


def test_text_pieces_are_spoken_sentence_by_sentence():
    tokens = ["Hel", "lo th", "ere. ", "How", " are", " you?", " Fine", "."]
    seen = []

    def feed():
        for t in tokens:
            seen.append(t)
            yield t

    out = []
    for sentence in sentences_from_pieces(feed()):
        out.append((sentence, len(seen)))
    assert [s for s, _ in out] == ["Hello there.", "How are you?", "Fine."]
    # The first sentence was released before the last token arrived.
    assert out[0][1] < len(tokens)


def test_stream_accepts_pieces_and_matches_whole_text(tiny_voice):
    pieces = ["Streaming starts ", "early. The rest of the sentence follows ", "while the first words already play!"]
    joined = np.concatenate([c.audio for c in tiny_voice.stream(pieces, seed=4)])
    np.testing.assert_allclose(joined, tiny_voice.synthesize(TEXT, seed=4), atol=1e-4)


def test_word_timestamps_are_monotonic_and_cover_the_audio(tiny_voice):
    chunks = list(tiny_voice.stream("One two three. Four five.", seed=2))
    total = sum(c.audio.size for c in chunks) / tiny_voice.sample_rate
    timings = []
    for c in chunks:
        if c.timing is not None and c.timing not in timings:
            timings.append(c.timing)
    assert [t.text for t in timings] == ["One two three.", "Four five."]
    words = [w for t in timings for w in t.words]
    assert [w.word for w in words] == ["One", "two", "three", "Four", "five"]
    for a, b in pairwise(words):
        assert a.start < a.end <= b.start
    assert timings[0].start == 0.0 and abs(timings[-1].end - total) < 1e-6
    for c in chunks:
        if c.timing is not None:  # every chunk of a sentence lies inside that sentence's span
            assert c.timing.start <= c.offset / tiny_voice.sample_rate < c.timing.end


def test_words_espeak_joins_still_get_their_own_spans(tiny_voice):
    # espeak speaks "from the" as one group ("fɹʌmðə") and "twenty-four" as two.
    text = "They came from the north with twenty-four horses."
    [chunk, *_] = tiny_voice.stream(text, seed=0)
    words = chunk.timing.words
    assert chunk.timing.words_aligned
    assert [w.word for w in words] == ["They", "came", "from", "the", "north", "with", "twenty-four", "horses"]
    for a, b in pairwise(words):
        assert a.start < a.end <= b.start


def test_first_chunk_leaves_before_the_rest_is_decoded(tiny_voice):
    calls = []
    with tiny_voice.engine.watch(lambda event: calls.append(event.stage) if event.stage in STAGES else None):
        chunks = tiny_voice.stream(TEXT, seed=0)
        next(chunks)
        # One encoder, duration, decoder-head and vocoder call; nothing of the rest of the sentence yet.
        assert calls == ["encoder", "duration", "decoder", "vocoder"]
        list(chunks)


@pytest.mark.parametrize("n,decoder_calls", [(20, 1), (41, 1), (42, 2), (300, 2)])
def test_a_head_that_reaches_the_end_is_the_only_decoder_call(n, decoder_calls):
    from voxport.bundle.manifest import Reach
    from voxport.pipeline.streaming import stream_windows

    reach = Reach(decoder=32, vocoder=1)  # the head decodes [0, 8 + 1 + 32 = 41) for an 8-frame first chunk
    latent = np.arange(n, dtype=np.float32)[None, None, :]
    calls = []

    def decode(lo: int, hi: int) -> np.ndarray:
        calls.append((lo, hi))
        return latent[:, :, lo:hi]

    # An identity "vocoder" of hop 1: the joined stream must be the latent itself, frame for frame.
    audio = np.concatenate([a for a, _ in stream_windows(decode, lambda z: z[0, 0], n, reach, hop=1, first=8,
                                                          size=512)])
    assert len(calls) == decoder_calls and calls[0][0] == 0
    np.testing.assert_array_equal(audio, latent[0, 0])
