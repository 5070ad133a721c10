from __future__ import annotations

import datetime

from ninja import Schema
from pydantic import EmailStr, Field

from ketacare.patients.models import ContactRole, PatientStatus, SexAtBirth


class ContactIn(Schema):
    role: ContactRole
    name: str = Field(max_length=200, min_length=1)
    relationship: str = Field("", max_length=100)
    phone: str = Field(max_length=40, min_length=1)
    email: EmailStr | None = None
    notes: str = Field("", max_length=300)


class ContactOut(Schema):
    id: int
    role: str
    name: str
    relationship: str
    phone: str
    email: str
    notes: str


class PatientFields(Schema):
    legal_first_name: str = Field(max_length=100)
    legal_middle_name: str = Field("", max_length=100)
    legal_last_name: str = Field(max_length=100)
    preferred_name: str = Field("", max_length=100)
    date_of_birth: datetime.date
    sex_at_birth: SexAtBirth
    gender_identity: str = Field("", max_length=100)
    pronouns: str = Field("", max_length=40)
    mrn: str = Field("", max_length=30, description="Leave out to assign the clinic's next MRN.")
    phone_mobile: str = Field("", max_length=40)
    phone_home: str = Field("", max_length=40)
    email: EmailStr | None = None
    address_line1: str = Field("", max_length=200)
    address_line2: str = Field("", max_length=200)
    city: str = Field("", max_length=100)
    state: str = Field("", max_length=100)
    postal_code: str = Field("", max_length=20)
    primary_clinician_id: int | None = None
    status: PatientStatus = PatientStatus.ACTIVE


class PatientIn(PatientFields):
    contacts: list[ContactIn] = Field(default_factory=list, max_length=10)
    confirm_not_duplicate: bool = Field(
        False, description="Set after a 409 when the patient really is a different person."
    )


class PatientPatch(Schema):
    """Any subset of the patient's fields; `contacts`, when given, replaces the whole list."""

    legal_first_name: str | None = Field(None, max_length=100)
    legal_middle_name: str | None = Field(None, max_length=100)
    legal_last_name: str | None = Field(None, max_length=100)
    preferred_name: str | None = Field(None, max_length=100)
    date_of_birth: datetime.date | None = None
    sex_at_birth: SexAtBirth | None = None
    gender_identity: str | None = Field(None, max_length=100)
    pronouns: str | None = Field(None, max_length=40)
    mrn: str | None = Field(None, max_length=30)
    phone_mobile: str | None = Field(None, max_length=40)
    phone_home: str | None = Field(None, max_length=40)
    email: EmailStr | None = None
    address_line1: str | None = Field(None, max_length=200)
    address_line2: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    state: str | None = Field(None, max_length=100)
    postal_code: str | None = Field(None, max_length=20)
    primary_clinician_id: int | None = None
    status: PatientStatus | None = None
    contacts: list[ContactIn] | None = Field(None, max_length=10)


class PatientOut(Schema):
    id: int
    mrn: str
    legal_first_name: str
    legal_middle_name: str
    legal_last_name: str
    preferred_name: str
    date_of_birth: datetime.date
    sex_at_birth: str
    gender_identity: str
    pronouns: str
    phone_mobile: str
    phone_home: str
    email: str
    address_line1: str
    address_line2: str
    city: str
    state: str
    postal_code: str
    primary_clinician_id: int | None
    status: str
    created_at: datetime.datetime
    updated_at: datetime.datetime


class PatientDetailOut(PatientOut):
    contacts: list[ContactOut]


class PatientSummaryOut(Schema):
    id: int
    mrn: str
    legal_first_name: str
    legal_last_name: str
    preferred_name: str
    date_of_birth: datetime.date
    status: str


class PatientPageOut(Schema):
    count: int
    page: int
    pages: int
    results: list[PatientSummaryOut]


class DuplicateOut(Schema):
    detail: str
    possible_duplicates: list[PatientSummaryOut]
