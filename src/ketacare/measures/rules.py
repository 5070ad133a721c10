"""Exact scoring of rating instruments: pure functions over plain values (no ORM).

The instrument definitions (`instruments/*.json`, typed in `definitions.py`) carry every number;
this module holds the only fixed code, the scoring algorithms, each as published
(../shared/reference/clinical.md section 3):

- sum of components: a component is the sum or the maximum of its items (PHQ-9, GAD-7, MADRS and
  CADSS are one summed component; QIDS-SR16 has 9 domains, 3 of them maxima; PCL-5 4 clusters);
- severity band of the total, where the instrument has bands (PCL-5 and CADSS have none);
- PCL-5 provisional PTSD by the cut-off range and, beside it, by the DSM-5 rule;
- C-SSRS screener: a risk level from a configurable rule table, with skip logic.

A required item that was asked but not answered makes the score invalid: no total, no band, no
subscales, no proration. Safety items are judged on whatever was answered, valid or not, because a
partly answered form that endorses suicidal thoughts must still raise its alert.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from django.core.exceptions import ValidationError

from ketacare.measures.definitions import Band, Instrument, Item, OutcomeDefinition, RiskMapping

CutoffResult = Literal["below", "within_range", "above"]


class AnswerError(ValidationError):
    """Answers the instrument cannot take. `item_errors` maps each offending item id to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.item_errors = dict(errors)
        super().__init__({item_id: [message] for item_id, message in self.item_errors.items()})


@dataclass(frozen=True)
class SafetyFlag:
    """One reason this response must raise a safety alert, with its rule and source."""

    item: str | None  # the item answered (None for a C-SSRS risk level)
    value: int | None
    level: str | None  # C-SSRS risk level that triggered, else None
    rule: str
    source: str


@dataclass(frozen=True)
class ProvisionalDiagnosis:
    """PCL-5: provisional PTSD by the cut-off score and by the DSM-5 rule, reported side by side."""

    cutoff: CutoffResult
    cutoff_low: int
    cutoff_high: int
    dsm5_rule_met: bool
    endorsed: dict[str, int]  # cluster -> items rated at or above the endorsement value


@dataclass(frozen=True)
class Score:
    instrument: str
    version: str
    valid: bool
    total: int | None
    severity: Band | None
    subscales: dict[str, int] = field(default_factory=dict)
    risk_level: str | None = None
    provisional: ProvisionalDiagnosis | None = None
    missing: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    safety: tuple[SafetyFlag, ...] = ()

    @property
    def endorsed_safety_items(self) -> tuple[str, ...]:
        return tuple(f.item for f in self.safety if f.item is not None)

    @property
    def needs_alert(self) -> bool:
        return bool(self.safety)


def _option_list(item: Item) -> str:
    return ", ".join(str(v) for v in item.values)


def _check_answers(instrument: Instrument, answers: Mapping[str, int]) -> None:
    errors: dict[str, str] = {}
    known = {it.id: it for it in instrument.items}
    for item_id, value in answers.items():
        item = known.get(item_id)
        if item is None:
            errors[str(item_id)] = f"Item {item_id} is not an item of {instrument.abbreviation}."
        elif isinstance(value, bool) or not isinstance(value, int):
            errors[item_id] = f"Item {item_id}: the answer must be a whole number ({_option_list(item)})."
        elif value not in item.values:
            errors[item_id] = f"Item {item_id}: {value} is not an answer option ({_option_list(item)})."
    for item in instrument.items:
        if item.id in answers and item.id not in errors and item.ask_if is not None:
            controller = answers.get(item.ask_if.item)
            if controller is not None and controller != item.ask_if.equals:
                errors[item.id] = (
                    f"Item {item.id} is asked only when item {item.ask_if.item} is {item.ask_if.equals}; "
                    f"item {item.ask_if.item} was answered {controller}."
                )
    if errors:
        raise AnswerError(errors)


def is_asked(item: Item, answers: Mapping[str, int]) -> bool:
    """Whether the skip logic asks `item`, given the answers so far (the one rule every form uses)."""
    return item.ask_if is None or answers.get(item.ask_if.item) == item.ask_if.equals


