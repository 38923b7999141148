"""One OpenVINO load-and-speak on the device, in its own process: under qemu-user OpenVINO can die with a
segfault, and the device suite (test_arm64.py) must report that as a skip naming the emulator rather than
lose the whole run.

    python ov_case.py BUNDLE PRECISION TEXT SEED OUT_DIR

Writes OUT_DIR/audio.npy and OUT_DIR/case.json: the INFERENCE_PRECISION_HINT each stage's compiled model
reports, the precision voxport chose per stage, and the text of every warning the load and synthesis gave
(voxport's own apart from other libraries').
Needs openvino and the voxport wheel; never imports onnxruntime (it segfaults in the view with /sys).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np


def _hint(session: object) -> str:
    hint = session.compiled_model.get_property("INFERENCE_PRECISION_HINT")  # type: ignore[attr-defined]
    # An ov.Type: its type name is "f32" / "f16" / "bf16".
    return hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)


def run(bundle: str, precision: str, text: str, seed: int, out: Path) -> None:
    from voxport import Voice

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Dynamic shapes: fixed buckets compile one model per bucket, which took 680 s under qemu.
        voice = Voice.load(bundle, "openvino", precision, threads=1, shapes="dynamic", progress=False)
        try:
            audio = voice.synthesize(text, seed=seed)
            stages = list(voice.sessions.sessions)
            hints = {stage: _hint(voice.sessions[stage]) for stage in stages}
            chosen = {stage: voice.sessions[stage].precision for stage in stages}
        finally:
            voice.close()
    np.save(out / "audio.npy", np.asarray(audio, dtype=np.float32))
    # Warnings of voxport's own classes are what voxport says; others (a library's deprecation) are kept apart.
    ours = [str(w.message) for w in caught if w.category.__module__.startswith("voxport")]
    others = [f"{w.category.__name__}: {w.message}" for w in caught if not w.category.__module__.startswith("voxport")]
    case = {"hints": hints, "precisions": chosen, "warnings": ours, "other_warnings": others}
    (out / "case.json").write_text(json.dumps(case, indent=1), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit("usage: ov_case.py BUNDLE PRECISION TEXT SEED OUT_DIR")
    run(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
