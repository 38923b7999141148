"""`voxport build --vallex CKPT --vocos DIR --bpe bpe_69.json [--encodec FILE] [--fixed-slots N] -o DIR`:
Plachtaa's VALL-E X, a local Vocos and optionally EnCodec's encoder into a bundle. Every file is local;
a missing one is named with where it goes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from voxport.export.importer import Importer, ImportProblem, Say


def bpe_symbols(path: Path) -> dict[str, list[int]]:
    """Plachtaa's utils/g2p/bpe_69.json (a `tokenizers` file): its single-symbol vocabulary."""
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))["model"]["vocab"]
        return {s: [int(i)] for s, i in vocab.items() if len(s) == 1}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImportProblem(f"{path}: not a tokenizers file with model.vocab (expected Plachtaa's "
                            f"utils/g2p/bpe_69.json): {exc}") from None


class VallexImporter(Importer):
    name = "--vallex"
    options = ("--vocos", "--bpe", "--fixed-slots", "--encodec")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--vallex", metavar="vallex-checkpoint.pt",
                            help="Plachtaa/VALL-E-X's checkpoint (needs --vocos, --bpe and -o)")
        parser.add_argument("--vocos", metavar="DIR",
                            help="a local copy of charactr/vocos-encodec-24khz: config.yaml + pytorch_model.bin")
        parser.add_argument("--bpe", metavar="bpe_69.json", help="Plachtaa's utils/g2p/bpe_69.json")
        parser.add_argument("--encodec", metavar="encodec_24khz-d7cc33bc.th",
                            help="EnCodec 24 kHz weights: adds the prompt encoder `voxport prompt make` runs")
        parser.add_argument("--fixed-slots", type=int, metavar="N",
                            help="also write the AR step on a fixed cache of N positions (static shapes)")

    def build(self, args: argparse.Namespace, say: Say) -> Path:
        from voxport.export.vallex.build import CheckpointError, build_from_files
        from voxport.export.vallex.encodec import EncodecFileError
        from voxport.export.vallex.vocos import VocosFileError

        if not args.vocos:
            raise ImportProblem("--vallex needs --vocos DIR: a local copy of charactr/vocos-encodec-24khz "
                                "(config.yaml + pytorch_model.bin); voxport never downloads it")
        if not args.bpe:
            raise ImportProblem("--vallex needs --bpe FILE: utils/g2p/bpe_69.json from Plachtaa/VALL-E-X")
        vocos = Path(args.vocos)
        for name in ("config.yaml", "pytorch_model.bin"):
            if not (vocos / name).is_file():
                raise ImportProblem(f"{vocos / name} is missing: copy config.yaml and pytorch_model.bin of "
                                    f"charactr/vocos-encodec-24khz into {vocos} (voxport never downloads them)")
        self.require_files(args.vallex, args.bpe, *([args.encodec] if args.encodec else []))
        out = self.require_output(args)
        if args.fixed_slots is not None and args.fixed_slots < 2:
            raise ImportProblem(f"--fixed-slots must be >= 2, got {args.fixed_slots}")
        try:
            return build_from_files(args.vallex, vocos, out, phoneme_id_map=bpe_symbols(Path(args.bpe)),
                                    fixed_slots=args.fixed_slots, encodec=args.encodec, progress=say)
        except (CheckpointError, VocosFileError, EncodecFileError) as exc:
            raise ImportProblem(str(exc)) from None


VALLEX = VallexImporter()
