"""`voxport info [BUNDLE]`: what a voice is (language, sample rate, speakers, license) and what its bundle
holds (precisions per stage, calibrated policies, bucket plan, static graphs), read from the manifest only."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from voxport.bundle.manifest import Manifest
from voxport.bundle.policy import CalibrationPolicy
from voxport.families import family_named
from voxport.pipeline.speakers import by_id


def add_parser(sub: Any) -> None:
    i = sub.add_parser("info", help="describe a voice: language, sample rate, speakers, license, precisions")
    i.add_argument("bundle", nargs="?", help="bundle directory (default: the default voice)")
    i.add_argument("--json", action="store_true", help="print it as JSON")
    i.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    from voxport.bundle import Bundle
    from voxport.bundle.default_voice import ensure_default_bundle

    # verify=False: describing a voice needs the manifest, not hashing hundreds of MB of graphs.
    bundle = Bundle.load(args.bundle or ensure_default_bundle(), verify=False)
    facts = voice_facts(bundle.manifest)
    facts["bundle"] = str(bundle.root)
    print(json.dumps(facts, indent=2, ensure_ascii=False) if args.json else format_facts(facts))
    return 0


def _quality(m: Manifest) -> str | None:
    """Piper's audio.quality (x_low ... high), wherever the build recorded it; None if it did not."""
    for place in (m.source, m.extra):
        for holder in (place, place.get("audio"), place.get("piper_config", {}).get("audio")):
            if isinstance(holder, dict) and isinstance(holder.get("quality"), str):
                return holder["quality"]
    return None


def _policy_facts(policy: CalibrationPolicy) -> dict[str, Any]:
    proved = "timed" if policy.timed else "quality-checked by emulation, speed unmeasured"
    return {"runtime": policy.runtime, "precisions": dict(policy.precisions),
            "device": policy.device.name if policy.device else "device class not recorded",
            "proved": proved + (f" on {policy.machine}" if policy.machine else "")}


def voice_facts(m: Manifest) -> dict[str, Any]:
    """The manifest as a user asks about it; keys absent from the bundle are left out, not guessed."""
    ph = m.phonemizer
    facts: dict[str, Any] = {
        "name": m.name,
        "family": m.family,
        "language": ph.get("language") or m.source.get("language") or ph.get("voice"),
        "phonemes": " ".join(str(x) for x in (ph.get("type"), ph.get("voice")) if x),
        "sample_rate": m.sample_rate,
        "quality": _quality(m),
        "num_speakers": m.num_speakers,
        "speakers": by_id(m),
        "license": m.source.get("license"),
        "source": m.source.get("origin") or m.source.get("file") or m.source.get("kind"),
        "scales": family_named(m.family).settings(m),  # the knobs its family reads, at the voice's values
        # "fp32@128" keys are static-shape copies (build --static): listed apart from the precisions.
        "precisions": {s: sorted(k for k in g.variants if "@" not in k) for s, g in m.graphs.items()},
        "calibrated": [_policy_facts(p) for p in m.calibration],
        "buckets": None if m.shapes is None else {"phoneme": list(m.shapes.phoneme_buckets),
                                                   "frame": list(m.shapes.frame_buckets)},
        "static_graphs": {s: sorted({k for k in g.variants if "@" in k}) for s, g in m.graphs.items()
                          if any("@" in k for k in g.variants)},
    }
    return {k: v for k, v in facts.items() if v not in (None, "", {}, [])}


def format_facts(facts: dict[str, Any]) -> str:
    """Aligned `key: value` lines; nested tables indented one level under their key."""
    lines = [("name", facts["name"]), ("family", facts["family"])]
    lines += [(k.replace("_", " "), facts[k]) for k in ("language", "phonemes", "sample_rate", "quality")
              if k in facts]
    lines.append(("speakers", _speakers(facts)))
    lines += [(k, facts[k]) for k in ("license", "source", "bundle") if k in facts]
    if "scales" in facts:
        lines.append(("scales", ", ".join(f"{k} {v:g}" for k, v in facts["scales"].items())))
    lines.append(("precisions", ""))
    lines += [(f"  {stage}", ", ".join(p) or "-") for stage, p in facts["precisions"].items()]
    if "calibrated" in facts:
        lines.append(("calibrated", ""))
        lines += [(f"  {p['runtime']}", f"{', '.join(f'{s} {x}' for s, x in p['precisions'].items()) or 'fp32'}"
                   f"  ({p['device']}; {p['proved']})") for p in facts["calibrated"]]
    if "buckets" in facts:
        lines += [(f"{axis} buckets", ", ".join(map(str, sizes))) for axis, sizes in facts["buckets"].items()]
    if "static_graphs" in facts:
        lines.append(("static graphs", ""))
        lines += [(f"  {stage}", ", ".join(keys)) for stage, keys in facts["static_graphs"].items()]
    width = max(len(key) for key, _ in lines) + 1
    return "\n".join(f"{key + ':':<{width}} {value}".rstrip() for key, value in lines)


def _speakers(facts: dict[str, Any]) -> str:
    """`1`, or the count then `id name` pairs wrapped under the value column (some voices have hundreds)."""
    count, names = facts["num_speakers"], facts.get("speakers", {})
    if count <= 1:
        return "1"
    if not names:
        return f"{count} (ids 0..{count - 1}, no names)"
    listed = ", ".join(f"{name} ({i})" for name, i in names.items())
    return f"{count}\n" + textwrap.indent(textwrap.fill(listed, 100), "  ")
