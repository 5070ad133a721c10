"""Screening rules as versioned data: the typed shape of `rules/*.json` and its loader.

Clinical knowledge is data (docs/conventions.md), as the measures instruments are: each rule set is one
JSON file named `<code>-v<version>.json` with `source`, `version`, `effective_from` and `citation`;
every rule cites its source keys and its section of ../shared/reference/clinical.md. This module only
checks that a file is coherent (known facts of the right kind, unique ids, known routes, known
severities) so a typo fails at load and in the tests, never in front of a prescriber. Evaluation is in
`evaluate.py`.

The condition language is deliberately small:

    {"fact": "pregnant", "is": true}            a yes/no fact has this value
    {"fact": "systolic_bp_mmhg", "above": 140}  a number is greater than the value
    {"fact": "x", "at_least": 3}                a number is greater than or equal to the value
    {"any_of": [c, ...]} / {"all_of": [c, ...]} one / every sub-condition holds
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterator
from importlib import resources
from typing import Literal

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketacare.screening.facts import FACTS_BY_NAME, ROUTES, Route

Severity = Literal["contraindicated", "caution"]
Adherence = Literal["poor", "partial", "good"]
TrialResponse = Literal["none", "partial", "response", "remission"]

SOURCE_KEY = r"^[A-Za-z0-9][A-Za-z0-9.-]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FactIs(_Frozen):
    fact: str
    is_: bool = Field(alias="is")


class FactAtLeast(_Frozen):
    fact: str
    at_least: float


class FactAbove(_Frozen):
    fact: str
    above: float


class AnyOf(_Frozen):
    any_of: tuple[Condition, ...] = Field(min_length=1)


class AllOf(_Frozen):
    all_of: tuple[Condition, ...] = Field(min_length=1)


Condition = FactIs | FactAtLeast | FactAbove | AnyOf | AllOf
AnyOf.model_rebuild()
AllOf.model_rebuild()


def leaves(condition: Condition) -> Iterator[FactIs | FactAtLeast | FactAbove]:
    """Every fact test in a condition, depth first."""
    if isinstance(condition, AnyOf):
        for sub in condition.any_of:
            yield from leaves(sub)
    elif isinstance(condition, AllOf):
        for sub in condition.all_of:
            yield from leaves(sub)
    else:
        yield condition


def facts_named(condition: Condition) -> tuple[str, ...]:
    """The facts a condition reads, in order of first appearance."""
    return tuple(dict.fromkeys(leaf.fact for leaf in leaves(condition)))


def _check_condition(rule_id: str, condition: Condition) -> None:
    for leaf in leaves(condition):
        spec = FACTS_BY_NAME.get(leaf.fact)
        if spec is None:
            raise ValueError(f"rule {rule_id}: unknown fact {leaf.fact!r}")
        wanted = "bool" if isinstance(leaf, FactIs) else "number"
        if spec.kind != wanted:
            raise ValueError(
                f"rule {rule_id}: fact {leaf.fact} is a {spec.kind}, the condition treats it as a {wanted}"
            )


class Rule(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str = Field(min_length=1)
    severity: Severity
    routes: tuple[Route, ...] = Field(min_length=1)
    when: Condition
    reason: str = Field(min_length=1)  # shown to the prescriber when the rule fires
    sources: tuple[str, ...] = Field(min_length=1)  # source keys of clinical.md section 10
    section: str = Field(min_length=1)  # clinical.md section(s), e.g. "2.4"
    basis: str = Field(min_length=1)  # kind and strength of the evidence, as clinical.md grades it

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if len(set(self.routes)) != len(self.routes):
            raise ValueError(f"rule {self.id}: a route is listed twice")
        for key in self.sources:
            if not _is_source_key(key):
                raise ValueError(f"rule {self.id}: {key!r} is not a source key")
        _check_condition(self.id, self.when)
        return self

    @property
    def facts(self) -> tuple[str, ...]:
        return facts_named(self.when)


def _is_source_key(key: str) -> bool:
    return re.match(SOURCE_KEY, key) is not None


class TrialAdequacy(_Frozen):
    """What makes a prior antidepressant trial an *adequate failed* trial.

    clinical.md gives no definition of an adequate trial (no minimum dose or duration), so every
    threshold here is a clinic parameter; `None` means "not set", and a trial that cannot be judged
    without it is reported as undetermined, never counted either way. Dose adequacy is the
    prescriber's judgement per trial (clinical.md has no dose table).
    """

    min_duration_weeks: float | None = Field(default=None, gt=0)
    min_adherence: Adherence | None = None
    failed_responses: tuple[TrialResponse, ...] = Field(min_length=1)
    treatment_resistant_at_least: int = Field(ge=1)
    source: str = Field(min_length=1)
    basis: str = Field(min_length=1)


class RuleSet(_Frozen):
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    version: str = Field(pattern=r"^[0-9]+$")
    effective_from: datetime.date
    name: str
    routes: tuple[Route, ...] = Field(min_length=1)
    source: str
    citation: str
    notes: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = Field(min_length=1)
    trial_adequacy: TrialAdequacy | None = None

    @model_validator(mode="after")
    def _coherent(self) -> RuleSet:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"{self.code}: duplicate rule ids {', '.join(dupes)}")
        if len(set(self.routes)) != len(self.routes):
            raise ValueError(f"{self.code}: a route is listed twice")
        for rule in self.rules:
            stray = set(rule.routes) - set(self.routes)
            if stray:
                raise ValueError(f"rule {rule.id}: route(s) {', '.join(sorted(stray))} not covered by {self.code}")
        return self

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def rules_for(self, route: Route) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if route in r.routes)


class UnknownRuleSet(LookupError):
    pass


def parse_ruleset(text: str) -> RuleSet:
    return RuleSet.model_validate_json(text)


@functools.cache
def _catalogue() -> dict[tuple[str, str], RuleSet]:
    found: dict[tuple[str, str], RuleSet] = {}
    folder = resources.files("ketacare.screening").joinpath("rules")
    for entry in folder.iterdir():
        if not entry.name.endswith(".json"):
            continue
        ruleset = parse_ruleset(entry.read_text(encoding="utf-8"))
        if entry.name != f"{ruleset.code}-v{ruleset.version}.json":
            raise ValueError(f"{entry.name} holds {ruleset.code} version {ruleset.version}")
        found[(ruleset.code, ruleset.version)] = ruleset
    return found


def ruleset_versions(code: str) -> list[RuleSet]:
    """Every stored version of one rule set, oldest first."""
    versions = [rs for (c, _), rs in _catalogue().items() if c == code]
    if not versions:
        raise UnknownRuleSet(code)
    return sorted(versions, key=lambda r: (r.effective_from, int(r.version)))


def get_ruleset(code: str, version: str | None = None, on: datetime.date | None = None) -> RuleSet:
    """One rule set: the given version, or the newest one in effect on `on` (default: today)."""
    if version is not None:
        try:
            return _catalogue()[(code, version)]
        except KeyError:
            raise UnknownRuleSet(f"{code} version {version}") from None
    day = on or timezone.localdate()
    in_effect = [r for r in ruleset_versions(code) if r.effective_from <= day]
    if not in_effect:
        raise UnknownRuleSet(f"{code} has no version in effect on {day.isoformat()}")
    return in_effect[-1]


def list_rulesets(on: datetime.date | None = None) -> list[RuleSet]:
    """The version of each rule set in effect on `on` (default: today), by code."""
    day = on or timezone.localdate()
    result = []
    for code in sorted({c for c, _ in _catalogue()}):
        try:
            result.append(get_ruleset(code, on=day))
        except UnknownRuleSet:
            continue
    return result


def ruleset_for_route(route: Route, on: datetime.date | None = None) -> RuleSet:
    """The rule set in effect that covers `route` (exactly one must)."""
    if route not in ROUTES:
        raise UnknownRuleSet(f"no route {route!r}")
    matches = [rs for rs in list_rulesets(on) if route in rs.routes]
    if len(matches) != 1:
        raise UnknownRuleSet(f"{len(matches)} rule sets cover route {route}")
    return matches[0]
