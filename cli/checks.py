"""Checks of what a user gave the command line (a speaker, a stage option, an output path), each failing
with an exception that `voxport.cli.main` prints as one line: ValueError for a value, OSError for a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voxport.voice import Voice


def speaker(voice: Voice, speaker: str | None) -> int | str | None:
    """--speaker as the voice knows it: a speaker name, else digits as an id. Checked now, so that a wrong
    speaker is reported before any synthesis (and even for text that has nothing to speak)."""
    from voxport.pipeline.speakers import parse_speaker
    from voxport.synthesis import SynthesisConfig

    if speaker is None:
        return None
    m = voice.manifest
    chosen = parse_speaker(m, speaker)
    if m.num_speakers <= 1 and chosen != 0:
        # The engine ignores the speaker of a single-speaker voice; a user who asked for one should know.
        raise ValueError(f"voice {m.name!r} has a single speaker; --speaker selects one of a multi-speaker voice")
    voice.pipeline.check(SynthesisConfig(speaker=chosen))  # raises ValueError naming the known speakers
    return chosen


def check_writable(path: Path) -> None:
    """Fail now, not after synthesis, if no audio file can be written at `path` (write_wav creates
    missing folders)."""
    import soundfile as sf

    if path.is_dir():
        raise IsADirectoryError(f"cannot write the WAV to {path}: it is a folder")
    if path.suffix[1:].upper() not in sf.available_formats():  # soundfile picks the format by extension
        raise ValueError(f"cannot write the WAV to {path}: give the file a .wav extension")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot write the WAV to {path}: {folder} is not a writable folder")


def write_wav(path: str | Path, audio: Any, sample_rate: int) -> Path:
    """write_wav, its failures as OSError: soundfile raises TypeError (no format for the file name's
    extension) or its own RuntimeError, which main() must not catch wholesale."""
    import soundfile as sf

    from voxport.audio import write_wav as write

    try:
        return write(path, audio, sample_rate)
    except (TypeError, sf.SoundFileError) as exc:
        raise OSError(f"cannot write the WAV to {path}: {exc}") from exc


def family_options(voice: Voice, given: list[str], prompt: str | None = None) -> dict[str, Any]:
    """`--option KEY=VALUE` (repeatable) and `--prompt FILE` (sugar for `--option prompt=FILE`) as the voice's
    family settings, checked against `voice.family.options` before any synthesis. Values are read as
    true/false, an integer, a number, else kept as text (a path, a language)."""
    options: dict[str, Any] = {}
    for text in given:
        key, sep, value = text.partition("=")
        if not (key and sep):
            raise ValueError(f"--option is KEY=VALUE, got {text!r}")
        options[key] = option_value(value)
    if prompt is not None:
        options["prompt"] = prompt
    known = sorted(voice.family.options)
    unknown = sorted(set(options) - set(known))
    if unknown:
        listed = ", ".join(known) if known else "none"
        raise ValueError(f"{voice.family.name} voices have no setting {', '.join(map(repr, unknown))} "
                         f"(known: {listed})")
    return options


def option_value(value: str) -> bool | int | float | str:
    """A family setting's value from the command line (speak --option, serve --voice-option)."""
    if value.lower() in ("true", "false"):  # so that fixed_step=false is False, not a non-empty string
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
