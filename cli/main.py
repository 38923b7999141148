"""`voxport` command line: build bundles, speak text, describe a voice, list runtimes, profile latency.

A mistake a user can make (a wrong path, option value, speaker or runtime; a damaged bundle) ends in one
line on stderr and a non-zero exit status, not a traceback; `voxport --verbose ...` shows the traceback."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from voxport.cli import checks
from voxport.cli.build import add_build_parser, progress
from voxport.cli.options import (
    add_calibration_runtime,
    add_lean_option,
    add_memory_option,
    add_runtime_options,
    stage_choice,
)
from voxport.cli.serve import add_serve_parser
from voxport.synthesis import DEFAULT_SENTENCE_SILENCE, SynthesisConfig

if TYPE_CHECKING:
    from voxport.voice import Voice


def cmd_speak(args: argparse.Namespace) -> int:
    from voxport.voice import Voice

    text = sys.stdin.read() if args.text == "-" else args.text
    runtime = stage_choice(args.runtime, "--runtime")
    precision = stage_choice(args.precision, "--precision")
    if args.output_given or not args.play:
        checks.check_writable(Path(args.output))  # before the load and synthesis that a bad path would waste
    t0 = time.perf_counter()
    voice = Voice.load(args.bundle, runtime=runtime, precision=precision, threads=args.threads,
                       shapes=args.shapes, static=args.static, lean=args.lean, memory_mb=args.memory_mb,
                       sentence_silence=args.sentence_silence)
    load_s = time.perf_counter() - t0
    if voice.memory_fit is not None:
        print(voice.memory_fit.describe(), file=sys.stderr)
    with voice:
        config = _synthesis_config(args, voice)
        if args.play:
            return _speak_streaming(voice, text, config, args)
        t1 = time.perf_counter()
        audio = voice.synthesize(text, config, text_format=_text_format(args))
        synth_s = time.perf_counter() - t1
    out = checks.write_wav(args.output, audio, voice.sample_rate)
    seconds = audio.size / voice.sample_rate
    print(f"wrote {out.resolve()}  ({seconds:.2f} s of audio at {voice.sample_rate} Hz)")
    # No audio (empty text) has no real-time factor: say so rather than print nan.
    rtf = f"real-time factor {synth_s / seconds:.3f}" if seconds else "no audio"
    print(f"synthesis {synth_s * 1000:.0f} ms, {rtf} (load {load_s * 1000:.0f} ms)")
    return 0


def _synthesis_config(args: argparse.Namespace, voice: Voice) -> SynthesisConfig:
    return SynthesisConfig(length_scale=args.length_scale, noise_scale=args.noise_scale, noise_w=args.noise_w,
                           seed=args.seed, speaker=checks.speaker(voice, args.speaker), volume=args.volume,
                           options=checks.family_options(voice, args.option, args.prompt))


def _text_format(args: argparse.Namespace) -> str:
    return "ssml" if getattr(args, "ssml", False) else "text"


def _speak_streaming(voice, text: str, config, args: argparse.Namespace) -> int:
    """Play while synthesizing; also write the WAV when -o was given explicitly."""
    import numpy as np

    from voxport.audio.playback import AudioDeviceError, AudioPlayer

    try:
        player = AudioPlayer(voice.sample_rate)
    except AudioDeviceError as exc:
        print(f"voxport speak --play: {exc}", file=sys.stderr)
        return 2
    pieces, first_s = [], None
    start = time.perf_counter()
    with player:
        for chunk in voice.stream(text, config, text_format=_text_format(args)):
            first_s = first_s if first_s is not None else time.perf_counter() - start
            player.write(chunk.audio)
            pieces.append(chunk.audio)
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    first = f"first audio after {1000 * first_s:.0f} ms" if first_s is not None else "no audio"
    stats = player.stats
    print(f"played {audio.size / voice.sample_rate:.2f} s; {first}; underruns: {stats.underruns} "
          f"(device: {stats.device_underruns})")
    if args.output_given:
        print(f"wrote {checks.write_wav(args.output, audio, voice.sample_rate).resolve()}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    try:
        from voxport.calibration import CalibrationRefused
    except ImportError as exc:
        print(f"voxport calibrate needs the calibration extra: pip install 'voxport[calibration]' ({exc})",
              file=sys.stderr)
        return 2
    from voxport.bundle.default_voice import ensure_default_bundle

    bundle = args.bundle or ensure_default_bundle(progress=not args.quiet)
    say = progress(args.quiet)
    try:
        report = _calibrate_step(args, bundle, say)
    except ValueError as exc:  # an unknown target, or nothing untimed to time: the message says which
        say.close()
        print(f"voxport calibrate: {exc}", file=sys.stderr)
        return 2
    except CalibrationRefused as exc:
        say.close()
        print(f"voxport calibrate: {exc}", file=sys.stderr)
        return 1
    except NotImplementedError as exc:  # a runtime or voice the gate cannot judge; the message says which
        say.close()
        print(f"voxport calibrate: {exc}", file=sys.stderr)
        return 2
    finally:
        say.close()  # the terminal's progress line ends before anything else is printed
    result = report["result"]
    policy = ", ".join(f"{stage} {p}" for stage, p in result.get("candidates", result["precisions"]).items())
    where = f" on {report['target']} devices (quality-checked by emulation; time it there with --time-only)" \
        if report.get("target") else ""
    print(f"calibrated for {report['runtime']}{where} ({result['kind']}): {policy or 'fp32'}; load it with "
          f"--precision calibrated; report: {Path(bundle) / 'calibration'}")
    return 0


def _calibrate_step(args: argparse.Namespace, bundle: str | Path, say) -> dict:
    """A full calibration, a cross-calibration for --target, or --time-only's timing on this device."""
    options = {"corpus": args.corpus, "seed": args.seed, "threads": args.threads, "progress": say}
    if args.time_only:
        from voxport.calibration.time_only import time_only

        return time_only(bundle, args.runtime, **options)
    gate = {"max_sentences": args.max_sentences, "check_wer": not args.no_wer,
            "allow_duration_shift": args.allow_duration_shift}
    if args.target:
        from voxport.calibration.cross import cross_calibrate

        return cross_calibrate(bundle, args.target, **options, **gate)
    from voxport.calibration import calibrate

    return calibrate(bundle, args.runtime, method=args.method, **options, **gate)


