from __future__ import annotations

import datetime

from ninja import Schema
from pydantic import Field


class OptionOut(Schema):
    value: int
    label: str


class ItemOut(Schema):
    id: str
    text: str
    options: list[OptionOut]
    required: bool
    scored: bool
    ask_if: dict[str, str | int] | None = None


class InstrumentOut(Schema):
    code: str
    version: str
    name: str
    abbreviation: str
    rater: str
    recall_period: str
    loinc_panel: str | None
    citation: str
    items: list[ItemOut]


class ResponseIn(Schema):
    instrument: str = Field(examples=["phq9"])
    answers: dict[str, int] = Field(examples=[{"1": 2, "2": 1, "3": 0, "4": 1, "5": 0, "6": 0, "7": 1, "8": 0, "9": 0}])
    completed_at: datetime.datetime | None = None


class ResponseOut(Schema):
    id: int
    instrument: str
    version: str
    valid: bool
    total: int | None
    severity: str
    severity_label: str
    subscales: dict[str, int]
    risk_level: str
    answers: dict[str, int]
    source: str
    completed_at: datetime.datetime
    alerts: list[int]


class AlertOut(Schema):
    id: int
    patient_id: int
    response_id: int
    status: str
    reasons: list[dict[str, object]]
    raised_at: datetime.datetime
    ack_due_at: datetime.datetime
    escalation_level: int
    acknowledged_at: datetime.datetime | None
    acknowledged_by_id: int | None
    closed_at: datetime.datetime | None
    closed_by_id: int | None
    action_taken: str
    action_at: datetime.datetime | None


class AlertCloseIn(Schema):
    action_taken: str = Field(min_length=1, max_length=4000)
    action_at: datetime.datetime
