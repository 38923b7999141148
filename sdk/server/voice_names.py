"""What a request's voice name means: a configured voice, a speaker of one whose family lists its speakers
as voices (a Kokoro voice pack, or a blend "jf_alpha:0.6,jf_nezumi:0.4"), `VOICE/SPEAKER` to pick among
configured voices that share a speaker name, or one of OpenAI's voice names (alloy, echo, ...).

OpenAI names: `--voice-map NAME=VOICE` first (VOICE is any name above), else the mapping declared by the
family (`Family.openai_voices`) of the first configured voice that has one, else the default voice with its
default speaker. The registry stays the one that knows configured voices; family knowledge comes from
the families (`speakers_are_voices`, `speaker_spec`, `openai_voices`), so this module never asks which
family a voice is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxport.families import family_of
from voxport.families.openai_voices import OPENAI_VOICES
from voxport.server.errors import UnknownVoice

__all__ = ["VoiceNames", "parse_voice_map"]

Resolved = tuple[str, str | None]  # (configured voice, speaker spec or None: the voice's default)


def parse_voice_map(given: list[str]) -> dict[str, str]:
    """`--voice-map NAME=VOICE` options as a dict (a malformed one is a one-line ValueError)."""
    mapping: dict[str, str] = {}
    for text in given:
        name, sep, target = (part.strip() for part in text.partition("="))
        if not (name and sep and target):
            raise ValueError(f"--voice-map is NAME=VOICE (e.g. alloy=jf_alpha), got {text!r}")
        mapping[name] = target
    return mapping


class VoiceNames:
    """Resolves requested voice names against `registry` (a VoiceRegistry: `slots`, `default`,
    `describe()`); `voice_map` maps extra names (OpenAI's or any) onto voices, checked now."""

    def __init__(self, registry: Any, voice_map: Mapping[str, str] | None = None) -> None:
        self.registry = registry
        self.voice_map: dict[str, str] = {}
        for name, target in (voice_map or {}).items():
            try:
                self._direct(target)
            except (UnknownVoice, ValueError) as exc:
                raise ValueError(f"--voice-map {name}={target}: {exc}") from None
            self.voice_map[name] = target
        self.openai = self._openai_defaults()

    # --- resolving ----------------------------------------------------------------------------------
    def resolve(self, name: str | None) -> Resolved:
        """(configured voice, speaker spec or None) for a requested name; None: the default voice.
        UnknownVoice (listing what is known) when nothing matches; ValueError for a malformed blend."""
        if not name:
            return self.registry.default, None
        if name in self.registry.slots:
            return name, None
        if name in self.voice_map:
            return self._direct(self.voice_map[name])
        found = self._speaker(name)
        if found is not None:
            return found
        if name in self.openai:
            return self.openai[name]
        raise UnknownVoice(f"unknown voice {name!r}; known: {', '.join(self.known())}")

    def _direct(self, name: str) -> Resolved:
        """A configured voice or a speaker of one (what a --voice-map target may be)."""
        if name in self.registry.slots:
            return name, None
        found = self._speaker(name)
        if found is None:
            raise UnknownVoice(f"unknown voice {name!r}; known: {', '.join(self._configured())}")
        return found

    def _speaker(self, name: str) -> Resolved | None:
        voice, sep, spec = name.partition("/")
        if sep and voice in self.registry.slots:  # VOICE/SPEAKER: that voice's speaker, or an error
            if not self._has(voice, spec):
                raise UnknownVoice(f"voice {voice!r} has no speaker {spec!r}; known: "
                                   f"{', '.join(self._speakers(voice)) or 'none'}")
            return voice, spec
        for voice in self._listing_voices():
            if self._has(voice, name):
                return voice, name
        return None

    def _has(self, voice: str, spec: str) -> bool:
        manifest = self.registry.slots[voice].manifest
        return bool(spec) and family_of(manifest).speaker_spec(manifest, spec)

    def _openai_defaults(self) -> dict[str, Resolved]:
        """OpenAI names not in the voice map: the first voice whose family maps them, else the default voice."""
        for voice in self._listing_voices():
            manifest = self.registry.slots[voice].manifest
            mapping = family_of(manifest).openai_voices(manifest)
            if mapping:
                return {n: (voice, mapping.get(n)) for n in OPENAI_VOICES if n not in self.voice_map}
        return {n: (self.registry.default, None) for n in OPENAI_VOICES if n not in self.voice_map}

    # --- listing ------------------------------------------------------------------------------------
    def _listing_voices(self) -> list[str]:
        return [n for n, s in self.registry.slots.items() if family_of(s.manifest).speakers_are_voices]

    def _speakers(self, voice: str) -> list[str]:
        return list(self.registry.slots[voice].manifest.speaker_id_map)

    def _configured(self) -> list[str]:
        names = list(self.registry.slots)
        for voice in self._listing_voices():
            names += [f"{voice}/{s}" if s in names else s for s in self._speakers(voice)]
        return names

    def known(self) -> list[str]:
        """Every name a request may use (blends aside), for an unknown voice's message."""
        return self._configured() + [n for n in self.voice_map if n not in OPENAI_VOICES] + \
            [f"{n} ({'/'.join(filter(None, self.resolve(n)))})" for n in OPENAI_VOICES]

    def describe(self) -> list[dict[str, Any]]:
        """The registry's voices, then, for families whose speakers are voices, one entry per speaker:
        its name (`VOICE/SPEAKER` when the bare name is taken), the bundle's languages, `voice` and
        `speaker` saying what it speaks with."""
        facts = self.registry.describe()
        taken = {f["name"] for f in facts}
        listed = []
        for f in facts:
            if f["name"] not in self._listing_voices():
                continue
            for speaker in f["speakers"]:
                name = speaker if speaker not in taken else f"{f['name']}/{speaker}"
                taken.add(name)
                listed.append({**f, "name": name, "model": f"{f['model']} ({speaker})", "speakers": [],
                               "num_speakers": 1, "voice": f["name"], "speaker": speaker})
        return facts + listed
