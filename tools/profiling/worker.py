"""One measurement in a fresh process: `python -m voxport.tools.profiling.worker JOB.json RESULT.json`.

A fresh process per configuration and pass makes the peak RSS and the load time that configuration's
own, and keeps one runtime's threads (onnxruntime's can busy-wait) from slowing the next. Progress goes
to stderr as PROGRESS lines; the result goes to a file so a large result never blocks on a pipe.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROGRESS = "@voxport-profile-progress"


def main(argv: list[str] | None = None) -> int:
    job_path, result_path = argv if argv is not None else sys.argv[1:]
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))

    def progress(done: int, total: int) -> None:
        print(f"{PROGRESS} {done} {total}", file=sys.stderr, flush=True)

    from voxport.tools.profiling.measure import measure_job

    result = measure_job(job, progress)
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