def cmd_runtimes(args: argparse.Namespace) -> int:
    from voxport.runtimes import available_runtimes, get_backend

    rows = [get_backend(name).describe() for name in available_runtimes()]
    print(json.dumps(rows, indent=2, default=str))
    return 0


def cmd_phonemize(args: argparse.Namespace) -> int:
    from voxport.bundle import Bundle
    from voxport.bundle.default_voice import ensure_default_bundle
    from voxport.text.frontend import TextFrontend

    bundle = Bundle.load(args.bundle or ensure_default_bundle(), verify=False)
    frontend = TextFrontend.from_manifest(bundle.manifest)
    for sentence, phonemes, ids in frontend.text_to_ids(args.text):
        print(f"{sentence}\n  {phonemes}\n  {ids}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxport", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_build_parser, _add_speak, _add_calibrate, add_serve_parser, _add_small_commands):
        add(sub)
    from voxport.cli.info import add_parser as add_info_parser
    from voxport.cli.profile import add_parser as add_profile_parser

    add_info_parser(sub)
    add_profile_parser(sub)
    __import__("voxport.cli.prompt", fromlist=["add_parser"]).add_parser(sub)  # `voxport prompt make`
    for command in sub.choices.values():
        # Also accepted after the command (`voxport speak ... --verbose`); SUPPRESS keeps the global value.
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error")
    return parser


