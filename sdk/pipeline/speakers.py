"""Speakers of a multi-speaker voice, resolved and listed in one place: the CLI's --speaker, SSML's
<voice name>, the servers' voice listings and the engine's `sid` all go through here."""

from __future__ import annotations

import numpy as np

from voxport.bundle.manifest import Manifest

__all__ = ["by_id", "known_speakers", "parse_speaker", "speaker_id"]


def by_id(manifest: Manifest) -> dict[str, int]:
    """The voice's speaker names in id order (empty when it names none)."""
    return dict(sorted(manifest.speaker_id_map.items(), key=lambda kv: kv[1]))


def known_speakers(manifest: Manifest) -> str:
    """`name (id), ...` in id order, for messages; the id range when the voice names no speakers."""
    names = by_id(manifest)
    if names:
        return ", ".join(f"{name} ({i})" for name, i in names.items())
    return f"ids 0..{manifest.num_speakers - 1}"


def parse_speaker(manifest: Manifest, text: str) -> int | str:
    """A speaker typed by a person: a speaker name, else digits as an id."""
    stripped = text.strip()
    return int(stripped) if text not in manifest.speaker_id_map and stripped.isdigit() else text


def speaker_id(manifest: Manifest, speaker: int | str | None) -> np.ndarray | None:
    """The `sid` tensor for `speaker` (a name or an id; None: speaker 0); None for a single-speaker voice,
    which ignores the speaker. A name or id the voice does not have is a ValueError listing the known ones."""
    if manifest.num_speakers <= 1:
        return None
    if speaker is None:
        speaker = 0
    if isinstance(speaker, str):
        if speaker not in manifest.speaker_id_map:
            raise ValueError(f"unknown speaker {speaker!r}; known: {known_speakers(manifest)}")
        speaker = manifest.speaker_id_map[speaker]
    if isinstance(speaker, bool) or not isinstance(speaker, (int, np.integer)) \
            or not 0 <= int(speaker) < manifest.num_speakers:
        raise ValueError(f"speaker id {speaker} out of range 0..{manifest.num_speakers - 1}; known: "
                         f"{known_speakers(manifest)}")
    return np.array([int(speaker)], np.int64)
