"""One measurement in a fresh process: `python -m voxport.tools.profiling.worker JOB.json`.

A fresh process per configuration and pass makes the peak RSS and the load time that configuration's
own, and keeps one runtime's threads (onnxruntime's can busy-wait) from slowing the next. Results go
to stdout as record lines (child.Recorder), each the moment it is measured, so the parent keeps them
when it stops this process at its time limit; progress goes to stderr as PROGRESS lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROGRESS = "@voxport-profile-progress"


def main(argv: list[str] | None = None) -> int:
    [job_path] = argv if argv is not None else sys.argv[1:]
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))

    def progress(done: int, total: int) -> None:
        print(f"{PROGRESS} {done} {total}", file=sys.stderr, flush=True)

    from voxport.tools.profiling.child import Recorder
    from voxport.tools.profiling.measure import measure_job

    measure_job(job, Recorder(sys.stdout), progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
