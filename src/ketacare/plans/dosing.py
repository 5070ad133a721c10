"""A plan's numbers from a protocol version: the dose (with its working in words) and the session dates.

Pure: no ORM. `protocols.rules` does the arithmetic; this module turns its refusals into field errors
(`weight`, `selected_mg`, `first_session_on`, `interval_days`, `protocol_version`) and writes the
working a prescriber checks ("0.5 mg/kg × 82.4 kg = 41.2 mg → rounded down to 40 mg (step 5 mg)").
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from ketacare.protocols import rules
from ketacare.protocols.definitions import DoseRule, Protocol

ROUTE_OF_PROTOCOL = {
    "intravenous": "iv",
    "intramuscular": "im",
    "intranasal": "intranasal_esketamine",
    "oral_or_sublingual": "oral",
}


def mg(value: Decimal) -> str:
    """A dose without trailing zeros: 41.2, 40, 0.5."""
    text = format(value.normalize(), "f")
    return text


@dataclass(frozen=True)
class PlanComputation:
    raw_mg: Decimal
    final_mg: Decimal
    selected_mg: Decimal | None
    applied: tuple[str, ...]
    working: str
    doses_by_session: tuple[Decimal, ...]
    sessions: tuple[datetime.date, ...]

    def dose_applied(self) -> dict[str, Any]:
        return {
            "applied": list(self.applied),
            "working": self.working,
            "doses_by_session": [str(d) for d in self.doses_by_session],
        }


def working_text(rule: DoseRule, result: rules.DoseResult) -> str:
    """The arithmetic in words, step by step."""
    if result.basis == "fixed":
        return f"fixed dose {mg(result.final_mg)} mg" + (f" ({', '.join(result.applied)})" if result.applied else "")
    assert result.weight_kg is not None  # noqa: S101 - a weight-based result has its weight
    assert rule.amount is not None  # noqa: S101
    parts = [f"{mg(rule.amount)} mg/kg × {mg(result.weight_kg)} kg = {mg(result.raw_mg)} mg"]
    if rule.rounding_step_mg is not None and rule.rounding_direction is not None:
        parts.append(
            f"rounded {rule.rounding_direction} to {mg(result.rounded_mg)} mg (step {mg(rule.rounding_step_mg)} mg)"
        )
    limit = ""
    if rule.min_mg is not None and result.rounded_mg < rule.min_mg:
        limit = f"raised to the minimum {mg(rule.min_mg)} mg"
    elif rule.max_mg is not None and result.rounded_mg > rule.max_mg:
        limit = f"held at the maximum {mg(rule.max_mg)} mg"
    else:
        bounds = []
        if rule.min_mg is not None:
            bounds.append(f"min {mg(rule.min_mg)} mg")
        if rule.max_mg is not None:
            bounds.append(f"max {mg(rule.max_mg)} mg")
        if bounds:
            limit = "within " + ", ".join(bounds)
    if limit:
        parts.append(limit)
    return " → ".join(parts) + f" = {mg(result.final_mg)} mg"


def compute_plan(
    protocol: Protocol,
    *,
    weight_kg: Decimal | None,
    weighed_on: datetime.date | None,
    today: datetime.date,
    first_session_on: datetime.date,
    interval_days: int | None = None,
    selected_mg: Decimal | None = None,
) -> PlanComputation:
    """Dose and series under `protocol`, or ValidationError naming the field to correct."""
    missing = protocol.missing_clinic_values()
    if missing:
        raise ValidationError(
            {"protocol_version": f"The clinic must set these protocol values first: {', '.join(missing)}."}
        )
    rule = protocol.dose
    errors: dict[str, str] = {}
    doses: list[Decimal] = []
    result: rules.DoseResult | None = None
    try:
        if rule.basis == "weight_based":
            result = rules.compute_dose(rule, weight_kg, weighed_on, today)
        else:
            result = rules.compute_dose(rule, None, None, today, selected_mg=selected_mg, session_number=2)
    except (rules.WeightMissing, rules.WeightTooOld) as exc:
        errors["weight"] = str(exc)
    except rules.ClinicValuesMissing as exc:
        errors["protocol_version"] = str(exc)
    except rules.ProtocolRuleError as exc:
        errors["selected_mg"] = str(exc)
    sessions: tuple[datetime.date, ...] = ()
    if first_session_on < today:
        errors["first_session_on"] = f"The first session cannot be before today ({today.isoformat()})."
    try:
        sessions = rules.plan_series(protocol.series, first_session_on, interval_days=interval_days)
    except rules.ClinicValuesMissing as exc:
        errors["protocol_version"] = str(exc)
    except rules.ProtocolRuleError as exc:
        errors["interval_days"] = str(exc)
    if errors or result is None:
        raise ValidationError(errors)
    for number in range(1, len(sessions) + 1):
        if rule.basis == "fixed":
            doses.append(
                rules.compute_dose(rule, None, None, today, selected_mg=selected_mg, session_number=number).final_mg
                if number > 1 or rule.first_session_mg is None
                else rule.first_session_mg
            )
        else:
            doses.append(result.final_mg)
    working = working_text(rule, result)
    if rule.basis == "fixed" and rule.first_session_mg is not None:
        working = f"session 1: {mg(rule.first_session_mg)} mg (the protocol's first dose); then {working}"
    return PlanComputation(
        raw_mg=result.raw_mg,
        final_mg=result.final_mg,
        selected_mg=selected_mg if rule.basis == "fixed" else None,
        applied=result.applied,
        working=working,
        doses_by_session=tuple(doses),
        sessions=sessions,
    )
