"""API shapes of /api/v1/intakes. The intake's answers are `intake_data.IntakeData` itself, so the API,
the patient page and the staff form accept and refuse the same values."""

from __future__ import annotations

import datetime
from decimal import Decimal

from ninja import Schema
from pydantic import ConfigDict, Field

from ketacare.screening.intake_data import FactValue, IntakeData, TrialData


class IntakeCreateIn(Schema):
    patient_id: int
    data: IntakeData = Field(default_factory=IntakeData)


class IntakePatch(Schema):
    """Only the fields sent change. `facts` merge into the stored facts (send null to make one
    unknown); `trials`, when sent, replace the list."""

    model_config = ConfigDict(extra="forbid")

    reason_for_referral: str | None = None
    diagnoses: str | None = None
    referring_clinician: str | None = None
    psychiatric_history: str | None = None
    medical_history: str | None = None
    current_medications: str | None = None
    allergies: str | None = None
    substance_use: str | None = None
    facts: dict[str, FactValue] | None = None
    height_cm: Decimal | None = None
    weight_kg: Decimal | None = None
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    measured_on: datetime.date | None = None
    trials: list[TrialData] | None = None


class TrialVerdictOut(Schema):
    drug: str
    verdict: str
    why: list[str]


class TrialCountOut(Schema):
    count: int
    undetermined: int
    threshold: int
    treatment_resistant: bool | None
    trials: list[TrialVerdictOut]


class IntakeSummaryOut(Schema):
    """What the front desk may see: status and dates, no answers."""

    id: int
    patient_id: int
    status: str
    version: int
    created_at: datetime.datetime
    submitted_via: str
    submitted_at: datetime.datetime | None
    reviewed_at: datetime.datetime | None


class IntakeOut(IntakeSummaryOut):
    reviewed_by: str
    data: IntakeData
    trial_count: TrialCountOut
    missing_for_review: list[str]


class LinkOut(Schema):
    intake_id: int
    link_id: int
    expires_at: datetime.datetime
    emailed: bool
    url: str | None = Field(description="The link, returned once; null when an Idempotency-Key replays the request.")
