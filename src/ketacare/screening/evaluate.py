"""Pure screening evaluation over intake facts (no ORM): rules in, findings out.

`evaluate(ruleset, facts, route)` judges every rule of the rule set that applies to the route:

- the condition holds          -> the rule's severity ("caution" or "contraindicated"), with its reason;
- the condition cannot hold    -> "no_concern";
- a fact it needs is unknown   -> "not_assessed", naming the missing facts.

Conditions use three-valued logic, so an unknown fact never silently becomes "no concern": `any_of`
holds as soon as one part holds, and fails only when every part fails; `all_of` the reverse. The
overall status of the route is the worst finding (contraindicated > caution); with no finding it is
"not_assessed" while any rule is not assessed, and "no_concern" only when every rule was assessed.
`complete` is False whenever a rule could not be assessed, whatever the status: a caution found
beside an unassessed contraindication must still send staff back for the missing facts.

`count_adequate_failed_trials` counts prior antidepressant trials by the rule set's adequacy
definition (clinical.md defines none: see `TrialAdequacy`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ketacare.screening.definitions import (
    Adherence,
    AllOf,
    AnyOf,
    Condition,
    FactAbove,
    FactAtLeast,
    FactIs,
    Rule,
    RuleSet,
    Severity,
    TrialAdequacy,
    TrialResponse,
    leaves,
)
from ketacare.screening.facts import FACTS_BY_NAME, Route

Outcome = Literal["no_concern", "not_assessed", "caution", "contraindicated"]
Status = Literal["no_concern", "not_assessed", "caution", "contraindicated"]

_WORST: tuple[Severity, ...] = ("contraindicated", "caution")


class FactsError(ValueError):
    """Facts the screening cannot take (unknown name or wrong kind of value)."""


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    title: str
    severity: Severity  # what the rule gives when it fires
    outcome: Outcome
    reason: str  # the rule's reason text (shown when it fires)
    sources: tuple[str, ...]
    section: str
    missing: tuple[str, ...] = ()  # unknown facts that kept the rule from being assessed

    @property
    def fired(self) -> bool:
        return self.outcome in _WORST


@dataclass(frozen=True)
class Evaluation:
    ruleset: str
    version: str
    route: Route
    results: tuple[RuleResult, ...]
    status: Status
    missing_facts: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing_facts

    @property
    def findings(self) -> tuple[RuleResult, ...]:
        """Rules that fired, worst first."""
        return tuple(r for sev in _WORST for r in self.results if r.outcome == sev)

    @property
    def not_assessed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.outcome == "not_assessed")

    def result(self, rule_id: str) -> RuleResult:
        for r in self.results:
            if r.rule_id == rule_id:
                return r
        raise KeyError(rule_id)


def check_facts(facts: Mapping[str, object]) -> None:
    """Refuse a fact name outside the vocabulary or a value of the wrong kind (`None` = unknown)."""
    errors: list[str] = []
    for name, value in facts.items():
        spec = FACTS_BY_NAME.get(name)
        if spec is None:
            errors.append(f"unknown fact {name!r}")
        elif value is None:
            continue
        elif spec.kind == "bool" and not isinstance(value, bool):
            errors.append(f"{name} must be true or false, not {value!r}")
        elif spec.kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.append(f"{name} must be a number, not {value!r}")
    if errors:
        raise FactsError("; ".join(errors))


def holds(condition: Condition, facts: Mapping[str, object]) -> bool | None:
    """Three-valued truth of a condition: True, False, or None when unknown facts decide it."""
    if isinstance(condition, AnyOf):
        parts = [holds(c, facts) for c in condition.any_of]
        if any(p is True for p in parts):
            return True
        return False if all(p is False for p in parts) else None
    if isinstance(condition, AllOf):
        parts = [holds(c, facts) for c in condition.all_of]
        if any(p is False for p in parts):
            return False
        return True if all(p is True for p in parts) else None
    value = facts.get(condition.fact)
    if value is None:
        return None
    if isinstance(condition, FactIs):
        return value is condition.is_
    assert isinstance(value, int | float)  # noqa: S101 - check_facts guarantees it
    if isinstance(condition, FactAtLeast):
        return value >= condition.at_least
    assert isinstance(condition, FactAbove)  # noqa: S101
    return value > condition.above


def evaluate_rule(rule: Rule, facts: Mapping[str, object]) -> RuleResult:
    truth = holds(rule.when, facts)
    outcome: Outcome
    missing: tuple[str, ...] = ()
    if truth is True:
        outcome = rule.severity
    elif truth is False:
        outcome = "no_concern"
    else:
        outcome = "not_assessed"
        missing = tuple(dict.fromkeys(leaf.fact for leaf in leaves(rule.when) if facts.get(leaf.fact) is None))
    return RuleResult(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        outcome=outcome,
        reason=rule.reason,
        sources=rule.sources,
        section=rule.section,
        missing=missing,
    )


def evaluate(ruleset: RuleSet, facts: Mapping[str, object], route: Route) -> Evaluation:
    """Judge every rule of `ruleset` that applies to `route` over the intake `facts`."""
    if route not in ruleset.routes:
        raise ValueError(f"rule set {ruleset.code} does not cover route {route!r}")
    check_facts(facts)
    results = tuple(evaluate_rule(rule, facts) for rule in ruleset.rules_for(route))
    outcomes = {r.outcome for r in results}
    status: Status
    if "contraindicated" in outcomes:
        status = "contraindicated"
    elif "caution" in outcomes:
        status = "caution"
    elif "not_assessed" in outcomes:
        status = "not_assessed"
    else:
        status = "no_concern"
    missing = tuple(dict.fromkeys(f for r in results for f in r.missing))
    return Evaluation(ruleset.code, ruleset.version, route, results, status, missing)


# --- prior antidepressant trials ----------------------------------------------------------------

_ADHERENCE_RANK: dict[Adherence, int] = {"poor": 0, "partial": 1, "good": 2}

TrialVerdict = Literal["adequate_failed", "not_counted", "undetermined"]


@dataclass(frozen=True)
class PriorTrial:
    """One prior antidepressant trial as entered at intake (issue #5 item 1).

    `dose_adequate` is the prescriber's judgement of the dose (clinical.md gives no dose table);
    any field left `None` is unknown.
    """

    drug: str
    dose: str = ""
    dose_adequate: bool | None = None
    duration_weeks: float | None = None
    adherence: Adherence | None = None
    response: TrialResponse | None = None
    reason_stopped: str = ""


@dataclass(frozen=True)
class TrialJudgement:
    trial: PriorTrial
    verdict: TrialVerdict
    why: tuple[str, ...]  # why it is not counted, or what is missing to judge it


@dataclass(frozen=True)
class TrialCount:
    count: int  # adequate failed trials
    undetermined: int  # trials that could change the count once judged
    judgements: tuple[TrialJudgement, ...]
    threshold: int  # adequate failed trials that make treatment resistance

    @property
    def treatment_resistant(self) -> bool | None:
        """True at `threshold` or more; False when even the undetermined trials could not reach it; else None."""
        if self.count >= self.threshold:
            return True
        if self.count + self.undetermined < self.threshold:
            return False
        return None


def judge_trial(trial: PriorTrial, adequacy: TrialAdequacy) -> TrialJudgement:
    """Whether one trial is an adequate failed trial under `adequacy`.

    A trial is counted when it failed (response in `failed_responses`), the dose was adequate, it
    lasted at least `min_duration_weeks` and adherence was at least `min_adherence`. Any criterion
    that is plainly unmet makes it "not counted"; otherwise an unknown value or an unset threshold
    makes it "undetermined".
    """
    unmet: list[str] = []
    unknown: list[str] = []
    if trial.response is None:
        unknown.append("response")
    elif trial.response not in adequacy.failed_responses:
        unmet.append(f"response was {trial.response}")
    if trial.dose_adequate is None:
        unknown.append("dose adequacy (prescriber's judgement)")
    elif not trial.dose_adequate:
        unmet.append("dose not adequate")
    if adequacy.min_duration_weeks is None:
        unknown.append("minimum duration (not set by the clinic)")
    elif trial.duration_weeks is None:
        unknown.append("duration")
    elif trial.duration_weeks < adequacy.min_duration_weeks:
        unmet.append(f"{trial.duration_weeks:g} weeks is under {adequacy.min_duration_weeks:g}")
    if adequacy.min_adherence is None:
        unknown.append("minimum adherence (not set by the clinic)")
    elif trial.adherence is None:
        unknown.append("adherence")
    elif _ADHERENCE_RANK[trial.adherence] < _ADHERENCE_RANK[adequacy.min_adherence]:
        unmet.append(f"adherence was {trial.adherence}")
    if unmet:
        return TrialJudgement(trial, "not_counted", tuple(unmet))
    if unknown:
        return TrialJudgement(trial, "undetermined", tuple(unknown))
    return TrialJudgement(trial, "adequate_failed", ())


def count_adequate_failed_trials(trials: Sequence[PriorTrial], adequacy: TrialAdequacy) -> TrialCount:
    """Count adequate failed antidepressant trials; `treatment_resistant` at the definition's threshold."""
    judgements = tuple(judge_trial(t, adequacy) for t in trials)
    return TrialCount(
        count=sum(j.verdict == "adequate_failed" for j in judgements),
        undetermined=sum(j.verdict == "undetermined" for j in judgements),
        judgements=judgements,
        threshold=adequacy.treatment_resistant_at_least,
    )


def treatment_resistant(count: TrialCount) -> bool | None:
    """Two or more adequate failed trials (issue #5; the threshold is data): True / False / None (undetermined)."""
    return count.treatment_resistant
