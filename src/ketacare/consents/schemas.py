"""Schemas of /api/v1/consents."""

from __future__ import annotations

import datetime

from ninja import Schema
from pydantic import Field

from ketacare.consents.models import WithdrawalChannel


class DocumentOut(Schema):
    code: str
    version: str
    effective_from: datetime.date
    title: str
    summary: str
    covers: list[str]
    required_for_routes: list[str]
    optional: bool
    requires_countersign: bool
    countersign_roles: list[str]
    source: str
    citation: str
    body_html: str
    body_sha256: str


class ConsentOut(Schema):
    id: int
    patient_id: int
    document_code: str
    document_version: str
    document_title: str
    body_sha256: str
    status: str
    requires_countersign: bool
    signed_name: str
    signed_on: datetime.date
    agreed: bool
    signed_at: datetime.datetime
    signer_ip: str
    signer_user_agent: str
    signed_via: str
    presented_by_id: int | None
    countersigned_by_id: int | None
    countersigned_role: str
    countersigned_at: datetime.datetime | None
    has_pdf: bool
    pdf_sha256: str
    pdf_generated_at: datetime.datetime | None
    withdrawn_at: datetime.datetime | None
    withdrawn_by_id: int | None
    withdrawal_reason: str
    withdrawal_received_via: str


class LinkIn(Schema):
    patient_id: int
    documents: list[str] = Field(min_length=1, max_length=10)


class LinkOut(Schema):
    link_id: int
    patient_id: int
    documents: list[str]
    expires_at: datetime.datetime
    url: str | None = Field(
        description="The address to give the patient; only in the first response, never on a repeat."
    )


class WithdrawIn(Schema):
    reason: str = Field(min_length=1, max_length=2000)
    received_via: WithdrawalChannel
