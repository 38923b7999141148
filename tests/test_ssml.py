"""SSML input (voxport.text.ssml): every supported tag, exact break lengths, say-as readings, bad documents."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxport.cli import main
from voxport.text.ssml import BREAK_STRENGTHS, RATES, Pause, Speech, SsmlError, SsmlWarning, parse_ssml

QUIET = {"noise_scale": 0.0, "noise_w": 0.0}  # deterministic audio, so pieces can be compared exactly


def texts(ssml: str, language: str = "en-us") -> list[str]:
    return [item.text for item in parse_ssml(ssml, language) if isinstance(item, Speech)]


def say(kind: str, content: str, language: str = "en-us", fmt: str | None = None) -> str:
    attrs = f' format="{fmt}"' if fmt else ""
    [text] = texts(f'<speak><say-as interpret-as="{kind}"{attrs}>{content}</say-as></speak>', language)
    return text


# --- parsing -----------------------------------------------------------------------------------------------


def test_speak_p_s_mark_sentences():
    items = parse_ssml("<speak><p><s>One</s><s>Two</s></p><p>Three</p></speak>")
    assert items == [Speech("One"), Speech("Two"), Speech("Three")]
    assert all(i.new_sentence for i in items)
    # A fragment without <speak> is wrapped; text in one sentence stays one piece.
    assert parse_ssml("Hello <sub alias='there'>x</sub> friend.") == [Speech("Hello there friend.")]


def test_break_time_and_strength():
    def pauses(ssml):
        return [i.seconds for i in parse_ssml(ssml) if isinstance(i, Pause)]

    assert pauses('A <break time="500ms"/> B <break time="1.5s"/> C <break time=".25s"/> D') == [0.5, 1.5, 0.25]
    for strength, seconds in BREAK_STRENGTHS.items():
        assert pauses(f'A <break strength="{strength}"/> B') == [seconds]
    assert pauses("A <break/> B") == [BREAK_STRENGTHS["medium"]]
    assert pauses('A <break time="100ms" strength="x-strong"/> B') == [0.1]  # time wins
    assert pauses('A <break time="100ms"/><break time="200ms"/> B') == [pytest.approx(0.3)]  # they add up
    # Text on both sides of a break in one sentence: the second part continues the sentence.
    assert parse_ssml('Hello <break time="1s"/> world.') == [Speech("Hello"), Pause(1.0),
                                                             Speech("world.", new_sentence=False)]


def test_prosody_rate_values_and_nesting():
    def rates(ssml):
        return [i.rate for i in parse_ssml(ssml) if isinstance(i, Speech)]

    for keyword, rate in RATES.items():
        assert rates(f'<prosody rate="{keyword}">x</prosody>') == [rate]
    assert rates('<prosody rate="80%">x</prosody>') == [0.8]
    assert rates('<prosody rate="+20%">x</prosody> <prosody rate="-20%">y</prosody>') == [1.2, 0.8]
    assert rates('<prosody rate="1.5">x</prosody>') == [1.5]
    assert rates('a <prosody rate="50%">b <prosody rate="50%">c</prosody> d</prosody> e') == [1, .5, .25, .5, 1]


def test_say_as_english():
    assert say("characters", "abc") == "[[ ˈeɪ ]] B C"  # a lone "a" is the article to espeak
    assert say("characters", "R2-D2") == "R two D two"
    assert say("spell-out", "TTS") == "T T S"
    assert say("cardinal", "1,234") == "one thousand two hundred thirty-four"
    assert say("cardinal", "-3.5") == "minus three point five"
    assert say("ordinal", "22") == "twenty-second"
    assert say("ordinal", "3rd") == "third"
    assert say("digits", "2024") == "two zero two four"
    assert say("date", "2024-01-05") == "January fifth, twenty twenty-four"
    assert say("date", "01/05/2024") == "January fifth, twenty twenty-four"
    assert say("date", "05.01.2024", fmt="dmy") == "January fifth, twenty twenty-four"
    assert say("date", "3-2024", fmt="my") == "March twenty twenty-four"
    assert say("time", "14:30") == "fourteen thirty"
    assert say("time", "9:05 pm") == "nine oh five P M"
    assert say("telephone", "+1 555-123-4567") == "plus one, five five five, one two three, four five six seven"


def test_say_as_other_languages():
    assert say("cardinal", "1.234", "de") == "eintausendzweihundertvierunddreißig"
    assert say("ordinal", "3", "fr") == "troisième"
    assert say("digits", "42", "es") == "cuatro dos"
    assert say("time", "14:30", "de") == "vierzehn Uhr dreißig"
    assert say("telephone", "555 12", "it") == "cinque cinque cinque, uno due"
    assert say("digits", "42", "fi") == "4 2"  # no normalizer: espeak-ng reads the digits one by one
    assert say("date", "3.5.2024", "de", fmt="dmy") == "3.5.2024"  # dates elsewhere: as written, espeak reads them


def test_say_as_output_is_what_the_voice_speaks(tiny_voice):
    ssml = ('<speak>Room <say-as interpret-as="digits">123</say-as>, '
            '<say-as interpret-as="ordinal">2</say-as> floor.</speak>')
    [sentence] = tiny_voice.iter_sentences(ssml, text_format="ssml", **QUIET)
    assert sentence.text == "Room one two three, second floor."
    assert sentence.phonemes == tiny_voice.phonemize("Room one two three, second floor.")[0]


def test_say_as_that_does_not_fit_is_spoken_as_written_with_a_warning():
    with pytest.warns(SsmlWarning, match="cannot be read as cardinal"):
        assert say("cardinal", "lots") == "lots"
    with pytest.warns(SsmlWarning, match="not supported"):
        assert say("x-unknown", "words") == "words"


def test_sub_and_phoneme():
    assert texts('<speak><sub alias="World Wide Web">WWW</sub></speak>') == ["World Wide Web"]
    assert texts('<speak>say <phoneme alphabet="ipa" ph="təmˈeɪɾoʊ">tomato</phoneme> now</speak>') == [
        "say [[ təmˈeɪɾoʊ ]] now"]


def test_unknown_tags_are_spoken_with_a_warning():
    with pytest.warns(SsmlWarning, match="<emphasis>"):
        assert texts("<speak>a <emphasis>big</emphasis> deal</speak>") == ["a big deal"]


# --- bad SSML ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ssml,message", [
    ("<speak>Hi <s>there</speak>", "line 1, column 21: mismatched tag"),
    ("<speak>Hi\n<s>there", "line 2"),
    ('<!DOCTYPE speak [<!ENTITY boom "xxxx">]><speak>&boom;</speak>', "DOCTYPE"),
    ("<speak>&nbsp;</speak>", "undefined entity"),
    ('<speak>A <break time="fast"/></speak>', 'time="fast"'),
    ('<speak>A <break time="-1s"/></speak>', 'time="-1s"'),
    ('<speak>A <break time="2min"/></speak>', 'time="2min"'),
    ('<speak>A <break time="100s"/></speak>', "at most 60 s"),
    ('<speak>A <break strength="loud"/></speak>', 'strength="loud"'),
    ('<speak><prosody rate="zoom">A</prosody></speak>', 'rate="zoom"'),
    ('<speak><prosody rate="0%">A</prosody></speak>', "between"),
    ('<speak><phoneme alphabet="x-sampa" ph="h@l">A</phoneme></speak>', "only alphabet"),
    ("<speak><phoneme>A</phoneme></speak>", "needs ph"),
    ("<speak><sub>A</sub></speak>", "alias"),
    ("<speak><say-as>5</say-as></speak>", "interpret-as"),
    ("<speak><speak>A</speak></speak>", "root"),
])
def test_bad_ssml_is_a_clear_error(ssml, message):
    with pytest.raises(SsmlError, match=message.replace("(", r"\(")) as info:
        parse_ssml(ssml)
    assert isinstance(info.value, ValueError)


def test_too_long_ssml_is_refused():
    with pytest.raises(SsmlError, match="too long"):
        parse_ssml("<speak>" + "a" * 1_000_001 + "</speak>")


def test_unknown_voice_on_a_single_speaker_voice(tiny_voice):
    with pytest.raises(SsmlError, match='voice name="carol".*single speaker'):
        tiny_voice.synthesize('<speak><voice name="carol">Hi</voice></speak>', text_format="ssml")
    with pytest.raises(ValueError, match="text_format"):
        tiny_voice.synthesize("Hi", text_format="html")


def test_plain_text_is_never_parsed_as_markup(tiny_voice):
    text = 'a < b and <break time="5s"/> stays text'
    [sentence] = tiny_voice.iter_sentences(text, **QUIET)
    assert "<break" in sentence.text and sentence.silence_before == 0
    audio = tiny_voice.synthesize(text, **QUIET)
    assert audio.size < 2 * tiny_voice.sample_rate  # no five seconds of silence


# --- audio -------------------------------------------------------------------------------------------------


def test_break_is_exactly_its_samples_of_silence(tiny_voice):
    rate = tiny_voice.sample_rate
    hello, world = (tiny_voice.synthesize(t, **QUIET) for t in ("Hello", "world"))
    for time, seconds in (("250ms", 0.25), ("1.5s", 1.5), ("33ms", 0.033)):
        audio = tiny_voice.synthesize(f'<speak>Hello <break time="{time}"/> world</speak>', text_format="ssml",
                                      **QUIET)
        n = round(seconds * rate)
        assert audio.size == hello.size + n + world.size
        np.testing.assert_array_equal(audio[: hello.size], hello)
        assert not audio[hello.size : hello.size + n].any()
        np.testing.assert_array_equal(audio[hello.size + n :], world)
    assert round(0.25 * rate) == (4000 if rate == 16000 else 5512)


def test_breaks_replace_the_sentence_silence_and_lead_and_trail(tiny_voice):
    rate, gap = tiny_voice.sample_rate, round(tiny_voice.sentence_silence * tiny_voice.sample_rate)
    one, two = (tiny_voice.synthesize(t, **QUIET) for t in ("One", "Two"))
    plain = tiny_voice.synthesize("<speak><s>One</s><s>Two</s></speak>", text_format="ssml", **QUIET)
    assert plain.size == one.size + gap + two.size  # sentences keep the voice's sentence silence
    ssml = '<speak><break time="100ms"/><s>One</s><break strength="strong"/><s>Two</s><break time="1s"/></speak>'
    items = list(tiny_voice.iter_sentences(ssml, text_format="ssml", **QUIET))
    assert [(s.text, s.silence_before) for s in items] == [
        ("One", round(0.1 * rate)), ("Two", round(BREAK_STRENGTHS["strong"] * rate)), ("", rate)]
    audio = tiny_voice.synthesize(ssml, text_format="ssml", **QUIET)
    assert audio.size == round(0.1 * rate) + one.size + round(0.7 * rate) + two.size + rate
    none = tiny_voice.synthesize('<speak><s>One</s><break strength="none"/><s>Two</s></speak>', text_format="ssml",
                                 **QUIET)
    assert none.size == one.size + two.size


def test_prosody_rate_scales_the_durations(tiny_voice):
    base = tiny_voice.engine.scales().length_scale
    text = "The quick brown fox jumps over the lazy dog."
    normal = next(tiny_voice.iter_sentences(text, **QUIET))
    slow = next(tiny_voice.iter_sentences(f'<speak><prosody rate="50%">{text}</prosody></speak>', text_format="ssml",
                                          **QUIET))
    fast = next(tiny_voice.iter_sentences(f'<prosody rate="2">{text}</prosody>', text_format="ssml", **QUIET))
    assert slow.phoneme_ids == normal.phoneme_ids
    assert 1.8 < slow.frames.sum() / normal.frames.sum() < 2.2
    assert 0.4 < fast.frames.sum() / normal.frames.sum() < 0.6
    np.testing.assert_array_equal(slow.audio, tiny_voice.synthesize(text, length_scale=2 * base, **QUIET))
    # Nested rates multiply: 50% of 50% is a quarter of the speed.
    nested = next(tiny_voice.iter_sentences(
        f'<prosody rate="50%"><prosody rate="50%">{text}</prosody></prosody>', text_format="ssml", **QUIET))
    np.testing.assert_array_equal(nested.frames, next(tiny_voice.iter_sentences(text, length_scale=4 * base,
                                                                                 **QUIET)).frames)


def test_phoneme_equals_the_raw_passthrough(tiny_voice):
    ssml = '<speak>Say <phoneme alphabet="ipa" ph="təmˈeɪɾoʊ">tomato</phoneme> twice.</speak>'
    [ours] = tiny_voice.iter_sentences(ssml, text_format="ssml", **QUIET)
    [raw] = tiny_voice.iter_sentences("Say [[ təmˈeɪɾoʊ ]] twice.", **QUIET)
    assert ours.phoneme_ids == raw.phoneme_ids and "təmˈeɪɾoʊ" in ours.phonemes
    np.testing.assert_array_equal(ours.audio, raw.audio)


def test_sub_and_say_as_audio_equal_the_words(tiny_voice):
    ssml = '<speak><sub alias="World Wide Web">WWW</sub> at <say-as interpret-as="time">9:05</say-as></speak>'
    np.testing.assert_array_equal(tiny_voice.synthesize(ssml, text_format="ssml", **QUIET),
                                  tiny_voice.synthesize("World Wide Web at nine oh five", **QUIET))


SSML = ('<speak><p>Streaming <prosody rate="slow">works</prosody> with SSML.</p><break time="300ms"/>'
        '<p><s>It has <say-as interpret-as="cardinal">12</say-as> words.</s><s>The end!</s></p></speak>')


@pytest.mark.parametrize("first,size", [(1, 3), (8, 512)])
def test_stream_equals_synthesize_for_ssml(tiny_voice, first, size):
    ref = tiny_voice.synthesize(SSML, text_format="ssml", seed=5)
    chunks = list(tiny_voice.stream(SSML, text_format="ssml", seed=5, first_chunk_frames=first, chunk_frames=size))
    out = np.concatenate([c.audio for c in chunks])
    assert out.shape == ref.shape and float(np.max(np.abs(out - ref))) <= 1e-4
    offsets = np.cumsum([0] + [c.audio.size for c in chunks[:-1]]).tolist()
    assert [c.offset for c in chunks] == offsets
    # Timestamps count the break: each sentence starts where its first chunk lies.
    timings = []
    for c in chunks:
        if c.timing is not None and c.timing not in timings:
            timings.append(c.timing)
            assert c.timing.start == pytest.approx(c.offset / tiny_voice.sample_rate)
    assert [t.text for t in timings] == ["Streaming", "works", "with SSML.", "It has twelve words.", "The end!"]
    silences = [c.audio.size for c in chunks if c.sentence_index == -1]
    assert round(0.3 * tiny_voice.sample_rate) in silences
    with pytest.raises(TypeError, match="one string"):
        list(tiny_voice.stream(iter(["<speak>a</speak>"]), text_format="ssml"))


# --- voices ------------------------------------------------------------------------------------------------

SPEAKERS = {"alice": 0, "bob": 1, "7": 2}


@pytest.fixture(scope="module")
def multi_voice(tmp_path_factory, joe_phoneme_map):
    pytest.importorskip("torch", reason="building test voices needs the export extra (torch)")
    from support.tiny import tiny_model

    from voxport import Voice
    from voxport.export.vits.build import PIPER_MARKERS, build_vits_bundle
    from voxport.synthesis import Scales

    path = build_vits_bundle(
        tiny_model(n_speakers=3, gin_channels=8), tmp_path_factory.mktemp("ssml-multi") / "tiny-multi",
        name="tiny-multi", phoneme_id_map=joe_phoneme_map, inference=Scales(), speaker_id_map=SPEAKERS,
        phonemizer={"type": "espeak", "voice": "en-us", **PIPER_MARKERS},
        source={"kind": "test", "license": "test-only"},
    )
    with Voice.load(path, threads=1) as voice:
        yield voice


def test_voice_tag_selects_a_speaker(multi_voice):
    def ssml(name):
        return multi_voice.synthesize(f'<speak><voice name="{name}">Hello there.</voice></speak>',
                                      text_format="ssml", **QUIET)

    bob = multi_voice.synthesize("Hello there.", speaker="bob", **QUIET)
    np.testing.assert_array_equal(ssml("bob"), bob)
    np.testing.assert_array_equal(ssml("1"), bob)
    np.testing.assert_array_equal(ssml("7"), multi_voice.synthesize("Hello there.", speaker=2, **QUIET))
    mixed = multi_voice.synthesize('<speak><s>Hello there.</s><voice name="bob"><s>Hello there.</s></voice></speak>',
                                   text_format="ssml", speaker="alice", **QUIET)
    alice = multi_voice.synthesize("Hello there.", speaker="alice", **QUIET)
    assert not np.array_equal(alice, bob)
    gap = round(multi_voice.sentence_silence * multi_voice.sample_rate)
    np.testing.assert_array_equal(mixed, np.concatenate([alice, np.zeros(gap, np.float32), bob]))


def test_unknown_voice_lists_the_known_ones(multi_voice):
    for name in ("carol", "9"):
        with pytest.raises(SsmlError, match=f'voice name="{name}"') as info:
            multi_voice.synthesize(f'<speak>Hi <voice name="{name}">there</voice></speak>', text_format="ssml")
        assert all(known in str(info.value) for known in SPEAKERS)


# --- command line ------------------------------------------------------------------------------------------


def test_cli_speaks_ssml(tiny_bundle, tmp_path: Path, capsys, tiny_voice):
    out = tmp_path / "ssml.wav"
    assert main(["speak", '<speak>Hi<break time="1s"/></speak>', "--ssml", "--bundle", str(tiny_bundle),
                 "-o", str(out), "--noise-scale", "0", "--noise-w", "0"]) == 0
    audio, rate = sf.read(out, dtype="float32")
    assert audio.size == tiny_voice.synthesize("Hi", **QUIET).size + rate
    assert not audio[-rate:].any()
    # Without --ssml the markup is text.
    assert main(["speak", '<speak>Hi<break time="1s"/></speak>', "--bundle", str(tiny_bundle), "-o", str(out),
                 "--noise-scale", "0", "--noise-w", "0"]) == 0
    assert sf.read(out)[0].size != audio.size


def test_cli_bad_ssml_is_one_line(tiny_bundle, tmp_path: Path, capsys):
    capsys.readouterr()
    code = main(["speak", "<speak>Hi <s>there</speak>", "--ssml", "--bundle", str(tiny_bundle),
                 "-o", str(tmp_path / "x.wav")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "malformed SSML at line 1, column 21" in err


def test_no_warnings_for_supported_markup(tiny_voice):
    """Every tag in SSML is supported: none warns, and each does what it says in the audio."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SsmlWarning)
        pieces = list(tiny_voice.iter_sentences(SSML, text_format="ssml", **QUIET))
        audio = tiny_voice.synthesize(SSML, text_format="ssml", **QUIET)
    rate, gap = tiny_voice.sample_rate, round(tiny_voice.sentence_silence * tiny_voice.sample_rate)
    # <p>, <s> and <prosody>: the pieces and sentences; <break time="300ms">: exactly 300 ms of silence
    # before the second paragraph in place of the sentence silence; the sentence after it keeps that silence.
    assert [(p.text, p.silence_before) for p in pieces] == [
        ("Streaming", 0), ("works", 0), ("with SSML.", 0), ("It has twelve words.", round(0.3 * rate)),
        ("The end!", gap)]
    # <prosody rate="slow">: that word alone at the voice's length scale over the "slow" rate.
    slow = next(tiny_voice.iter_sentences("works", length_scale=tiny_voice.engine.scales().length_scale
                                          / RATES["slow"], **QUIET))
    assert pieces[1].phoneme_ids == slow.phoneme_ids
    np.testing.assert_array_equal(pieces[1].audio, slow.audio)
    # <say-as interpret-as="cardinal">: the number spoken as the word.
    [words] = tiny_voice.iter_sentences("It has twelve words.", **QUIET)
    assert pieces[3].phoneme_ids == words.phoneme_ids
    np.testing.assert_array_equal(pieces[3].audio, words.audio)
    # synthesize() is those pieces with their silences, nothing else.
    np.testing.assert_array_equal(audio, np.concatenate(
        [part for p in pieces for part in (np.zeros(p.silence_before, np.float32), p.audio)]))


def test_namespaced_document_with_declaration():
    ssml = ('<?xml version="1.0"?>\n<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
            'xml:lang="en-US"><s>Hi &amp; bye</s><break time="1s"/><s>Done &#x21;</s></speak>')
    assert parse_ssml(ssml) == [Speech("Hi & bye"), Pause(1.0), Speech("Done !")]
