"""Request and response bodies of /api/v1/sessions (Django Ninja schemas).

Times are ISO 8601 with their offset (a time without one is refused with 422 on that field by the
actions). Decimal amounts travel as strings so no float rounding touches a dose.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import Field


class SessionOut(Schema):
    id: int
    patient_id: int
    patient_name: str
    location_id: int
    chair_id: int | None
    chair: str | None
    plan_id: int | None
    sequence: int | None
    ordered_by: str | None
    order_reason: str
    route: str
    protocol_version_id: int
    protocol_name: str
    planned_dose_mg: str
    scheduled_at: datetime.datetime
    state: str
    state_label: str
    state_changed_at: datetime.datetime
    checked_in_at: datetime.datetime | None
    checks_started_at: datetime.datetime | None
    first_dose_at: datetime.datetime | None
    dose_ended_at: datetime.datetime | None
    ready_at: datetime.datetime | None
    discharged_at: datetime.datetime | None
    ended_early_at: datetime.datetime | None
    end_reason: str
    cancelled_at: datetime.datetime | None
    cancel_reason: str
    signed_at: datetime.datetime | None
    escort_name: str
    escort_phone: str
    escort_confirmed_at: datetime.datetime | None
    escort_present_at: datetime.datetime | None
    discharge_checklist: dict[str, Any]


class SessionDetailOut(SessionOut):
    observation_ends_at: datetime.datetime | None
    checks: list[dict[str, Any]]
    doses: list[dict[str, Any]]
    vitals: list[dict[str, Any]]
    baseline_decisions: list[dict[str, Any]]
    assessments: list[dict[str, Any]]
    side_effects: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    gates: list[dict[str, Any]]
    may_discharge: bool
    vitals_due: list[dict[str, Any]]
    signatures: list[dict[str, Any]]
    addenda: list[dict[str, Any]]
    rems_form: dict[str, Any] | None
    timeline: list[dict[str, Any]]


class BookIn(Schema):
    """Book from a signed plan (`plan_id`), or order a one-off session (`patient_id`, prescribers only)."""

    plan_id: int | None = None
    sequence: int | None = None
    patient_id: int | None = None
    protocol_version_id: int | None = None
    dose_mg: Decimal | None = None
    reason: str = ""
    scheduled_at: datetime.datetime
    location_id: int | None = None
    chair_id: int | None = None


class CheckInIn(Schema):
    chair_id: int | None = None


class ReasonIn(Schema):
    reason: str = Field("", max_length=2000)


class CheckIn(Schema):
    item: str = Field(max_length=40)
    status: str = Field(max_length=16)
    value: dict[str, Any] | None = None
    note: str = ""


class EscortIn(Schema):
    name: str = Field(max_length=200)
    phone: str = Field(max_length=40)


class VitalsIn(Schema):
    taken_at: datetime.datetime | None = None
    systolic_bp: int | None = None
    diastolic_bp: int | None = None
    heart_rate: int | None = None
    spo2: int | None = None
    respiratory_rate: int | None = None
    checkpoint: str = ""
    note: str = ""


class BaselineDecisionIn(Schema):
    decision: str
    reason: str = ""


class SignatureIn(Schema):
    """A second person's own credentials (a witness, an approving prescriber), typed on the same device."""

    email: str
    password: str


class DoseIn(Schema):
    lot_id: int
    quantity_mg: Decimal
    quantity_ml: Decimal
    container_id: int | None = None
    started_at: datetime.datetime | None = None
    rate_ml_per_hour: Decimal | None = None
    device_number: int | None = None
    deviation_reason: str = ""
    approver: SignatureIn | None = None


class StopInfusionIn(Schema):
    dose_id: int
    ended_at: datetime.datetime | None = None


class EndDosingIn(Schema):
    ended_at: datetime.datetime | None = None
    deviation_reason: str = ""
    approver: SignatureIn | None = None


class AssessmentIn(Schema):
    taken_at: datetime.datetime | None = None
    moaas: int | None = None
    dissociation: str = ""
    cadss_total: int | None = None
    note: str = ""


class SideEffectIn(Schema):
    kind: str
    severity: str
    onset_at: datetime.datetime | None = None
    action_taken: str = ""
    other: str = ""


class ResolveIn(Schema):
    resolution: str = ""


class ChecklistIn(Schema):
    item_id: str
    done: bool = True


class PasswordIn(Schema):
    password: str


class AddendumIn(Schema):
    text: str


class PmfValuesIn(Schema):
    values: dict[str, Any]


class PmfSubmissionIn(Schema):
    submitted_on: datetime.date | None = None
    method: str = ""
    confirmation_number: str = ""


class RemsDueOut(Schema):
    session_id: int
    patient_id: int
    patient_name: str
    location_id: int
    form_id: int | None
    due_date: datetime.date
    days_left: int
    overdue: bool
    escalated: bool
    frozen: bool
    status: str
