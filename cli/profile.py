"""`voxport profile`: its arguments and what it prints. Imported when the parser is built, so this
module imports nothing heavy at the top."""

from __future__ import annotations

import argparse
import sys
from importlib.util import find_spec

from voxport.cli.options import add_runtime_options

USAGE = """examples:
  voxport profile --threads 1,2 --json a.json --markdown a.md --plot a.png
  voxport profile --threads 1 --threads 2 --threads 4 --runtime openvino   (a row per thread count: small boards)
  voxport profile --bundle DIR --runtime onnxruntime,openvino --precision fp32,bf16 --runs 10
  voxport profile --runtime "encoder=onnxruntime;default=openvino"   (one configuration, runtime per stage)
  voxport profile --compare a.json b.json                      (two reports side by side, ratios b/a)
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("profile", help="latency per stage, TTFA, RTF, load time and memory per configuration",
                       epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", help="bundle directory (default: the default voice)")
    add_runtime_options(p, matrix=True, shapes=False)
    p.add_argument("--texts", metavar="FILE", help="texts to speak, one per line (default: four built-in texts in "
                   "the voice's language: Japanese for a Japanese voice, else English)")
    p.add_argument("--runs", type=int, default=5, help="timed rounds over the texts per pass (default: 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds before them (default: 1)")
    p.add_argument("--passes", type=int, default=2,
                   help="fresh loads of each configuration; their disagreement is the reported spread (default: 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cold", type=int, default=8, metavar="N",
                   help="corpus sentences (in the voice's language) each process speaks for the first time, "
                   "and as many short ones for time to first audio, reported as the cold figures beside the warm "
                   "ones (default: 8; 0: off)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                   help="time limit per configuration and pass; one that exceeds it is reported as 'timeout' "
                   "with what it measured (default: 300; 0: none); with --in-process it is checked between "
                   "texts: no new text is timed past it, but one long call is not cut short")
    p.add_argument("--decoder-steps", type=int, metavar="N",
                   help="Tacotron2: run exactly N decoder steps per sentence, the stop gate ignored (random-weight "
                   "models stop at random points; a benchmark needs a fixed length)")
    p.add_argument("--piper", metavar="VOICE.onnx", help="the original Piper graph for the baseline "
                   "(default: the one the bundle was built from, when it can be found)")
    p.add_argument("--no-baseline", action="store_true", help="do not run the original Piper graph")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process (faster start; peak RSS is then the whole process's)")
    p.add_argument("--json", metavar="OUT.json", help="write the report as JSON")
    p.add_argument("--markdown", metavar="OUT.md", help="write the Markdown tables (also printed)")
    p.add_argument("--plot", metavar="OUT.png", help="write the per-stage chart (needs voxport[profile])")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print two reports side by side")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from voxport.tools.profiling.report import load_json

    if args.compare:
        from voxport.tools.profiling.compare import compare_reports

        try:
            a, b = (load_json(path) for path in args.compare)
        except (OSError, ValueError) as exc:
            print(f"voxport profile --compare: {exc}", file=sys.stderr)
            return 2
        print(compare_reports(a, b, names=tuple(args.compare)), end="")
        return 0
    if args.plot and find_spec("matplotlib") is None:
        # Before the run, not after minutes of measuring.
        from voxport.tools.profiling.chart import MISSING_MATPLOTLIB

        print(f"voxport profile --plot: {MISSING_MATPLOTLIB}", file=sys.stderr)
        return 2

    from voxport.tools.profiling.chart import ChartUnavailableError, save_chart
    from voxport.tools.profiling.plan import parse_list, parse_threads, read_texts
    from voxport.tools.profiling.report import save_json, to_markdown
    from voxport.tools.profiling.runner import profile

    try:
        texts = read_texts(args.texts) if args.texts else None
        threads = parse_threads(",".join(args.threads or ())) or None
        report = profile(args.bundle, runtimes=parse_list(args.runtime), precisions=parse_list(args.precision),
                         threads=threads, texts=texts, runs=args.runs, warmup=args.warmup, passes=args.passes,
                         seed=args.seed, piper=args.piper, baseline=not args.no_baseline,
                         isolate=not args.in_process, progress=not args.quiet, cold=args.cold,
                         timeout=args.timeout or None, decoder_steps=args.decoder_steps)
    except (OSError, ValueError) as exc:
        print(f"voxport profile: {exc}", file=sys.stderr)
        return 2
    markdown = to_markdown(report)
    print(markdown, end="")
    if args.json:
        print(f"voxport profile: wrote {save_json(report, args.json)}", file=sys.stderr)
    if args.markdown:
        from pathlib import Path

        Path(args.markdown).write_text(markdown, encoding="utf-8")
        print(f"voxport profile: wrote {args.markdown}", file=sys.stderr)
    if args.plot:
        try:
            print(f"voxport profile: wrote {save_chart(report, args.plot)}", file=sys.stderr)
        except ChartUnavailableError as exc:
            print(f"voxport profile --plot: {exc}", file=sys.stderr)
            return 2
    ran = any(r["status"] == "ok" for r in report["configurations"])
    return 0 if ran else 1
