"""Schemas of /api/v1/plans. Doses are strings (exact decimals), dates ISO."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import Field


class PlanOut(Schema):
    id: int
    patient_id: int
    route: str
    status: str
    plan_version: int
    previous_id: int | None
    protocol_version_id: int
    protocol_name: str
    weight_kg: str | None
    weighed_on: datetime.date | None
    dose_raw_mg: str
    dose_final_mg: str
    dose_selected_mg: str | None
    dose_applied: dict[str, Any]
    planned_sessions: list[datetime.date]
    first_session_on: datetime.date
    interval_days: int | None
    notes: str
    created_by: str
    created_at: datetime.datetime
    signed_by: str | None
    signed_at: datetime.datetime | None
    signature_meaning: str
    superseded_at: datetime.datetime | None


class PlanIn(Schema):
    patient_id: int
    protocol_version_id: int
    first_session_on: datetime.date
    interval_days: int | None = Field(default=None, ge=1, le=60)
    selected_mg: Decimal | None = None
    notes: str = ""


class PlanPatch(Schema):
    protocol_version_id: int | None = None
    first_session_on: datetime.date | None = None
    interval_days: int | None = Field(default=None, ge=1, le=60)
    selected_mg: Decimal | None = None
    notes: str | None = None


class SignIn(Schema):
    password: str


class WeightIn(Schema):
    patient_id: int
    weight_kg: Decimal
    measured_on: datetime.date


class WeightOut(Schema):
    id: int
    patient_id: int
    weight_kg: str
    measured_on: datetime.date
