"""Schemas of /api/v1/protocols."""

from __future__ import annotations

import datetime
from typing import Any

from ninja import Schema
from pydantic import Field


class LibraryProtocolOut(Schema):
    code: str
    version: str
    name: str
    route: str
    effective_from: datetime.date
    missing_clinic_values: list[str]
    data: dict[str, Any]


class VersionSummaryOut(Schema):
    id: int
    version: int
    status: str
    change_note: str
    created_at: datetime.datetime
    published_at: datetime.datetime | None


class VersionOut(VersionSummaryOut):
    clinic_protocol_id: int
    code: str
    created_by: str
    published_by: str | None
    missing_clinic_values: list[str]
    data: dict[str, Any]


class ClinicProtocolOut(Schema):
    id: int
    code: str
    name: str
    route: str
    based_on_code: str
    based_on_version: str
    published_version_id: int | None
    versions: list[VersionSummaryOut]


class AdoptIn(Schema):
    code: str = Field(examples=["iv_racemic_ketamine"])
    version: str = Field(examples=["1"])
    new_code: str = ""
    name: str = ""


class EditIn(Schema):
    changes: dict[str, Any] = Field(examples=[{"dose.max_mg": "60", "dose.rounding_direction": "down"}])
    change_note: str = Field(examples=["Medical director memo 2026-11: maximum 60 mg"])
