"""Which candidate each stage keeps: the per-stage ladder, then demotion until the stages pass together.

Pure policy over an `evaluate(name, precisions)` function, so it can be tested without graphs: each
stage climbs its ladder (fastest candidate first) alone until one passes; the stages that passed are
then judged together, and while the combination fails, one stage is demoted to its next candidate, or
to fp32 when none is left. Which one: with the candidates' times known, the stage whose demotion gives
up the least time per dB it cost alone (its solo MCD, DTW-aligned when durations may shift) -- the
search is for the fastest policy that passes; without times, the stage that cost the most alone.
With times, a last pass tries each stage left slower than a candidate that passed alone at that
candidate again, keeping it if the combination still passes (demotion is greedy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol


class Judged(Protocol):
    passed: bool
    mean: dict[str, float]


Evaluate = Callable[[str, dict[str, str]], Judged]


def precision_of(candidate: str) -> str:
    """The runtime precision a candidate runs at: "bf16+polyphase" (a rewritten graph) runs bf16."""
    return candidate.split("+", 1)[0]


def ladders(speed: Mapping[str, Mapping[str, Any]], require_speedup: bool = True) -> dict[str, list[str]]:
    """Each stage's candidates fastest first. One no faster than fp32 has no reason to exist, unless
    `require_speedup` is off (tests of tiny graphs, where timing says nothing). Of candidates at one
    precision (the same function, rewritten: "bf16" and "bf16+polyphase") only the fastest is judged:
    the gate would judge the same audio twice. Int8 variants that keep other layers float ("int8" and
    "int8+name") compute different audio, so each is judged."""
    result = {}
    for stage, s in speed.items():
        ranked = sorted((ms, p) for p, ms in s["candidates_ms"].items() if ms < s["fp32_ms"] or not require_speedup)
        fastest: dict[str, str] = {}
        for _, candidate in ranked:
            fastest.setdefault(_function_of(candidate), candidate)
        result[stage] = [c for _, c in ranked if fastest[_function_of(c)] == c]
    return result


def _function_of(candidate: str) -> str:
    """What a candidate computes: an exact rewrite ("+polyphase") computes what its precision's graph does."""
    return precision_of(candidate) if candidate.endswith("+polyphase") else candidate


def passed_alone(evaluations: Sequence[Any]) -> dict[str, list[str]]:
    """stage -> the precisions that passed the gate alone, in the order they were judged (gate Evaluations):
    what a bundle records as proved safe, for a machine that cannot run the chosen one."""
    passed: dict[str, list[str]] = {}
    for e in evaluations:
        if e.passed and len(e.precisions) == 1:
            (stage, candidate), = e.precisions.items()
            if precision_of(candidate) not in passed.setdefault(stage, []):
                passed[stage].append(precision_of(candidate))
    return passed


def _listed(precisions: Mapping[str, str]) -> str:
    return ", ".join(f"{stage} {precision}" for stage, precision in precisions.items())


class PolicySearch:
    """Runs the search once; `evaluations` keeps every judgement in the order it was made."""

    def __init__(self, ladders: Mapping[str, list[str]], evaluate: Evaluate,
                 say: Callable[[str], None] = lambda message: None,
                 times: Mapping[str, Mapping[str, float]] | None = None) -> None:
        """`times`: stage -> {"fp32" or candidate: ms per sentence}, as timed (cold) for the ladders."""
        self.stages = tuple(ladders)
        self._times = times
        self._ladders = {stage: list(rungs) for stage, rungs in ladders.items()}
        self._evaluate, self._say = evaluate, say
        self.chosen: dict[str, str] = {}  # in the order stages passed: ties in demotion go to the earliest
        self.solo_mcd: dict[str, float] = {}
        self._passed_alone: dict[str, dict[str, float]] = {}  # stage -> candidate -> its solo cost (dB)
        self.evaluations: list[Judged] = []

    def run(self) -> dict[str, str]:
        """stage -> accepted candidate precision, for the stages that keep one (the others stay fp32)."""
        for stage in self.stages:
            self._climb(stage)
        while len(self.chosen) > 1:
            together = self._in_order()
            self._say(f"gate: {_listed(together)} together")
            if self._judge("combined", together).passed:
                break
            demoted = self._to_demote()
            del self.chosen[demoted]
            self._climb(demoted)
        if self._times is not None:
            self._promote()
        return self._in_order()

    def _promote(self) -> None:
        """Demotion is greedy: a stage demoted while others still failed the combination may fit the final
        one at a faster rung. Each stage running slower than a candidate that passed alone gets one try,
        with the candidate that gains the most time per dB it cost alone; it is kept if all still pass."""
        for stage in self.stages:
            now = self.chosen.get(stage, "fp32")
            times = self._times[stage]  # type: ignore[index]
            faster = {cand: cost for cand, cost in self._passed_alone.get(stage, {}).items()
                      if times[cand] < times[now]}
            if not faster:
                continue
            best = max(faster, key=lambda cand: (times[now] - times[cand]) / max(faster[cand], 1e-6))
            trial = {s: best if s == stage else self.chosen[s] for s in self.stages if s == stage or s in self.chosen}
            self._say(f"gate: {_listed(trial)} together (promoting {stage})")
            if self._judge("combined", trial).passed:
                self.chosen[stage], self.solo_mcd[stage] = best, faster[best]

    def _to_demote(self) -> str:
        if self._times is None:
            return max(self.chosen, key=self.solo_mcd.__getitem__)

        def price(stage: str) -> float:
            times = self._times[stage]  # type: ignore[index]
            following = self._ladders[stage][0] if self._ladders[stage] else "fp32"
            given_up = max(0.0, times[following] - times[self.chosen[stage]])
            # A stage that cost nothing alone is demoted last: it cannot be what fails the combination.
            return given_up / self.solo_mcd[stage] if self.solo_mcd[stage] > 0 else float("inf")

        return min(self.chosen, key=price)  # ties: the stage that passed first

    def _climb(self, stage: str) -> None:
        """Judge the stage's next candidates alone until one passes (chosen) or none is left (fp32)."""
        while self._ladders[stage]:
            precision = self._ladders[stage].pop(0)
            self._say(f"gate: {stage} alone at {precision}")
            result = self._judge(f"{stage} {precision}", {stage: precision})
            if result.passed:
                # Under the duration-shift policy the judged audio is the candidate's own durations: its
                # DTW-aligned MCD, not the MCD at the reference's frames (0 for a duration predictor).
                cost = result.mean.get("dtw_mcd_db", result.mean["mcd_db"])
                self.chosen[stage], self.solo_mcd[stage] = precision, cost
                self._passed_alone.setdefault(stage, {})[precision] = cost
                return

    def _judge(self, name: str, precisions: dict[str, str]) -> Judged:
        result = self._evaluate(name, precisions)
        self.evaluations.append(result)
        return result

    def _in_order(self) -> dict[str, str]:
        return {stage: self.chosen[stage] for stage in self.stages if stage in self.chosen}
