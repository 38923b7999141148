"""`voxport prompt make AUDIO.wav "transcript" -o voice.npz --bundle BUNDLE`: a VALL-E X voice prompt in
Plachtaa's .npz layout (audio_tokens, text_tokens, lang_code), so their code loads it too."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("prompt", help="voice prompts for codec-language-model voices (VALL-E X)")
    actions = p.add_subparsers(dest="action", required=True)
    m = actions.add_parser("make", help="encode 3-10 s of speech and its transcript into a voice prompt")
    m.add_argument("audio", help="a WAV file (any rate, mono or stereo)")
    m.add_argument("transcript", help="what is said in it")
    m.add_argument("-o", "--output", required=True, help="the .npz to write")
    m.add_argument("--bundle", required=True, help="a VALL-E X bundle built with --encodec")
    m.add_argument("--language", default="en", help="the prompt's language: en, zh or ja (default en)")
    m.set_defaults(func=cmd_prompt_make)


def cmd_prompt_make(args: argparse.Namespace) -> int:
    from voxport.bundle import Bundle
    from voxport.families import family_of
    from voxport.families.vallex.prompt_maker import make_prompt
    from voxport.pipeline.engine import Engine
    from voxport.pipeline.sessions import StageSessions

    bundle = Bundle.load(args.bundle, verify=False)
    family = family_of(bundle.manifest)
    if family.name != "vallex":
        raise ValueError(f"{args.bundle} is a {family.name} voice; voice prompts are for vallex bundles")
    with StageSessions.open(bundle) as sessions:
        prompt = make_prompt(Engine(bundle.manifest, sessions), family.frontend(bundle.manifest), args.audio,
                             args.transcript, args.language)
    out = prompt.save(args.output)
    print(f"{out}: {prompt.codes.shape[1]} frames ({prompt.codes.shape[1] / 75:.2f} s), "
          f"{prompt.text_ids.size} text ids, {prompt.language}")
    return 0
