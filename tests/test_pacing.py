"""A paced stream renders a later sentence whole once the listener is far enough ahead: the same audio and
word timings as its windows (issue 23, item 4), and its decisions follow the lead it measures."""

from __future__ import annotations

import numpy as np
import pytest

from voxport.pipeline.pacing import AheadPacing

TEXT = "The first sentence streams in windows. The second one is rendered whole. So is the third, at last!"
# Streamed windows join into the whole render up to float rounding (Pipeline.whole_is_stream; as in
# tests/test_streaming.py).
TOLERANCE = 1e-4


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def always_ahead() -> AheadPacing:
    """A pacing whose listener is always ahead: the clock stands still and any lead covers the margin."""
    return AheadPacing(margin=1e-12, clock=Clock())


def _chunks(voice, **kwargs):
    return list(voice.stream(TEXT, seed=5, first_chunk_frames=2, chunk_frames=16, **kwargs))


def test_later_sentences_rendered_whole_join_into_the_same_audio_and_timings(tiny_voice):
    plain = _chunks(tiny_voice)
    pacing = always_ahead()
    paced = _chunks(tiny_voice, pacing=pacing)
    assert pacing.whole_sentences == 2  # every sentence after the first
    first = [c for c in paced if c.sentence_index == 0]
    assert len(first) > 1 and len(first) == len([c for c in plain if c.sentence_index == 0])  # still windows
    step = 16 * tiny_voice.hop_length
    for index in (1, 2):  # one whole render, handed out in pieces of chunk_frames
        sizes = [c.audio.size for c in paced if c.sentence_index == index]
        assert len(sizes) > 1 and set(sizes[:-1]) == {step} and 0 < sizes[-1] <= step
        assert [c.last_in_sentence for c in paced if c.sentence_index == index] == [False] * (len(sizes) - 1) + [True]
        assert sizes != [c.audio.size for c in plain if c.sentence_index == index]  # not the windows
    a, b = np.concatenate([c.audio for c in plain]), np.concatenate([c.audio for c in paced])
    assert a.shape == b.shape and float(np.max(np.abs(a - b))) <= TOLERANCE
    assert np.array_equal(a[: first[-1].offset], b[: first[-1].offset])  # the first sentence: the same calls
    assert [c.offset for c in paced] == np.cumsum([0] + [c.audio.size for c in paced[:-1]]).tolist()

    def timings(chunks):
        return [c.timing for c in chunks if c.timing is not None and c.last_in_sentence]

    assert timings(paced) == timings(plain) and len(timings(plain)) == 3


def test_a_family_whose_render_is_not_its_stream_keeps_its_windows(tiny_voice, monkeypatch):
    monkeypatch.setattr(tiny_voice.pipeline, "whole_is_stream", False)
    pacing = always_ahead()
    paced = _chunks(tiny_voice, pacing=pacing)
    assert pacing.whole_sentences == 0
    assert [c.audio.size for c in paced] == [c.audio.size for c in _chunks(tiny_voice)]


def test_pacing_renders_whole_only_when_the_lead_covers_the_margin():
    clock = Clock()
    pacing = AheadPacing(margin=2.0, clock=clock)
    assert not pacing.whole(1.0)  # nothing measured yet: the first sentence streams
    pacing.made(0.1, 0.05)  # first chunk: 0.1 s of audio in 0.05 s
    clock.now += 0.05
    pacing.made(1.9, 0.35)  # the rest of the sentence: 2 s of speech in 0.4 s, rate 0.2
    pacing.made(0.5, 0.0, speech=False)  # a pause plays too, but costs nothing to make
    clock.now += 0.35
    assert pacing.lead() == pytest.approx(2.5 - 0.4)
    # A 5 s sentence is expected to take 1 s; twice that (2 s) is within the 2.1 s lead.
    assert pacing.whole(5.0) and pacing.whole_sentences == 1
    assert not pacing.whole(5.5)  # 2 x 1.1 s > 2.1 s
    clock.now += 1.0  # the listener played a second more: 1.1 s left
    assert not pacing.whole(5.0) and pacing.whole(2.5)


def test_pacing_margin_must_be_positive():
    with pytest.raises(ValueError, match="margin"):
        AheadPacing(margin=0)
