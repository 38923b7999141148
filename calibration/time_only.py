"""`voxport calibrate --time-only`: on the device, time a policy whose quality was checked elsewhere.

A cross-calibrated policy (voxport.calibration.cross) passed the gate by emulation on another machine;
only this device can say whether its precisions are faster here. Each reduced stage is timed against
fp32 the way `voxport calibrate` times candidates (sentences never seen, cold and warm), and a stage keeps
its precision only where it is faster cold; the result is recorded as this device class's own, timed
policy. Stages only move toward fp32, so no combination the gate did not judge is made up here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voxport.bundle.policy import CalibrationPolicy
from voxport.calibration.calibrate import Say, gated_runtime, policy_kind, read_texts
from voxport.calibration.candidates import CandidateSet
from voxport.calibration.install import install
from voxport.calibration.report import report_file, speed_table
from voxport.calibration.timing import pick_sentences, time_candidates, timing_feeds
from voxport.pipeline.precision import variant_for
from voxport.runtimes.device_class import DeviceClass, this_device
from voxport.voice import Voice

__all__ = ["NothingToTime", "time_only"]


class NothingToTime(ValueError):
    """The bundle has no quality-checked, untimed policy this device can run."""


def _untimed_policy(policies: tuple[CalibrationPolicy, ...], device: DeviceClass, runtime: str) -> CalibrationPolicy:
    runnable = [p for p in policies if not p.timed and all(device.runs(x) for x in p.precisions.values())]
    if not runnable:
        have = "; ".join(p.describe() for p in policies) or "none"
        raise NothingToTime(f"no untimed {runtime} policy that this device ({device.name}) can run (the bundle's "
                            f"{runtime} policies: {have}); run `voxport calibrate --target ...` on the build machine "
                            f"first, or a full `voxport calibrate --runtime {runtime}` here")
    return sorted(runnable, key=lambda p: (p.device == device, *device.likeness(p.device or device)))[-1]


def time_only(bundle_dir: str | Path, runtime: str = "openvino", *, corpus: str | Path | None = None, seed: int = 0,
              threads: int | None = None, progress: Say | None = None) -> dict[str, Any]:
    """Time the untimed policy this device can run and record, for this device's class, the stages that
    are faster than fp32 here. Raises NothingToTime when there is none."""
    runtime = gated_runtime(runtime)
    say = progress or (lambda message: None)
    bundle_dir = Path(bundle_dir)
    device = this_device(runtime)
    texts = read_texts(corpus, None, None)
    with Voice.load(bundle_dir, threads=threads) as voice:
        source = _untimed_policy(voice.manifest.policies_for(runtime), device, runtime)
        reduced = {s: p for s, p in source.precisions.items() if p != "fp32"}
        files = {s: {p: voice.bundle.graph_path(s, variant_for(runtime, p, voice.bundle.graph(s).variants))}
                 for s, p in reduced.items()}
        candidates = CandidateSet(voice.bundle, runtime, threads, files)
        say(f"timing {source.describe()}")
        feeds = timing_feeds(voice, pick_sentences(texts.sentences), seed)
        speed = time_candidates(candidates, feeds, voice.manifest, say)
        name = voice.manifest.name
    kept = {s: p for s, p in reduced.items() if speed.get(s, {}).get("candidates_ms", {}).get(p, float("inf"))
            < speed.get(s, {}).get("fp32_ms", 0.0)}
    for stage, s in speed.items():
        s["chosen"] = kept.get(stage, "fp32")
    report = {"bundle": name, "runtime": runtime, "device": device.to_dict(), "timed_policy": source.describe(),
              "speed": speed, "notes": candidates.notes,
              "result": {"precisions": kept, "kind": policy_kind(kept), "dropped": sorted(set(reduced) - set(kept))}}
    key = f"{runtime}-timed"
    path = bundle_dir / report_file(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    path.with_suffix(".md").write_text("\n".join([
        f"# Timed on this device: {name} on {runtime}", "", f"Device: {device.name}.",
        f"Policy timed: {source.describe()}.", f"Kept: {report['result']['kind']}.", *speed_table(speed)]) + "\n",
        encoding="utf-8")
    install(bundle_dir, runtime, {}, kept, seed=source.seed, method=f"{source.method}; timed on this device",
            device=device, passed=source.passed, timed=True, emulated=source.emulated, report=report_file(key))
    return report
