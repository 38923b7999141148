"""`voxport build --tacotron2 CKPT [--waveglow CKPT | --hifigan CKPT] -o DIR`: an NVIDIA DeepLearningExamples
Tacotron2 (+ WaveGlow or DLE HiFi-GAN, else Griffin-Lim) into a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxport.export.importer import Importer, ImportProblem, Say

_VOCODERS = ("waveglow", "hifigan")


class NvidiaImporter(Importer):
    name = "--tacotron2"
    options = ("--waveglow", "--hifigan")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tacotron2", metavar="CHECKPOINT.pt",
                            help="an NVIDIA DeepLearningExamples Tacotron2 checkpoint (needs -o)")
        parser.add_argument("--waveglow", metavar="CHECKPOINT.pt", help="its DLE WaveGlow vocoder")
        parser.add_argument("--hifigan", metavar="CHECKPOINT.pt",
                            help="or its DLE HiFi-GAN generator (without either, the bundle uses Griffin-Lim)")

    def build(self, args: argparse.Namespace, say: Say) -> Path:
        from voxport.export.tacotron2.build import build_from_nvidia

        vocoders = {name: Path(getattr(args, name)) for name in _VOCODERS if getattr(args, name)}
        if len(vocoders) > 1:
            raise ImportProblem("--tacotron2 takes one of --waveglow or --hifigan, not both")
        self.require_files(args.tacotron2, *vocoders.values())
        out = self.require_output(args)
        if args.static:
            raise ImportProblem("--static is not available for Tacotron2 bundles yet (the decoder step has no "
                                "buckets)")
        return build_from_nvidia(args.tacotron2, out, license=args.license, progress=say, **vocoders)


NVIDIA = NvidiaImporter()
