"""Request and response bodies of /api/v1/scheduling (Django Ninja schemas).

Times are ISO 8601 with their offset: a time without one is refused with 422 on that field. Ids name
the clinic's own objects (`type`, `location`, `chair`, `nurse`, `clinician`: 422 on that field when
unknown; `patient`, `plan`, an appointment or a series of another clinic: 404).
"""

from __future__ import annotations

import datetime

from ninja import Schema
from pydantic import Field


class AppointmentTypeOut(Schema):
    id: int
    code: str
    name: str
    category: str
    duration_minutes: int
    buffer_minutes: int | None
    space: str
    needs_nurse: bool
    clinician_role: str
    needs_prescriber_on_site: bool
    is_dosing: bool


class ProposalOut(Schema):
    """One visit the finder proposes: it holds the chair or room and staff to `held_until`."""

    starts_at: datetime.datetime
    ends_at: datetime.datetime
    held_until: datetime.datetime
    chair_id: int | None
    chair: str | None
    nurse_id: int | None
    clinician_id: int | None
    prescriber_on_site_id: int | None


class AppointmentOut(Schema):
    id: int
    patient_id: int
    patient_name: str
    location_id: int
    location: str
    type_id: int
    type: str
    type_name: str
    series_id: int | None
    sequence: int | None
    plan_id: int | None
    session_id: int | None
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    held_until: datetime.datetime
    chair_id: int | None
    chair: str | None
    nurse_id: int | None
    nurse: str | None
    clinician_id: int | None
    clinician: str | None
    state: str
    status: str
    confirmed: bool
    notes: str
    escort_name: str
    escort_phone: str
    escort_confirmed_at: datetime.datetime | None
    checked_in_at: datetime.datetime | None
    cancelled_at: datetime.datetime | None
    cancel_reason: str
    cancelled_by_patient: bool
    late_cancel: bool
    no_show_at: datetime.datetime | None
    rescheduled_from: datetime.datetime | None


class SeriesOut(Schema):
    id: int
    patient_id: int
    plan_id: int | None
    type_id: int
    location_id: int
    count: int
    min_interval_hours: int | None
    window_days: int | None
    created_at: datetime.datetime
    appointments: list[AppointmentOut]


class BookIn(Schema):
    """One visit at exactly `starts_at` (a dosing visit names the patient's signed `plan`)."""

    patient: int
    type: int
    location: int
    starts_at: datetime.datetime
    plan: int | None = None
    chair: int | None = None
    nurse: int | None = None
    clinician: int | None = None
    notes: str = Field("", max_length=500)


class SeriesIn(Schema):
    """The plan's next `len(starts)` visits, all or nothing; with `chairs` (one per visit, null for
    any), each visit in the chair or room proposed for it by GET /series-slots."""

    plan: int
    type: int
    location: int
    starts: list[datetime.datetime] = Field(..., min_length=1, max_length=60)
    chairs: list[int | None] | None = None
    notes: str = Field("", max_length=500)


class RescheduleIn(Schema):
    starts_at: datetime.datetime
    chair: int | None = None
    nurse: int | None = None
    clinician: int | None = None


class CancelIn(Schema):
    reason: str = Field(..., max_length=500)
    by_patient: bool = False


class EscortIn(Schema):
    name: str = Field(..., max_length=200)
    phone: str = Field(..., max_length=40)
