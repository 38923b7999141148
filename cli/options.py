"""The options every command that loads a voice shares (--runtime, --precision, --threads, --shapes), defined
once; their values are read with the one stage-option grammar (voxport.pipeline.sessions.parse_stage_choice)."""

from __future__ import annotations

import argparse

from voxport.pipeline.sessions import DEFAULT_PRECISION, DEFAULT_RUNTIME, StageChoice, parse_stage_choice
from voxport.runtimes import KNOWN_RUNTIMES
from voxport.runtimes.shapes import SHAPE_CHOICES

__all__ = ["add_calibration_runtime", "add_runtime_options", "stage_choice"]

_PRECISIONS = ("precision (fp32, bf16, fp16, int8-bf16; calibrated: the policy `voxport calibrate` installed for "
               "the runtime, also called int8)")


def add_runtime_options(parser: argparse.ArgumentParser, *, matrix: bool = False, shapes: bool = True,
                        threads_default: int | None = None) -> None:
    """--runtime, --precision, --threads and (with `shapes`) --shapes. `matrix` (voxport profile): each
    takes a comma-separated list of configurations to compare, a per-stage mapping written with `;`."""
    if matrix:
        parser.add_argument("--runtime", default=DEFAULT_RUNTIME,
                            help=f"runtimes to compare, comma-separated (default: {DEFAULT_RUNTIME}; 'cpu' is its "
                            "alias); one item may choose per stage: 'encoder=onnxruntime;default=openvino'")
        parser.add_argument("--precision", default=DEFAULT_PRECISION,
                            help=f"precisions to compare, comma-separated (default: {DEFAULT_PRECISION})")
        # Repeatable as well as comma-separated: `--threads 1 --threads 2,4` is one report with a row per count
        # (what a small board's owner compares: 1 core free for the rest, or all of them).
        parser.add_argument("--threads", action="append",
                            help="thread counts, comma-separated or repeated: a row per count in one report "
                            "(default: the usable physical cores)")
    else:
        parser.add_argument("--runtime", default=DEFAULT_RUNTIME,
                            help="runtime, or STAGE=RUNTIME,...,default=RUNTIME")
        parser.add_argument("--precision", default=DEFAULT_PRECISION, help=f"{_PRECISIONS}, or STAGE=PRECISION,...")
        parser.add_argument("--threads", type=int, default=threads_default,
                            help="runtime threads" + (f" (default {threads_default})" if threads_default else ""))
    if shapes:
        parser.add_argument("--shapes", choices=SHAPE_CHOICES,
                            help="pad to the bundle's bucket shapes, or run each sentence at its own (default: per "
                            "runtime); latency: fixed, with more graphs compiled per bucket (OpenVINO: faster first "
                            "audio, ~+460 MB); small: few buckets, no copies, for boards with little memory "
                            "(OpenVINO: ~400 instead of ~890 MB on a medium Piper voice)")


def add_lean_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lean", action="store_true",
                        help="hand back each graph call's buffers when it returns: between sentences the voice "
                        "holds about what its load left, for some speed (boards with little memory)")


def add_memory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory-mb", type=float, metavar="MB",
                        help="the most resident memory the voice may add: the fastest of --shapes, small and "
                        "--lean that measures within it (each measured in a fresh process, seconds), else the "
                        "smallest with a warning; measured once per machine, kept with the compile cache")


def add_calibration_runtime(parser: argparse.ArgumentParser) -> None:
    """--runtime and --threads of `voxport calibrate`: one runtime for every stage (a policy is per runtime)."""
    names = [*KNOWN_RUNTIMES, "cpu"]
    parser.add_argument("--runtime", default=DEFAULT_RUNTIME, choices=names, help="cpu is an alias of onnxruntime")
    parser.add_argument("--threads", type=int, help="runtime threads")


def stage_choice(value: str, option: str) -> StageChoice:
    """An option's value read with the shared grammar; a ValueError that main() prints as one line."""
    return parse_stage_choice(value, option)
