"""The calibration report: JSON for machines, markdown for people, both written into the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# 3: runtimes by canonical name; an evaluation's `wer_candidate` (was `wer_int8`).
# 4: candidates named by graph ("bf16+polyphase"); result `kind`, `candidates`, `reduced_stages`; speed
#    timed cold and warm per candidate (`fp32_ms` / `candidates_ms` are the cold times ranked by).
REPORT_SCHEMA = 4
NONE = "–"  # a figure the evaluation does not have


def report_file(runtime: str) -> str:
    """The JSON report's path inside the bundle, as the manifest's calibration policy records it."""
    return f"calibration/report-{runtime}.json"


def write_reports(bundle_dir: Path, runtime: str, report: dict[str, Any]) -> tuple[Path, Path]:
    json_path = bundle_dir / report_file(runtime)
    md_path = json_path.with_suffix(".md")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return json_path, md_path


def _row(e: dict[str, Any]) -> str:
    mean, worst = e["mean"], e["worst"]
    wer = "n/a" if e["wer_candidate"] is None else f"{e['wer_candidate']:.1f} (fp32 {e['wer_fp32']:.1f})"
    verdict = "pass" if e["passed"] else "REFUSED: " + "; ".join(e["reasons"])
    stages = ", ".join(f"{s} {p}" for s, p in e["precisions"].items())
    return (f"| {e['name']} | {stages} | {mean['mcd_db']:.3f} | {_dtw_mcd(mean)} | "
            f"{mean['snr_db']:.1f} / {worst['snr_db']:.1f} | {mean['log_mel_db']:.3f} | {worst['max_abs']:.3g} | "
            f"{100 * e['duration_change_fraction']:.2f} | {_length_change(e)} | {wer} | {_own(mean)} | {verdict} |")


# What every evaluation measures; anything else in `mean` is a family's own measure (Replay.limits).
SHARED_MEASURES = {"mcd_db", "dtw_mcd_db", "snr_db", "log_mel_db", "max_abs"}


def _own(mean: dict[str, Any]) -> str:
    """The family's own measures (Kokoro: "f0_cents 16.27"), or none."""
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(mean.items()) if k not in SHARED_MEASURES) or NONE


def _dtw_mcd(mean: dict[str, Any]) -> str:
    """The gate's figure under the duration-shift policy; strict evaluations (and older reports) have none."""
    return f"{mean['dtw_mcd_db']:.3f}" if "dtw_mcd_db" in mean else NONE


def _length_change(e: dict[str, Any]) -> str:
    """Summed |change| of the total length with the signed net, for duration-shift evaluations only:
    a strict evaluation judges audio at fp32's frames, so its length did not move (the JSON still has
    what the candidate's own durations would have done; "durations moved %" says how often)."""
    if e.get("duration_policy") != "shift" or "length_change_pct" not in e:
        return NONE
    return f"{e['length_change_pct']:.2f} (net {e['net_length_change_pct']:+.2f})"


def _gate_line(t: dict[str, Any]) -> str:
    wer = f"WER <= fp32 + {t['max_wer_increase']} points"
    if t.get("allow_duration_shift"):
        return (f"Gate (durations may shift): DTW-aligned MCD <= {t['max_mcd_db']} dB on each candidate's own "
                f"durations, {wer}, total length moved <= {100 * t['max_length_change']:.0f}% (summed over "
                "utterances, net in parentheses); the MCD column is at fp32's durations and noise.")
    return (f"Gate: mean MCD <= {t['max_mcd_db']} dB, {wer}, durations moved on <= "
            f"{100 * t['max_duration_changes']:.2f}% of phonemes. Same durations and noise as fp32.")


def markdown(report: dict[str, Any]) -> str:
    t = report["thresholds"]
    lines = [
        f"# Calibration: {report['bundle']} on {report['runtime']}"
        + (f", for {report['target']} devices (quality gated by emulation, speed not measured)"
           if report.get("target") else ""),
        "",
        f"Corpus: {report['corpus']['sentences']} sentences ({report['corpus']['file']}), seed {report['seed']}, "
        f"calibration method {report['method']}; held-out: {report['heldout']['sentences']} sentences.",
        _gate_line(t),
        "",
        "| configuration | stages under test | MCD dB | DTW-MCD dB | SNR dB mean / worst | log-mel dB | max abs "
        "| durations moved % | length moved % | WER % | family's own | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(_row(e) for e in report["evaluations"]),
        "",
        f"**Result ({report['result']['kind']}):** "
        f"{', '.join(f'{s} {p}' for s, p in report['result']['candidates'].items())}.",
    ]
    if report.get("speed"):
        lines += speed_table(report["speed"])
    if report.get("notes"):
        lines += ["", "Notes:", "", *(f"- {n}" for n in report["notes"])]
    return "\n".join(lines) + "\n"


def speed_table(speed: dict[str, Any]) -> list[str]:
    any_stage = next(iter(speed.values()))
    lines = ["", f"Latency per sentence, ms, on {any_stage['sentences']} sentences each session had not seen: cold "
             "(the first time; how real text runs) and warm (the same sentences again). Candidates are ranked by "
             "cold time; one no faster than fp32 cold is not gated. Load: open + warm-up of the shape buckets.", "",
             "| stage | graph | shapes | cold ms | warm ms | load s | cold / fp32 | chosen |",
             "|---|---|---|---|---|---|---|---|"]
    for stage, s in speed.items():
        rows = {"fp32": s["fp32"], **s["candidates"]}
        for name, t in sorted(rows.items(), key=lambda item: item[1]["cold_ms"]):
            chosen = "**chosen**" if name == s["chosen"] else ""
            lines.append(f"| {stage} | {name} | {t['shapes']} | {t['cold_ms']:.2f} | {t['warm_ms']:.2f} | "
                         f"{t['load_s']:.2f} | {t['cold_ms'] / s['fp32_ms']:.3f} | {chosen} |")
    return lines
