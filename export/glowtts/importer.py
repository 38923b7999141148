"""`voxport build --coqui CONFIG.json MODEL.pth [--vocoder CONFIG.json MODEL.pth] -o DIR`: a Coqui TTS
GlowTTS (+ HiFi-GAN, else Griffin-Lim) into a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxport.export.importer import Importer, Say


class CoquiImporter(Importer):
    name = "--coqui"
    options = ("--vocoder",)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--coqui", nargs=2, metavar=("CONFIG.json", "MODEL.pth"), help="a Coqui TTS GlowTTS")
        parser.add_argument("--vocoder", nargs=2, metavar=("CONFIG.json", "MODEL.pth"),
                            help="its Coqui HiFi-GAN vocoder (without one, the bundle uses Griffin-Lim)")

    def build(self, args: argparse.Namespace, say: Say) -> Path:
        from voxport.export.glowtts.build import build_from_coqui

        files = self.require_files(*args.coqui, *(args.vocoder or []))
        out = self.require_output(args)
        return build_from_coqui(*files[:2], out, vocoder=tuple(files[2:]) or None, license=args.license,
                                progress=say)


COQUI = CoquiImporter()
