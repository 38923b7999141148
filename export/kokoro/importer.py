"""`voxport build --kokoro MODEL --voices PACK [--kokoro-config config.json] [--language LANG] -o DIR`: a Kokoro
model and its voice packs into a bundle. MODEL is the `kokoro` package's .pth (with its config.json) or
kokoro-onnx's monolith .onnx (fp32, fp16 or int8, with a config.json or vocab.json giving the vocab); by default
the config.json (or vocab.json) beside MODEL. (`--config` belongs to --piper, so Kokoro's has its own name.)"""

from __future__ import annotations

import argparse
from pathlib import Path

from voxport.export.importer import Importer, ImportProblem, Say


class KokoroImporter(Importer):
    name = "--kokoro"
    options = ("--kokoro-config", "--voices", "--language", "--default-voice")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--kokoro", metavar="MODEL",
                            help="a Kokoro-82M .pth (kokoro package) or kokoro-onnx .onnx (with --voices, -o)")
        parser.add_argument("--voices", metavar="PACK", action="append",
                            help="Kokoro voice packs: voices-*.bin / .npz, or per-voice .pt / .npy (repeatable)")
        parser.add_argument("--language", metavar="LANG", help="the espeak-ng voice of the front-end (default "
                            "en-us), or ja for Japanese through pyopenjtalk-plus")
        parser.add_argument("--default-voice", metavar="NAME", help="the voice pack spoken when none is named")
        parser.add_argument("--kokoro-config", metavar="CONFIG.json",
                            help="the model's config.json (vocab, sizes); default: config.json beside MODEL")

    def build(self, args: argparse.Namespace, say: Say) -> Path:
        from voxport.export.kokoro.build import build_bundle
        from voxport.export.kokoro.checkpoint import load_kokoro
        from voxport.export.kokoro.voices import read_voice_packs

        beside = [Path(args.kokoro).with_name(n) for n in ("config.json", "vocab.json")]
        config = args.kokoro_config or next((p for p in beside if p.is_file()), beside[0])
        if not Path(config).is_file():
            raise ImportProblem(f"--kokoro needs its config.json: none at {config} (give --kokoro-config)")
        if not args.voices:
            raise ImportProblem("--kokoro needs --voices PACK (at least one voice pack)")
        self.require_files(args.kokoro, config, *args.voices)
        out = self.require_output(args)
        say(f"loading {args.kokoro}")
        if Path(args.kokoro).suffix == ".onnx":
            from voxport.export.kokoro.monolith import load_monolith, read_vocab

            model = load_monolith(args.kokoro, read_vocab(config))
        else:
            model = load_kokoro(args.kokoro, config)
        packs = read_voice_packs(args.voices, 2 * model.style_dim)
        source = {"license": args.license or "unknown (see the model's license)", "origin": str(args.kokoro)}
        return build_bundle(model, packs, out, name=Path(args.kokoro).stem, language=args.language or "en-us",
                            default_voice=args.default_voice, source=source, progress=say)


KOKORO = KokoroImporter()
