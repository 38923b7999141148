"""`voxport build --piper VOICE.onnx [--config VOICE.onnx.json]`: a Piper voice (VITS) into a bundle; with
no importer chosen, `voxport build` builds the default voice this way (cli/build.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from voxport.export.importer import Importer, ImportProblem, Say


class PiperImporter(Importer):
    name = "--piper"
    options = ("--config",)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--piper", metavar="VOICE.onnx", help="a Piper voice (its .onnx.json beside it)")
        parser.add_argument("--config", metavar="VOICE.onnx.json", help="the Piper config, if not beside the .onnx")

    def build(self, args: argparse.Namespace, say: Say) -> Path:
        onnx_path = Path(args.piper)
        if not onnx_path.is_file():
            raise ImportProblem(f"no such Piper voice file: {onnx_path}")
        out = Path(args.output) if args.output else Path(onnx_path.name.removesuffix(".onnx") + ".voxport")
        config = Path(args.config) if args.config else onnx_path.with_name(onnx_path.name + ".json")
        if not config.is_file():
            raise ImportProblem(f"no Piper config {config} (it goes beside the .onnx, or pass --config)")
        return import_piper(onnx_path, out, config_path=config, license=args.license, origin=str(onnx_path),
                            progress=say)


def import_piper(onnx_path: Path, out: Path, **options) -> Path:
    """Run the Piper import, turning what a file that is no Piper voice raises into a ValueError for main():
    protobuf's DecodeError (not ONNX at all) and KeyError (a config without a field Piper writes)."""
    from google.protobuf.message import DecodeError

    from voxport.export.vits.build import build_from_piper

    config = options["config_path"]
    try:
        parsed = json.loads(Path(config).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config} is not a Piper voice config: not JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{config} is not a Piper voice config: it holds no JSON object")
    try:
        return build_from_piper(onnx_path, out, **options)
    except DecodeError as exc:
        raise ValueError(f"{onnx_path} is not an ONNX model ({exc})") from exc
    except KeyError as exc:
        raise ValueError(f"{config} is not a Piper voice config: it has no {exc} field") from exc


PIPER = PiperImporter()
