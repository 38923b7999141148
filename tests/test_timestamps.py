"""Word times when words and phoneme groups do not pair one to one."""

from __future__ import annotations

from voxport.pipeline.timestamps import PhonemeTime, _align


def test_a_group_with_fewer_phonemes_than_its_words_gives_every_word_a_time():
    # Three words the voice's vocabulary spoke as one group of a single symbol (the rest were dropped):
    # each word still gets a time, the ones past the group's end at its end with no duration.
    words = _align(["to", "do", "so"], [[PhonemeTime("t", 0.5, 0.6)]], phonemize_word=lambda w: w)
    assert [w.word for w in words] == ["to", "do", "so"]
    assert (words[0].start, words[0].end) == (0.5, 0.6)
    assert all((w.start, w.end) == (0.6, 0.6) and w.phonemes == "" for w in words[1:])


def test_words_sharing_a_group_split_its_phonemes_in_order():
    group = [PhonemeTime(p, 0.1 * i, 0.1 * (i + 1)) for i, p in enumerate("fɹʌmðə")]
    words = _align(["from", "the"], [group], phonemize_word=lambda w: {"from": "fɹʌm", "the": "ðə"}[w])
    assert [(w.word, w.phonemes) for w in words] == [("from", "fɹʌm"), ("the", "ðə")]
    assert words[0].end == words[1].start
