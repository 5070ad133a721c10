"""Discharge gates: may this patient leave now? Pure rules, enforced by the session pages and API.

Sources (../shared/reference/clinical.md):
- §1.3, §1.5, §2.6 and §0: Spravato — monitor **at least two hours from the first device** and until
  sedation, dissociation and respiratory depression resolve, then an HCP stability assessment
  [LABEL-120TY, REMS-FDA] (P). The 120 minutes is a REMS floor: a protocol may ask for more, never less.
- §2.6: IV/IM/oral ketamine have no authoritative discharge time [NF]: the protocol's clinic-set
  `observation.minimum_minutes`, counted from the end of dosing. Unset → the gate refuses.
- §2.6 [RCEM-DC]: the protocol's discharge checklist (every item must be ticked) and vital signs back
  to baseline; escort name/phone confirmed and present where the protocol requires one.
- §2.5: alert thresholds are clinic parameters; a threshold whose value the clinic has not entered
  is reported as "not set by the clinic" and blocks discharge — never silently passed.

Each `Gate` says in a nurse's words what is met or missing ("Observation: 119 of 120 minutes — 1
minute left"). `may_discharge(gates)` is True only when every gate is met.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Collection, Mapping
from decimal import Decimal

from ketacare.protocols.definitions import AlertThreshold, Protocol, Route

SPRAVATO_ROUTE: Route = "intranasal"
SPRAVATO_MINIMUM_MINUTES = 120  # clinical.md §0, §1.3, §1.5 [LABEL-120TY, REMS-FDA]: ≥ 2 h from the first device

MEASURE_LABELS: Mapping[str, str] = {
    "systolic_bp": "Systolic BP",
    "diastolic_bp": "Diastolic BP",
    "heart_rate": "Heart rate",
    "spo2": "SpO2",
    "respiratory_status": "Respiratory status",
    "mental_status": "Mental status",
}

VitalValue = Decimal | int | float


@dataclasses.dataclass(frozen=True)
class Gate:
    """One discharge condition: `id` is stable (for forms and the API), `reason` is for the nurse."""

    id: str
    met: bool
    reason: str


def _require_aware(name: str, value: datetime.datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be an aware datetime")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def observation_rule(route: Route, protocol: Protocol) -> tuple[str, int | None]:
    """(anchor, minimum minutes): Spravato counts from the first device, other routes from the end of dosing.

    The minimum is None when the clinic has not entered the protocol's observation time.
    """
    if route != protocol.route:
        raise ValueError(f"route {route} does not match protocol {protocol.code} ({protocol.route})")
    minimum = protocol.observation.minimum_minutes
    if route == SPRAVATO_ROUTE:
        return "first_dose", max(SPRAVATO_MINIMUM_MINUTES, minimum or 0)
    return "dose_ended", minimum


def observation_ends_at(
    *,
    route: Route,
    protocol: Protocol,
    first_dose_at: datetime.datetime | None,
    dose_ended_at: datetime.datetime | None,
) -> datetime.datetime | None:
    """When the minimum observation time is over (None while its anchor or the minimum is unknown)."""
    _require_aware("first_dose_at", first_dose_at)
    _require_aware("dose_ended_at", dose_ended_at)
    anchor_name, minimum = observation_rule(route, protocol)
    anchor = first_dose_at if anchor_name == "first_dose" else dose_ended_at
    if anchor is None or minimum is None:
        return None
    return anchor + datetime.timedelta(minutes=minimum)


def _observation_gate(
    route: Route,
    protocol: Protocol,
    first_dose_at: datetime.datetime | None,
    dose_ended_at: datetime.datetime | None,
    now: datetime.datetime,
) -> Gate:
    anchor_name, minimum = observation_rule(route, protocol)
    if minimum is None:  # only a clinic-set route; Spravato always has its REMS floor
        return Gate(
            "observation",
            False,
            "Observation: the minimum observation time is not set by the clinic for this protocol",
        )
    if anchor_name == "first_dose":
        anchor, since = first_dose_at, "from the first device"
        missing = "Observation: the first device's time is not recorded"
    else:
        anchor, since = dose_ended_at, "from the end of dosing"
        missing = "Observation: the end of dosing is not recorded"
    if anchor is None:
        return Gate("observation", False, missing)
    elapsed = max(now - anchor, datetime.timedelta(0))
    required = datetime.timedelta(minutes=minimum)
    done = int(elapsed.total_seconds() // 60)
    if elapsed >= required:
        return Gate("observation", True, f"Observation: {done} of {minimum} minutes {since} — met")
    left = math.ceil((required - elapsed).total_seconds() / 60)
    return Gate(
        "observation",
        False,
        f"Observation: {done} of {minimum} minutes {since} — {_plural(left, 'minute')} left",
    )


def _threshold_gate(threshold: AlertThreshold, latest_vitals: Mapping[str, VitalValue] | None) -> Gate:
    gate_id = f"vitals.{threshold.id}"
    label = MEASURE_LABELS.get(threshold.measure, threshold.measure)
    limit_text = f"alert {threshold.comparison} {threshold.value} {threshold.unit}"
    if threshold.value is None:
        return Gate(gate_id, False, f"{label}: the discharge limit is not set by the clinic for this protocol")
    raw = None if latest_vitals is None else latest_vitals.get(threshold.measure)
    if raw is None:
        return Gate(gate_id, False, f"{label}: no value recorded ({limit_text})")
    value = Decimal(str(raw))
    limit = Decimal(threshold.value)
    within = value <= limit if threshold.comparison == "above" else value >= limit
    shown = f"{label} {value.normalize():f} {threshold.unit}"
    if within:
        return Gate(gate_id, True, f"{shown} — within the limit ({limit_text})")
    return Gate(gate_id, False, f"{shown} — outside the limit ({limit_text}); recheck before discharge")


def discharge_gates(
    *,
    route: Route,
    protocol: Protocol,
    first_dose_at: datetime.datetime | None,
    dose_ended_at: datetime.datetime | None,
    now: datetime.datetime,
    checklist_done: Collection[str],
    latest_vitals: Mapping[str, VitalValue] | None,
    escort_present: bool,
) -> list[Gate]:
    """Every gate for discharging now: observation, each checklist item, each vital limit, escort.

    `first_dose_at` is the first Spravato device (or the start of dosing); `dose_ended_at` the end of
    the infusion/injection/last device. `checklist_done` holds the protocol's checklist item ids;
    an id the protocol does not have is a programming error (ValueError). `latest_vitals` maps a
    measure (`systolic_bp`, `spo2`, ...) to its latest value; None when nothing was recorded.
    Only thresholds that apply at any time (`applies_at == "any"`) are discharge limits; the
    pre-dose ones (Spravato baseline > 140/90) are a pre-dosing decision, not a discharge rule.
    """
    for name, value in (("first_dose_at", first_dose_at), ("dose_ended_at", dose_ended_at), ("now", now)):
        _require_aware(name, value)
    known = {item.id for item in protocol.discharge_checklist}
    unknown = sorted(set(checklist_done) - known)
    if unknown:
        raise ValueError(f"checklist items not in protocol {protocol.code}: {', '.join(unknown)}")

    gates = [_observation_gate(route, protocol, first_dose_at, dose_ended_at, now)]
    for item in protocol.discharge_checklist:
        done = item.id in checklist_done
        gates.append(Gate(f"checklist.{item.id}", done, f"{item.text} — {'done' if done else 'not yet ticked'}"))

    thresholds = [t for t in protocol.alert_thresholds if t.applies_at == "any"]
    if not latest_vitals:
        gates.append(Gate("vitals", False, "Vital signs: none recorded before discharge"))
    for threshold in thresholds:
        gates.append(_threshold_gate(threshold, latest_vitals))

    required = protocol.escort.required
    if required is None:
        gates.append(
            Gate("escort", False, "Escort: whether one is required is not set by the clinic for this protocol")
        )
    elif required:
        gates.append(Gate("escort", escort_present, "Escort: present" if escort_present else "Escort: not present yet"))
    else:
        gates.append(Gate("escort", True, "Escort: not required by this protocol"))
    return gates


def may_discharge(gates: Collection[Gate]) -> bool:
    """True only when there are gates and every one is met."""
    return bool(gates) and all(gate.met for gate in gates)


def unmet(gates: Collection[Gate]) -> list[Gate]:
    """The gates still blocking discharge, in order (for the refusal message)."""
    return [gate for gate in gates if not gate.met]