def _add_speak(sub) -> None:
    s = sub.add_parser("speak", help="synthesize text to a WAV file")
    s.add_argument("text", help="text to speak, or - to read standard input")
    s.add_argument("-o", "--output", help="WAV file to write (default: voxport.wav, or none with --play)")
    s.add_argument("--play", action="store_true", help="stream to the audio device while synthesizing")
    s.add_argument("--bundle", help="bundle directory (default: the default voice)")
    s.add_argument("--length-scale", type=float)
    s.add_argument("--noise-scale", type=float)
    s.add_argument("--noise-w", type=float)
    s.add_argument("--seed", type=int)
    s.add_argument("--speaker", metavar="NAME|ID",
                   help="a speaker of a multi-speaker voice, by name or id (voxport info lists them)")
    s.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the voice's family, repeatable (an unknown key lists the known ones; "
                   "VALL-E X: prompt, top_k, temperature, language, fixed_step)")
    s.add_argument("--prompt", metavar="FILE",
                   help="a voice prompt (.npz from `voxport prompt make`): the same as --option prompt=FILE")
    add_runtime_options(s)
    s.add_argument("--static", action="store_true", help="run the bundle's static-shape graphs (build --static)")
    add_lean_option(s)
    add_memory_option(s)
    s.add_argument("--sentence-silence", type=float, default=DEFAULT_SENTENCE_SILENCE,
                   help="seconds between sentences")
    s.add_argument("--volume", type=float, default=1.0)
    s.add_argument("--ssml", action="store_true",
                   help="read the text as SSML (<break>, <prosody rate>, <say-as>, <sub>, <phoneme>, <voice>...)")
    s.set_defaults(func=cmd_speak)


def _add_calibrate(sub) -> None:
    c = sub.add_parser("calibrate", help="the fastest reduced-precision policy (int8, bf16, ...) that passes a "
                       "quality gate on this machine; --precision calibrated loads it")
    c.add_argument("--bundle", help="bundle directory (default: the default voice)")
    add_calibration_runtime(c)
    c.add_argument("--corpus", help="one sentence per line (default: the corpus shipped with voxport for "
                   "the voice's language: Japanese or English)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--method", default="percentile", choices=["minmax", "percentile", "entropy"])
    c.add_argument("--max-sentences", type=int, help="use only the first N corpus sentences")
    c.add_argument("--no-wer", action="store_true",
                   help="skip the PocketSphinx intelligibility check (English voices only: others are judged by "
                        "MCD, durations and the family's own measures)")
    c.add_argument("--allow-duration-shift", action="store_true",
                   help="accept encoder/duration candidates that move durations if the DTW-aligned MCD and the WER "
                        "pass and the length moves by <= 2%% (default: no moved duration)")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--target", help="calibrate for another class of device, gating its float precisions by "
                       "emulation here: arm64-fp16, x86_64-bf16, or ARCH:FEATURES:PRECISIONS; recorded as "
                       "quality-checked, speed unmeasured (OpenVINO)")
    where.add_argument("--time-only", action="store_true",
                       help="on the device: time the bundle's quality-checked, untimed policy (from --target) and "
                       "keep the stages that are faster than fp32 here")
    c.add_argument("--quiet", action="store_true", help="no progress")
    c.set_defaults(func=cmd_calibrate)


def _add_small_commands(sub) -> None:
    r = sub.add_parser("runtimes", help="list the runtimes usable on this machine")
    r.set_defaults(func=cmd_runtimes)

    p = sub.add_parser("phonemize", help="show sentences, phonemes and ids for a text")
    p.add_argument("text")
    p.add_argument("--bundle")
    p.set_defaults(func=cmd_phonemize)


def _user_errors() -> tuple[type[BaseException], ...]:
    """What a user's mistake raises: bad paths and values, a damaged bundle, a runtime or audio device that
    is not there. Imported only once an error is being handled, so that `--help` stays fast."""
    from voxport.audio.playback import AudioDeviceError
    from voxport.bundle.default_voice import DefaultVoiceError
    from voxport.runtimes.errors import VoxportRuntimeError

    # BundleError, FrontendError and the importers' ModelImportError are ValueErrors.
    return ValueError, OSError, VoxportRuntimeError, DefaultVoiceError, AudioDeviceError


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:  # not "[Errno 2] No such file ...: 'x'"
        return f"{exc.strerror}: {exc.filename}"
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "func", None) is cmd_speak:
        args.output_given = args.output is not None
        args.output = args.output or "voxport.wav"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"voxport {args.command}: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:  # evaluated only when something was raised
        if args.verbose:
            traceback.print_exc()
        print(f"voxport {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1
