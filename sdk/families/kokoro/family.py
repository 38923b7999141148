"""The Kokoro family's registration. Import: `voxport build --kokoro MODEL [--config config.json] --voices PACK`
(voxport.export.kokoro.importer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxport.bundle.fields import ManifestPath, fail
from voxport.bundle.manifest import Manifest
from voxport.families.base import Family
from voxport.families.kokoro import contract as k
from voxport.families.kokoro.pipeline import KokoroPipeline
from voxport.families.kokoro.voices import openai_voices, speaker_spec
from voxport.text.frontend import TextFrontend

_INTEGERS = ("pack_rows", "context_length", "source_upsample", "style_dim")


def check_params(params: Mapping[str, Any], mp: ManifestPath) -> None:
    voices = params.get("voices")
    if not isinstance(voices, list) or not voices or not all(isinstance(v, str) and v for v in voices):
        fail(mp, "params.voices", "must be a non-empty list of voice pack names")
    if len(set(voices)) != len(voices):
        fail(mp, "params.voices", "names a voice pack twice")
    if params.get("default_voice") not in voices:
        fail(mp, "params.default_voice", f"must be one of params.voices ({', '.join(voices)})")
    for name in _INTEGERS:
        value = params.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            fail(mp, f"params.{name}", f"must be a positive integer, got {value!r}")
    context = params.get("stream_context_frames", 0)
    if not isinstance(context, int) or isinstance(context, bool) or context < 0:
        fail(mp, "params.stream_context_frames", f"must be a non-negative integer, got {context!r}")


def frontend(m: Manifest) -> TextFrontend:
    """espeak-ng IPA mapped one symbol to one id (Kokoro's vocab), or Japanese through pyopenjtalk-plus;
    sentences longer than the model's context are split at a word break, never truncated."""
    if m.phonemizer.get("type") == "kokoro_ja":
        from voxport.families.kokoro.japanese import JapaneseFrontend

        fe: TextFrontend = JapaneseFrontend.from_manifest(m)
    else:
        fe = TextFrontend.from_manifest(m)
    fe.max_ids = int(m.params["context_length"])
    return fe


def language_of(m: Manifest) -> str | None:
    """Japanese bundles written before the importer recorded `"language": "ja"` have its G2P's type."""
    return "ja" if m.phonemizer.get("type") == "kokoro_ja" else None


def settings(m: Manifest) -> dict[str, Any]:
    """Numbers only (`voxport info` lists them as scales); the voice packs show as the voice's speakers."""
    return {"speed": round(1.0 / m.inference.length_scale, 3), "noise_scale": m.inference.noise_scale}


FAMILY = Family(
    name="kokoro",
    summary="Kokoro-82M (StyleTTS2 / iSTFTNet): voice packs, style -> encoder -> prosody -> decoder, "
            "harmonic source on the host",
    contracts=k.CONTRACTS,
    pipeline=KokoroPipeline,
    frontend=frontend,
    knobs=frozenset({"length_scale", "noise_scale"}),
    # voice: a pack name or blend ("a:0.6,b:0.4"); stream_context: frames of context for approximate
    # windows inside a sentence (0, the default: whole sentences).
    options=frozenset({"voice", "stream_context"}),
    # LSTMs and instance norms see padding: no stage may run on padded buckets.
    paddable=frozenset(),
    importers=("voxport.export.kokoro.importer:KOKORO",),
    calibration="voxport.calibration.kokoro:PLAN",
    check_params=check_params,
    settings=settings,
    language_of=language_of,
    # Each voice pack is a voice of its own in `voxport serve`'s listings; requests may name a pack or a
    # blend, and OpenAI's voice names map onto packs by register.
    speakers_are_voices=True,
    speaker_spec=speaker_spec,
    openai_voices=openai_voices,
)