def _asked(instrument: Instrument, answers: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """Missing (asked, required, unanswered) and skipped (not asked by the skip logic) item ids.

    An item whose controlling item is itself unanswered is neither: the controller is the missing one.
    """
    missing: list[str] = []
    skipped: list[str] = []
    for item in instrument.items:
        if item.ask_if is not None:
            controller = answers.get(item.ask_if.item)
            if controller is None:
                continue
            if controller != item.ask_if.equals:
                skipped.append(item.id)
                continue
        if item.required and item.id not in answers:
            missing.append(item.id)
    return missing, skipped


def risk_level(mapping: RiskMapping, answers: Mapping[str, int]) -> str:
    """The highest level whose rule holds on the answers given (the mapping's default if none holds)."""
    level = mapping.default_level
    for rule in mapping.rules:
        holds = any(all(answers.get(i) == v for i, v in cond.items()) for cond in rule.when_any)
        if holds and mapping.rank(rule.level) > mapping.rank(level):
            level = rule.level
    return level


def _completions(instrument: Instrument, answers: Mapping[str, int]) -> list[dict[str, int]]:
    """Every way the unanswered items could still be answered, following the skip logic."""
    results: list[dict[str, int]] = [dict(answers)]
    for item in instrument.items:
        if item.id in answers:
            continue
        grown: list[dict[str, int]] = []
        for partial in results:
            if item.ask_if is not None and partial.get(item.ask_if.item) != item.ask_if.equals:
                grown.append(partial)
                continue
            grown.extend({**partial, item.id: v} for v in item.values)
        results = grown
    return results


def risk_floor(instrument: Instrument, mapping: RiskMapping, answers: Mapping[str, int]) -> str:
    """The risk level the answers given already establish, whatever the unanswered items turn out to be.

    For a complete response this is `risk_level`. For an incomplete one it is the lowest level over
    every possible completion: C-SSRS Q6 "yes" with the recency question unanswered is at least
    moderate, so the safety alert is raised even though the response is invalid.
    """
    return min((risk_level(mapping, c) for c in _completions(instrument, answers)), key=mapping.rank)


def _safety_flags(
    instrument: Instrument,
    answers: Mapping[str, int],
    thresholds: Mapping[str, int],
    risk: RiskMapping | None,
) -> list[SafetyFlag]:
    flags: list[SafetyFlag] = []
    for safety in instrument.safety_items:
        value = answers.get(safety.item)
        if value is None:
            continue
        at_least = thresholds.get(safety.item, safety.at_least)
        if at_least is None:
            # Clinic value not set: the most sensitive reading, any non-zero option.
            at_least = min(v for v in instrument.item(safety.item).values if v > 0)
            rule = f"item {safety.item} ≥ {at_least} (any non-zero rating; the clinic has not set a value)"
        else:
            rule = f"item {safety.item} ≥ {at_least}"
        if value >= at_least:
            flags.append(SafetyFlag(item=safety.item, value=value, level=None, rule=rule, source=safety.source))
    if risk is not None:
        level = risk_floor(instrument, risk, answers)
        if level in risk.alert_levels:
            flags.append(
                SafetyFlag(
                    item=None,
                    value=None,
                    level=level,
                    rule=f"risk level {level} (alert levels: {', '.join(risk.alert_levels)})",
                    source=risk.source,
                )
            )
    return flags


def _provisional(instrument: Instrument, answers: Mapping[str, int], total: int) -> ProvisionalDiagnosis | None:
    s = instrument.scoring
    if s.cutoff is None or s.dsm5_rule is None:
        return None
    rule = s.dsm5_rule
    endorsed = {
        comp.id: sum(1 for i in comp.items if answers[i] >= rule.endorsed_at_least)
        for comp in s.components
        if comp.id in rule.minimum_endorsed
    }
    met = all(endorsed[c] >= need for c, need in rule.minimum_endorsed.items())
    if total < s.cutoff.low:
        cutoff: CutoffResult = "below"
    elif total <= s.cutoff.high:
        cutoff = "within_range"
    else:
        cutoff = "above"
    return ProvisionalDiagnosis(
        cutoff=cutoff, cutoff_low=s.cutoff.low, cutoff_high=s.cutoff.high, dsm5_rule_met=met, endorsed=endorsed
    )


def _check_thresholds(instrument: Instrument, thresholds: Mapping[str, int]) -> None:
    """A clinic may set only configurable safety items, and only to a value the item can take (never 0)."""
    for item_id, value in thresholds.items():
        if not any(s.item == item_id and s.clinic_configurable for s in instrument.safety_items):
            raise ValueError(f"{instrument.code} item {item_id} has no clinic-configurable safety threshold")
        if value not in instrument.item(item_id).values or value <= 0:
            raise ValueError(f"{instrument.code} item {item_id}: threshold {value} is not a non-zero answer option")


def _check_mapping(instrument: Instrument, mapping: RiskMapping) -> None:
    """A clinic's risk table must fit the instrument: a risk-level instrument, its items, their options."""
    if instrument.scoring.method != "risk_level":
        raise ValueError(f"{instrument.code} is not scored by a risk level")
    for rule in mapping.rules:
        for cond in rule.when_any:
            for item_id, value in cond.items():
                if item_id not in {it.id for it in instrument.items} or value not in instrument.item(item_id).values:
                    raise ValueError(f"risk rule for {rule.level}: item {item_id} = {value} is not an answer")


def score(
    instrument: Instrument,
    answers: Mapping[str, int],
    *,
    safety_thresholds: Mapping[str, int] | None = None,
    risk_mapping: RiskMapping | None = None,
) -> Score:
    """Score one response exactly as published.

    `safety_thresholds` gives the clinic's value for clinic-configurable safety items (MADRS item 10);
    `risk_mapping` replaces the C-SSRS triage table with a clinic's own. Raises `AnswerError` naming
    each item whose answer is unknown, out of its options, or given although the skip logic skips it.
    """
    _check_answers(instrument, answers)
    thresholds = dict(safety_thresholds or {})
    _check_thresholds(instrument, thresholds)
    if risk_mapping is not None:
        _check_mapping(instrument, risk_mapping)
    risk = risk_mapping if risk_mapping is not None else instrument.scoring.risk
    missing, skipped = _asked(instrument, answers)
    flags = tuple(_safety_flags(instrument, answers, thresholds, risk))
    invalid = Score(
        instrument.code,
        instrument.version,
        valid=False,
        total=None,
        severity=None,
        missing=tuple(missing),
        skipped=tuple(skipped),
        safety=flags,
    )
    if missing:
        return invalid
    if instrument.scoring.method == "risk_level":
        if risk is None:  # pragma: no cover - the definition's validation guarantees a mapping
            raise ValueError(f"{instrument.code} has no risk mapping")
        return dataclasses.replace(invalid, valid=True, risk_level=risk_level(risk, answers))
    parts: dict[str, int] = {}
    for comp in instrument.scoring.components:
        values = [answers[i] for i in comp.items]
        parts[comp.id] = sum(values) if comp.combine == "sum" else max(values)
    total = sum(parts.values())
    return dataclasses.replace(
        invalid,
        valid=True,
        total=total,
        severity=next((b for b in instrument.scoring.bands if b.min <= total <= b.max), None),
        subscales={c.id: parts[c.id] for c in instrument.scoring.components if c.subscale},
        provisional=_provisional(instrument, answers, total),
    )


def _require(definition: OutcomeDefinition, kind: str) -> None:
    if definition.kind != kind:
        raise ValueError(f"{definition.id} is a {definition.kind} definition, not {kind}")


def is_response(baseline: int, current: int, definition: OutcomeDefinition) -> bool:
    """Response: at least `value` % reduction from baseline (clinical.md 3.11). A baseline of 0 cannot respond."""
    _require(definition, "response")
    if baseline <= 0:
        return False
    # Integer arithmetic: (baseline - current) / baseline >= value / 100, without rounding.
    return (baseline - current) * 100 >= definition.value * baseline


def is_remission(current: int, definition: OutcomeDefinition) -> bool:
    """Remission: total below (PHQ-9 < 5) or at most (MADRS <= 12 or <= 10, QIDS <= 5) the stored value."""
    _require(definition, "remission")
    if definition.rule == "total_below":
        return current < definition.value
    return current <= definition.value


def is_dissociation(baseline: int, current: int, definition: OutcomeDefinition) -> bool:
    """CADSS, Spravato trials: total above `value` and an increase from pre-dose above `increase_above`."""
    _require(definition, "dissociation")
    if definition.increase_above is None:  # pragma: no cover - the definition's validation guarantees it
        raise ValueError(f"{definition.id} has no increase threshold")
    return current > definition.value and current - baseline > definition.increase_above
