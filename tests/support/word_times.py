"""What the server's word events must match: each sentence's word times as `Voice.stream` gives them."""

from __future__ import annotations


def expected_words(voice, text: str, **settings) -> list[tuple[str, float, float]]:  # noqa: ANN001
    words = []
    for chunk in voice.stream(text, seed=0, **settings):
        if chunk.timing is not None and chunk.last_in_sentence:
            words += [(w.word, w.start, w.end) for w in chunk.timing.words]
    return words
