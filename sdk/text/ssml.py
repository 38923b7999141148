"""A subset of SSML (what voice assistants send, e.g. Home Assistant's Wyoming `text_format: ssml`).

Opt-in: ``Voice.synthesize(text, text_format="ssml")`` / ``voxport speak --ssml``; plain text is never
parsed as markup. `parse_ssml` turns a document into a flat list of `Speech` and `Pause` items:

- ``<speak>`` (optional: a fragment without it is wrapped), ``<p>``, ``<s>``: sentence boundaries.
- ``<break time="500ms|1.5s" strength="...">``: a pause of exactly ``round(seconds * sample_rate)`` zero
  samples, in place of the voice's sentence silence there. ``time`` wins over ``strength``; a bare
  ``<break/>`` is ``medium``; consecutive breaks add up; ``strength="none"`` removes the sentence silence.
- ``<prosody rate="x-slow|slow|medium|fast|x-fast|80%|+20%|1.2">``: speaking rate, applied as
  ``length_scale / rate``; nested rates multiply. Other prosody attributes are ignored with a warning.
- ``<say-as interpret-as="characters|cardinal|ordinal|digits|date|time|telephone">``: see ssml_sayas.
- ``<sub alias="...">``: the alias is spoken instead of the content.
- ``<phoneme alphabet="ipa" ph="...">``: the IPA goes to the voice verbatim (the ``[[ ... ]]`` passthrough).
- ``<voice name="...">``: a speaker of a multi-speaker voice, by name or id.

Errors (:class:`SsmlError`, a ValueError): malformed XML (with its line and column), a DOCTYPE or entity
declaration, more than `MAX_SSML_CHARS`, a bad ``time``/``strength``/``rate`` value, ``<phoneme>`` without
``ph`` or in another alphabet, ``<sub>`` without ``alias``, an unknown voice. Documented skips
(:class:`SsmlWarning`, the text is spoken): an unknown tag (``<emphasis>``, ``<lang>``, ``<mark>``...), an
unknown ``interpret-as``, say-as content that does not fit its interpretation.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from voxport.synthesis import SynthesisConfig
from voxport.text.ssml_sayas import SsmlWarning, say_as

if TYPE_CHECKING:
    from voxport.voice import Voice

__all__ = ["BREAK_STRENGTHS", "MAX_SSML_CHARS", "RATES", "Pause", "Speech", "SsmlError", "SsmlWarning",
           "parse_ssml", "ssml_sentences"]

MAX_SSML_CHARS = 1_000_000
MAX_BREAK_SECONDS = 60.0
# <break strength>: seconds of silence. "medium" is also a bare <break/>.
BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.2, "medium": 0.4, "strong": 0.7, "x-strong": 1.0}
# <prosody rate> keywords: speaking rate relative to the voice's own (length_scale is divided by it).
RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.75}
MIN_RATE, MAX_RATE = 0.1, 10.0

_TIME = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*")
_RATE = re.compile(r"\s*([+-])?(\d+(?:\.\d*)?|\.\d+)\s*(%)?\s*")
_SENTENCE_END = re.compile(r"[.!?;:…]['\")\]]*\s*$")
_IGNORED_PROSODY = ("pitch", "volume", "range", "contour", "duration")


class SsmlError(ValueError):
    """SSML voxport cannot speak: malformed, refused (DOCTYPE), or a bad value; the message says where."""


@dataclass(frozen=True)
class Speech:
    """Text for the voice's front-end (``[[ ]]`` phoneme blocks included), spoken at `rate` by `voice`.

    `new_sentence` False: it continues the previous Speech's sentence, with no sentence silence between.
    """

    text: str
    rate: float = 1.0
    voice: str | None = None
    new_sentence: bool = True


@dataclass(frozen=True)
class Pause:
    seconds: float


Item = Speech | Pause
# (zero samples before, sentence or None, phonemes, ids, config), as Voice consumes them
Utterance = tuple[int, str | None, str, list[int], SynthesisConfig]


def parse_ssml(ssml: str, language: str = "en-us") -> list[Item]:
    """The document's speech and pauses in order. `language` (the voice's espeak-ng voice) picks how
    ``<say-as>`` reads numbers. Raises :class:`SsmlError`; warns :class:`SsmlWarning` for skipped markup."""
    if not isinstance(ssml, str):
        raise SsmlError(f"SSML must be one string, got {type(ssml).__name__}")
    if len(ssml) > MAX_SSML_CHARS:
        raise SsmlError(f"SSML document too long: {len(ssml)} characters (at most {MAX_SSML_CHARS})")
    if re.search(r"<!(DOCTYPE|ENTITY)", ssml, re.IGNORECASE):
        raise SsmlError("SSML with a DOCTYPE or entity declaration is refused (only XML's own entities, "
                        "&lt; &gt; &amp; &quot; &apos;, and character references are allowed)")
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", ssml)
    wrapped = not re.match(r"\s*<(\w+:)?speak[\s>/]", body)
    source = f"<speak>{body}</speak>" if wrapped else body
    try:
        root = ET.fromstring(source)
    except ET.ParseError as exc:
        line, column = exc.position
        if wrapped and line == 1:
            column = max(0, column - len("<speak>"))
        reason = str(exc).split(":")[0]
        raise SsmlError(f"malformed SSML at line {line}, column {column + 1}: {reason}") from None
    builder = _Builder(language)
    builder.element(root, rate=1.0, voice=None, is_root=True)
    return builder.finish()


class _Builder:
    def __init__(self, language: str) -> None:
        self.language = language
        self.items: list[Item] = []
        self.pieces: list[str] = []  # text of the Speech being gathered
        self.state: tuple[float, str | None] | None = None  # its (rate, voice)
        self.boundary = True  # a sentence boundary (or the start) since the last spoken text
        self.paused = False
        self.new_sentence = True

    # --- output ---
    def text(self, text: str | None, rate: float, voice: str | None) -> None:
        if not text:
            return
        if self.state != (rate, voice) or self.boundary or self.paused:
            if not text.strip() and not self.pieces:
                return  # whitespace between elements starts nothing
            self.flush()
            self.state = (rate, voice)
            self.new_sentence = self.boundary or not self.items or _ends_sentence(self.items[-1])
            self.boundary = self.paused = False
        self.pieces.append(text)

    def pause(self, seconds: float) -> None:
        self.flush()
        if self.items and isinstance(self.items[-1], Pause):
            seconds += self.items.pop().seconds
        self.items.append(Pause(seconds))
        self.paused = True

    def sentence_boundary(self) -> None:
        self.flush()
        self.boundary = True

    def flush(self) -> None:
        text = " ".join("".join(self.pieces).split())
        if text and self.state is not None:
            self.items.append(Speech(text, self.state[0], self.state[1], self.new_sentence))
        self.pieces = []
        self.state = None

    def finish(self) -> list[Item]:
        self.flush()
        return self.items

    # --- elements ---
    def element(self, el: ET.Element, rate: float, voice: str | None, is_root: bool = False) -> None:
        tag = el.tag.rsplit("}", 1)[-1]
        handler: Callable[..., None] | None = getattr(self, f"_{tag.replace('-', '_')}", None)
        if tag == "speak" and not is_root:
            raise SsmlError("<speak> must be the root element, not nested")
        if is_root and tag != "speak":
            raise SsmlError(f"the root element of SSML must be <speak>, not <{tag}>")
        if tag not in _TAGS or handler is None:
            warnings.warn(f"SSML <{tag}> is not supported: its text is spoken, the tag is ignored",
                          SsmlWarning, stacklevel=4)
            self.children(el, rate, voice)
        else:
            handler(el, rate, voice)
        self.text(el.tail, rate, voice)

    def children(self, el: ET.Element, rate: float, voice: str | None) -> None:
        self.text(el.text, rate, voice)
        for child in el:
            self.element(child, rate, voice)

    def _speak(self, el: ET.Element, rate: float, voice: str | None) -> None:
        self.children(el, rate, voice)

    def _p(self, el: ET.Element, rate: float, voice: str | None) -> None:
        self.sentence_boundary()
        self.children(el, rate, voice)
        self.sentence_boundary()

    _s = _p
    _paragraph = _p
    _sentence = _p

    def _break(self, el: ET.Element, rate: float, voice: str | None) -> None:
        time, strength = el.get("time"), el.get("strength")
        if time is not None:
            m = _TIME.fullmatch(time)
            if m is None:
                raise SsmlError(f'<break time="{time}">: a time is a number with ms or s, e.g. "500ms" or "1.5s"')
            seconds = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
            if seconds > MAX_BREAK_SECONDS:
                raise SsmlError(f'<break time="{time}">: at most {MAX_BREAK_SECONDS:g} s')
        else:
            key = (strength or "medium").strip().lower()
            if key not in BREAK_STRENGTHS:
                raise SsmlError(f'<break strength="{strength}">: one of {", ".join(BREAK_STRENGTHS)}')
            seconds = BREAK_STRENGTHS[key]
        self.pause(seconds)

    def _prosody(self, el: ET.Element, rate: float, voice: str | None) -> None:
        ignored = [a for a in _IGNORED_PROSODY if a in el.attrib]
        if ignored:
            warnings.warn(f"SSML <prosody {' '.join(ignored)}> is not supported and ignored (only rate is)",
                          SsmlWarning, stacklevel=4)
        value = el.get("rate")
        self.children(el, rate * (_rate(value) if value is not None else 1.0), voice)

    def _say_as(self, el: ET.Element, rate: float, voice: str | None) -> None:
        kind = el.get("interpret-as")
        if kind is None:
            raise SsmlError("<say-as> needs an interpret-as attribute")
        self.text(say_as(kind, "".join(el.itertext()), el.get("format"), self.language), rate, voice)

    def _sub(self, el: ET.Element, rate: float, voice: str | None) -> None:
        alias = el.get("alias")
        if alias is None:
            raise SsmlError("<sub> needs an alias attribute: the text spoken instead of its content")
        self.text(alias, rate, voice)

    def _phoneme(self, el: ET.Element, rate: float, voice: str | None) -> None:
        alphabet, ph = (el.get("alphabet") or "ipa").strip().lower(), el.get("ph")
        if alphabet != "ipa":
            raise SsmlError(f'<phoneme alphabet="{alphabet}"> is not supported: only alphabet="ipa"')
        if ph is None or not ph.strip() or "[[" in ph or "]]" in ph:
            raise SsmlError('<phoneme> needs ph="..." with IPA phonemes (and no "[[" or "]]")')
        self.text(f" [[ {ph.strip()} ]] ", rate, voice)

    def _voice(self, el: ET.Element, rate: float, voice: str | None) -> None:
        name = el.get("name")
        if name is None:
            warnings.warn("SSML <voice> without name= is ignored (voices are chosen by name or id)",
                          SsmlWarning, stacklevel=4)
        self.children(el, rate, name if name is not None else voice)


_TAGS = frozenset({"speak", "p", "s", "paragraph", "sentence", "break", "prosody", "say-as", "sub", "phoneme",
                   "voice"})


def _rate(value: str) -> float:
    keyword = value.strip().lower()
    if keyword in RATES:
        return RATES[keyword]
    m = _RATE.fullmatch(value)
    if m is None:
        raise SsmlError(f'<prosody rate="{value}">: one of {", ".join(RATES)}, a percentage ("80%", "+20%") '
                        'or a multiplier ("1.2")')
    sign, number, percent = m.group(1), float(m.group(2)), m.group(3)
    if percent:
        rate = 1 + (number / 100 if sign == "+" else -number / 100) if sign else number / 100
    elif sign:
        raise SsmlError(f'<prosody rate="{value}">: a signed rate needs a % ("+20%")')
    else:
        rate = number
    if not MIN_RATE <= rate <= MAX_RATE:
        raise SsmlError(f'<prosody rate="{value}">: the rate must be between {MIN_RATE:g} and {MAX_RATE:g} times '
                        "the voice's own")
    return rate


def _ends_sentence(last: Item) -> bool:
    return isinstance(last, Speech) and _SENTENCE_END.search(last.text) is not None


def ssml_sentences(voice: Voice, ssml: str, config: SynthesisConfig) -> Iterator[Utterance]:
    """What `Voice` speaks for an SSML document: per sentence (zero samples before it, sentence, phonemes,
    ids, its config); a last one with sentence None carries a trailing pause. Every ``<voice>`` and the
    whole document are checked before the first sentence is yielded."""
    items = parse_ssml(ssml, voice.frontend.espeak_voice)
    base = voice.engine.scales(config).length_scale
    configs = {}
    for item in items:
        if isinstance(item, Speech) and (item.rate, item.voice) not in configs:
            speaker = config.speaker if item.voice is None else _speaker(voice, item.voice)
            length = base if item.rate == 1.0 else base / item.rate
            configs[item.rate, item.voice] = replace(config, length_scale=length, speaker=speaker)
    rate, gap = voice.sample_rate, round(voice.sentence_silence * voice.sample_rate)
    pending: float | None = None  # seconds of <break> since the last sentence
    started = False
    for item in items:
        if isinstance(item, Pause):
            pending = (pending or 0.0) + item.seconds
            continue
        for k, (sentence, phonemes, ids) in enumerate(voice._sentences(item.text)):
            if pending is not None:
                before = round(pending * rate)
            elif not started or (k == 0 and not item.new_sentence):
                before = 0
            else:
                before = gap
            yield before, sentence, phonemes, ids, configs[item.rate, item.voice]
            pending, started = None, True
    if pending:
        yield round(pending * rate), None, "", [], config


def _speaker(voice: Voice, name: str) -> int | str | None:
    """A ``<voice name>`` as the voice knows it: a speaker name, else digits as an id."""
    from voxport.pipeline.speakers import parse_speaker, speaker_id

    m = voice.manifest
    chosen = parse_speaker(m, name)
    if m.num_speakers <= 1:
        if name in (m.name, "0", "default"):
            return None
        raise SsmlError(f'<voice name="{name}">: voice {m.name!r} has a single speaker')
    try:
        speaker_id(m, chosen)
    except ValueError as exc:
        raise SsmlError(f'<voice name="{name}">: {exc}') from None
    return chosen
