"""Dose and series rules: pure functions over a protocol version's frozen data (no ORM).

- `compute_dose`: exact Decimal arithmetic (0.5 mg/kg × 82.4 kg = 41.2 mg), then the protocol's
  rounding (step and direction), then its minimum and maximum; the result keeps the raw dose, the final
  dose and which constraints applied. A missing weight, or one older than the protocol allows, is
  refused: it must be re-measured (issue #5 item 5).
- `plan_series` / `validate_schedule`: session dates honouring count, minimum interval and window.

Every number comes from the protocol data (`library/*.json`, cited to clinical.md); a value the clinic
has not yet entered (`clinic_set`) stops the calculation with the list of what is missing.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from ketacare.protocols.definitions import DoseRule, SeriesRule

_ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}


class ProtocolRuleError(ValueError):
    """A dose or schedule the protocol does not allow; the message says why."""


class ClinicValuesMissing(ProtocolRuleError):
    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__("the clinic must set these protocol values before use: " + ", ".join(self.missing))


class WeightMissing(ProtocolRuleError):
    pass


class WeightTooOld(ProtocolRuleError):
    pass


@dataclass(frozen=True)
class DoseResult:
    basis: str
    weight_kg: Decimal | None
    weighed_on: datetime.date | None
    weight_age_days: int | None
    raw_mg: Decimal  # before rounding and limits
    rounded_mg: Decimal  # after rounding, before limits
    final_mg: Decimal
    applied: tuple[str, ...]  # each constraint that changed or fixed the dose, in order
    source: str


def compute_dose(
    dose_rule: DoseRule,
    weight_kg: Decimal | None,
    weighed_on: datetime.date | None,
    today: datetime.date,
    *,
    selected_mg: Decimal | None = None,
    session_number: int | None = None,
) -> DoseResult:
    """The dose in mg for one session under `dose_rule`.

    Weight-based: amount (mg/kg) × weight, rounded to the step in the given direction, then held within
    the minimum and maximum. Fixed: `selected_mg` (one of the allowed choices) or the rule's amount;
    session 1 takes `first_session_mg` where the rule has one (Spravato TRD day 1 = 56 mg).
    """
    missing = dose_rule.missing_clinic_values()
    if missing:
        raise ClinicValuesMissing([f"dose.{name}" for name in missing])
    if dose_rule.basis == "fixed":
        return _fixed_dose(dose_rule, selected_mg, session_number)
    if selected_mg is not None:
        raise ProtocolRuleError("a weight-based dose is computed from the weight, not selected")
    if weight_kg is None or weighed_on is None:
        raise WeightMissing("no weight with its date on record: weigh the patient before dosing")
    if not isinstance(weight_kg, Decimal):
        raise TypeError("weight_kg must be a Decimal (exact arithmetic)")
    if not weight_kg.is_finite() or weight_kg <= 0:
        raise ProtocolRuleError(f"weight {weight_kg} kg is not a valid weight")
    age = (today - weighed_on).days
    if age < 0:
        raise ProtocolRuleError(f"the weight is dated {weighed_on.isoformat()}, after {today.isoformat()}")
    assert dose_rule.max_weight_age_days is not None  # noqa: S101 - guaranteed by missing_clinic_values
    if age > dose_rule.max_weight_age_days:
        raise WeightTooOld(
            f"the weight from {weighed_on.isoformat()} is {age} days old; this protocol allows "
            f"{dose_rule.max_weight_age_days}: re-measure before dosing"
        )
    assert dose_rule.amount is not None  # noqa: S101
    raw = dose_rule.amount * weight_kg
    applied: list[str] = []
    rounded = raw
    step, direction = dose_rule.rounding_step_mg, dose_rule.rounding_direction
    if step is not None and direction is not None:
        rounded = (raw / step).quantize(Decimal(1), rounding=_ROUNDING[direction]) * step
        applied.append(f"rounded {direction} to a {step} mg step")
    final = rounded
    if dose_rule.min_mg is not None and final < dose_rule.min_mg:
        final = dose_rule.min_mg
        applied.append(f"minimum {dose_rule.min_mg} mg")
    if dose_rule.max_mg is not None and final > dose_rule.max_mg:
        final = dose_rule.max_mg
        applied.append(f"maximum {dose_rule.max_mg} mg")
    return DoseResult(
        basis=dose_rule.basis,
        weight_kg=weight_kg,
        weighed_on=weighed_on,
        weight_age_days=age,
        raw_mg=raw,
        rounded_mg=rounded,
        final_mg=final,
        applied=tuple(applied),
        source=dose_rule.source,
    )


def _fixed_dose(rule: DoseRule, selected_mg: Decimal | None, session_number: int | None) -> DoseResult:
    applied: list[str] = []
    if session_number == 1 and rule.first_session_mg is not None:
        if selected_mg is not None and selected_mg != rule.first_session_mg:
            raise ProtocolRuleError(f"session 1 takes {rule.first_session_mg} mg under this protocol")
        dose = rule.first_session_mg
        applied.append(f"first session {dose} mg")
    elif selected_mg is not None:
        dose = selected_mg
    elif rule.amount is not None:
        dose = rule.amount
    else:
        choices = " or ".join(f"{c} mg" for c in rule.choices_mg)
        raise ProtocolRuleError(f"choose the dose for this session: {choices}")
    if rule.choices_mg and dose not in rule.choices_mg:
        choices = ", ".join(f"{c} mg" for c in rule.choices_mg)
        raise ProtocolRuleError(f"{dose} mg is not an allowed dose ({choices})")
    if (rule.min_mg is not None and dose < rule.min_mg) or (rule.max_mg is not None and dose > rule.max_mg):
        raise ProtocolRuleError(f"{dose} mg is outside {rule.min_mg}–{rule.max_mg} mg")
    return DoseResult(
        basis=rule.basis,
        weight_kg=None,
        weighed_on=None,
        weight_age_days=None,
        raw_mg=dose,
        rounded_mg=dose,
        final_mg=dose,
        applied=tuple(applied),
        source=rule.source,
    )


def _require_series_values(rule: SeriesRule) -> tuple[int, int, int]:
    missing = rule.missing_clinic_values()
    if missing:
        raise ClinicValuesMissing([f"series.{name}" for name in missing])
    if rule.count is None or rule.window_days is None or rule.min_interval_hours is None:
        raise ProtocolRuleError(f"series {rule.phase} has no fixed count, window and interval to plan")
    return rule.count, rule.window_days, rule.min_interval_hours


def validate_schedule(rule: SeriesRule, sessions: Sequence[datetime.date]) -> list[str]:
    """Problems with a proposed schedule (empty when it fits count, order, minimum interval and window).

    Dates are whole days (interval = days × 24 h); datetimes give the exact hours.
    """
    count, window_days, min_hours = _require_series_values(rule)
    problems: list[str] = []
    if len(sessions) > count:
        problems.append(f"{len(sessions)} sessions planned; the series has {count}")
    timed = [isinstance(s, datetime.datetime) for s in sessions]
    if any(timed) and not all(timed):
        return [*problems, "mix of dates and date-times"]
    for n, (before, after) in enumerate(itertools.pairwise(sessions), start=2):
        hours = (after - before).total_seconds() / 3600
        if hours <= 0:
            problems.append(f"session {n} is not after session {n - 1}")
        elif hours < min_hours:
            problems.append(f"session {n} is {hours:g} h after session {n - 1}; minimum {min_hours} h")
    if sessions:
        first = sessions[0]
        first_day = first.date() if isinstance(first, datetime.datetime) else first
        for n, s in enumerate(sessions, start=1):
            day = s.date() if isinstance(s, datetime.datetime) else s
            if (day - first_day).days >= window_days:
                problems.append(f"session {n} on {day.isoformat()} is outside the {window_days}-day window")
    return problems


def plan_series(
    rule: SeriesRule, first_date: datetime.date, *, interval_days: int | None = None
) -> tuple[datetime.date, ...]:
    """Planned session dates: `count` sessions from `first_date`.

    Spacing is `interval_days` if given, else `sessions_per_week` spread over each week (twice weekly:
    days 0 and 3; thrice weekly: days 0, 2, 4). The plan is checked with `validate_schedule`; one that
    cannot satisfy the minimum interval or window is refused, never silently squeezed.
    """
    count, _, _ = _require_series_values(rule)
    if interval_days is not None:
        if interval_days < 1:
            raise ProtocolRuleError("interval_days must be at least 1")
        offsets = [i * interval_days for i in range(count)]
    elif rule.sessions_per_week is not None:
        per_week = rule.sessions_per_week
        offsets = [7 * (i // per_week) + (7 * (i % per_week)) // per_week for i in range(count)]
    else:
        raise ProtocolRuleError(f"series {rule.phase} has no weekly frequency: give interval_days")
    dates = tuple(first_date + datetime.timedelta(days=o) for o in offsets)
    problems = validate_schedule(rule, dates)
    if problems:
        raise ProtocolRuleError("; ".join(problems))
    return dates
