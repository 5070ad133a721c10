"""Consent actions: send a signing link, hand over a tablet, sign, countersign, withdraw, read the PDF.

Each action runs in one transaction and writes its audit row. A consent becomes *in force* when it is
fully signed: at once when the document needs no countersignature, else when a member of staff with
a role the document names (`countersign_roles`, e.g. the Spravato REMS enrolment: a prescriber,
clinical.md 1.3) countersigns. At that moment, and only then, its PDF is made (`pdf.render_pdf`) and
stored; it is never made again.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor, Origin
from ketacare.accounts.models import User
from ketacare.accounts.roles import Perm, Role
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record, record_patient
from ketacare.consents import pdf
from ketacare.consents.access import consents_of
from ketacare.consents.definitions import Document, UnknownDocument, get_document
from ketacare.consents.models import (
    ACTIVE_STATUSES,
    Consent,
    ConsentStatus,
    SignedVia,
    WithdrawalChannel,
)
from ketacare.lib.text import fold
from ketacare.patients import links
from ketacare.patients.models import LinkPurpose, Patient, PatientLink

TABLET_LIFETIME = datetime.timedelta(hours=1)
DATE_TOLERANCE_DAYS = 1  # the typed date may differ from the clinic's date by one day (time zones)


# --- Choosing documents --------------------------------------------------------------------------


def _documents(patient: Patient, codes: Sequence[str], field: str = "documents") -> list[Document]:
    """The documents in effect for `codes` (unique, known, not already in force or awaiting countersignature)."""
    wanted = list(dict.fromkeys(c for c in codes if c))
    if not wanted:
        raise ValidationError({field: "Choose at least one consent document."})
    documents: list[Document] = []
    for code in wanted:
        try:
            documents.append(get_document(code, on=timezone.localdate(timezone=patient.clinic.zone)))
        except UnknownDocument:
            raise ValidationError({field: f"Unknown consent document: {code}."}) from None
    active = set(
        Consent.objects.filter(clinic_id=patient.clinic_id, patient=patient, status__in=ACTIVE_STATUSES)
        .filter(document_code__in=wanted)
        .values_list("document_code", "document_version")
    )
    done = [d.title for d in documents if (d.code, d.version) in active]
    if done:
        raise ValidationError({field: f"Already signed and not withdrawn: {', '.join(done)}."})
    return documents


@transaction.atomic
def send_consent_link(actor: Actor, patient: Patient, codes: Sequence[str]) -> PatientLink:
    """A secure link for the patient to sign `codes` (give them `patients.links.link_url(link)` once).
    Earlier open consent links of the patient stop working."""
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")
    if not actor.can(Perm.CONSENT_COLLECT):
        raise PermissionDenied(f"Your role does not allow {Perm.CONSENT_COLLECT}.")
    documents = _documents(patient, codes)
    return links.create_link(
        actor,
        patient,
        LinkPurpose.CONSENT,
        payload={"documents": [d.code for d in documents]},
        perm=Perm.CONSENT_COLLECT,
    )


@dataclass(frozen=True)
class TabletHandover:
    """What the tablet's session remembers when staff hand it to the patient (they are signed out)."""

    clinic_id: int
    patient_id: int
    documents: tuple[str, ...]
    presented_by_id: int
    expires_at: datetime.datetime

    def to_session(self) -> dict[str, Any]:
        return {
            "clinic": self.clinic_id,
            "patient": self.patient_id,
            "documents": list(self.documents),
            "presented_by": self.presented_by_id,
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_session(cls, data: Any) -> TabletHandover | None:
        try:
            handover = cls(
                clinic_id=int(data["clinic"]),
                patient_id=int(data["patient"]),
                documents=tuple(str(c) for c in data["documents"]),
                presented_by_id=int(data["presented_by"]),
                expires_at=datetime.datetime.fromisoformat(str(data["expires_at"])),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return handover if handover.expires_at > timezone.now() else None


@transaction.atomic
def start_tablet_signing(actor: Actor, patient: Patient, codes: Sequence[str]) -> TabletHandover:
    """Staff hand a clinic tablet to the patient to sign `codes` in the clinic (no date-of-birth check:
    staff know who they hand it to, and are recorded as presenting it)."""
    if not actor.can(Perm.CONSENT_COLLECT):
        raise PermissionDenied(f"Your role does not allow {Perm.CONSENT_COLLECT}.")
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")
    documents = _documents(patient, codes)
    handover = TabletHandover(
        clinic_id=patient.clinic_id,
        patient_id=patient.pk,
        documents=tuple(d.code for d in documents),
        presented_by_id=actor.user.pk,
        expires_at=timezone.now() + TABLET_LIFETIME,
    )
    record(
        actor,
        AuditAction.EXECUTE,
        "consent_tablet.started",
        patient=patient,
        detail={"documents": list(handover.documents), "expires_at": handover.expires_at},
    )
    return handover


# --- Signing -------------------------------------------------------------------------------------


def name_matches(typed: str, patient: Patient) -> bool:
    """The typed name is the patient's legal name, ignoring case, accents and spacing; the middle
    name may be left out."""
    given = fold(typed)
    full = fold(patient.legal_name)
    short = fold(f"{patient.legal_first_name} {patient.legal_last_name}")
    return bool(given) and given in {full, short}


def _check_signature(
    patient: Patient, signed_name: str, signed_on: datetime.date | None, agreed: bool
) -> datetime.date:
    errors: dict[str, str] = {}
    if not signed_name.strip():
        errors["signed_name"] = "Type your full name."
    elif not name_matches(signed_name, patient):
        errors["signed_name"] = (
            "The name typed does not match the legal name the clinic has for you. Type your first and last "
            "name as on your records; ask the clinic if your name has changed."
        )
    today = timezone.localdate(timezone=patient.clinic.zone)
    if signed_on is None:
        errors["signed_on"] = "Enter today's date."
    elif abs((signed_on - today).days) > DATE_TOLERANCE_DAYS:
        errors["signed_on"] = f"Enter today's date ({today.isoformat()})."
    if not agreed:
        errors["agreed"] = "Tick the box to confirm you have read the document and agree."
    if errors or signed_on is None:
        raise ValidationError(errors)
    return signed_on


def _signers_document(patient: Patient, code: str, allowed: Sequence[str]) -> Document:
    if code not in allowed:
        raise ValidationError({"__all__": "This document is not part of what you were asked to sign."})
    try:
        return get_document(code, on=timezone.localdate(timezone=patient.clinic.zone))
    except UnknownDocument:
        raise ValidationError({"__all__": "This document is no longer available."}) from None


def remaining_codes(patient: Patient, codes: Sequence[str], link: PatientLink | None = None) -> list[str]:
    """Of `codes`, those the patient has not signed yet (through this link, or at all when it is in force
    or awaiting countersignature)."""
    active = set(
        Consent.objects.filter(clinic_id=patient.clinic_id, patient=patient, status__in=ACTIVE_STATUSES)
        .filter(document_code__in=list(codes))
        .values_list("document_code", flat=True)
    )
    if link is not None:
        active |= set(Consent.objects.filter(link=link).values_list("document_code", flat=True))
    return [c for c in codes if c not in active]


def _create(
    patient: Patient,
    document: Document,
    *,
    signed_name: str,
    signed_on: datetime.date,
    origin: Origin,
    via: SignedVia,
    link: PatientLink | None,
    presented_by: User | None,
) -> Consent:
    now = timezone.now()
    try:
        with transaction.atomic():
            consent = Consent.objects.create(
                clinic_id=patient.clinic_id,
                patient=patient,
                document_code=document.code,
                document_version=document.version,
                document_title=document.title,
                body_sha256=document.body_sha256,
                requires_countersign=document.requires_countersign,
                status=ConsentStatus.AWAITING_COUNTERSIGN if document.requires_countersign else ConsentStatus.IN_FORCE,
                signed_name=" ".join(signed_name.split()),
                signed_on=signed_on,
                agreed=True,
                signed_at=now,
                signer_ip=origin.remote_addr[:45],
                signer_user_agent=origin.user_agent[:300],
                signed_via=via,
                link=link,
                presented_by=presented_by,
            )
    except IntegrityError:
        raise ValidationError({"__all__": f"“{document.title}” is already signed."}) from None
    record_patient(
        patient.clinic,
        patient,
        AuditAction.CREATE,
        "consent.signed",
        via="link" if via == SignedVia.LINK else "kiosk",
        subject=consent,
        detail={
            "document": document.code,
            "version": document.version,
            "body_sha256": document.body_sha256,
            "status": consent.status,
            "presented_by": presented_by.pk if presented_by else None,
        },
        remote_addr=origin.remote_addr,
        user_agent=origin.user_agent,
    )
    if consent.status == ConsentStatus.IN_FORCE:
        _come_into_force(consent, document)
    return consent


def _come_into_force(consent: Consent, document: Document) -> None:
    """Fully signed: older versions of the same document stop applying; the PDF is made, once."""
    older = list(
        Consent.objects.select_for_update()
        .filter(patient_id=consent.patient_id, document_code=consent.document_code, status__in=ACTIVE_STATUSES)
        .exclude(pk=consent.pk)
    )
    for row in older:
        row.status = ConsentStatus.SUPERSEDED
        row.save(update_fields=["status"])
    if consent.has_pdf:  # never regenerated
        return
    data, digest = pdf.render_pdf(consent, document)
    consent.pdf = data
    consent.pdf_sha256 = digest
    consent.pdf_generated_at = timezone.now()
    consent.save(update_fields=["pdf", "pdf_sha256", "pdf_generated_at"])


@transaction.atomic
def sign_by_link(
    link_id: int,
    code: str,
    *,
    signed_name: str,
    signed_on: datetime.date | None,
    agreed: bool,
    origin: Origin,
) -> Consent:
    """The patient signs document `code` through a consent link (date of birth already checked by
    the page). The link is used up when every document it lists is signed or declined."""
    link = (
        PatientLink.objects.select_for_update().select_related("clinic", "patient", "patient__clinic").get(pk=link_id)
    )
    if link.purpose != LinkPurpose.CONSENT or not links.is_usable(link):
        raise ValidationError({"__all__": "This link can no longer be used."})
    codes = list(link.payload.get("documents", []))
    document = _signers_document(link.patient, code, remaining_codes(link.patient, codes, link))
    signed_on = _check_signature(link.patient, signed_name, signed_on, agreed)
    consent = _create(
        link.patient,
        document,
        signed_name=signed_name,
        signed_on=signed_on,
        origin=origin,
        via=SignedVia.LINK,
        link=link,
        presented_by=None,
    )
    return consent


@transaction.atomic
def sign_on_tablet(
    handover: TabletHandover,
    code: str,
    *,
    signed_name: str,
    signed_on: datetime.date | None,
    agreed: bool,
    origin: Origin,
) -> Consent:
    """The patient signs document `code` on a clinic tablet handed over by staff (`presented_by`)."""
    patient = Patient.objects.select_related("clinic").get(pk=handover.patient_id, clinic_id=handover.clinic_id)
    presenter = User.objects.get(pk=handover.presented_by_id)
    document = _signers_document(patient, code, remaining_codes(patient, handover.documents))
    signed_on = _check_signature(patient, signed_name, signed_on, agreed)
    return _create(
        patient,
        document,
        signed_name=signed_name,
        signed_on=signed_on,
        origin=origin,
        via=SignedVia.TABLET,
        link=None,
        presented_by=presenter,
    )


@transaction.atomic
def decline_optional(
    patient: Patient, code: str, *, origin: Origin, via: SignedVia, link: PatientLink | None = None
) -> None:
    """The patient chose not to sign an optional document (research): nothing is signed, the choice is audited."""
    document = get_document(code, on=timezone.localdate(timezone=patient.clinic.zone))
    if not document.optional:
        raise ValidationError({"__all__": f"“{document.title}” is needed for treatment and cannot be skipped."})
    record_patient(
        patient.clinic,
        patient,
        AuditAction.EXECUTE,
        "consent.declined",
        via="link" if via == SignedVia.LINK else "kiosk",
        subject=link,
        detail={"document": document.code, "version": document.version},
        remote_addr=origin.remote_addr,
        user_agent=origin.user_agent,
    )


@transaction.atomic
def finish_link(link_id: int, declined: Sequence[str]) -> bool:
    """Use up the link if every document it lists is signed (through it or already in force) or was
    declined. True when it was used up."""
    link = PatientLink.objects.select_for_update().select_related("patient").get(pk=link_id)
    if link.completed_at is not None:
        return True
    codes = [c for c in link.payload.get("documents", []) if c not in declined]
    if remaining_codes(link.patient, codes, link):
        return False
    links.complete(link)
    return True


# --- Staff: countersign, withdraw, read ----------------------------------------------------------


def can_countersign(actor: Actor, consent: Consent) -> bool:
    """The actor may countersign this consent: CONSENT_COUNTERSIGN and a role the document names."""
    if not actor.can(Perm.CONSENT_COUNTERSIGN) or not consent.requires_countersign:
        return False
    try:
        document = get_document(consent.document_code, consent.document_version)
    except UnknownDocument:
        return False
    return actor.role in document.countersign_roles


@transaction.atomic
def countersign_consent(actor: Actor, consent_id: int) -> Consent:
    if not actor.can(Perm.CONSENT_COUNTERSIGN):
        raise PermissionDenied(f"Your role does not allow {Perm.CONSENT_COUNTERSIGN}.")
    consent = (
        consents_of(actor)
        .select_for_update(of=("self",))
        .select_related("patient", "patient__clinic", "presented_by")
        .filter(pk=consent_id)
        .first()
    )
    if consent is None:
        raise Http404("No such consent.")
    document = get_document(consent.document_code, consent.document_version)
    if actor.role not in document.countersign_roles:
        names = " or ".join(Role(r).label.lower() for r in document.countersign_roles)
        raise PermissionDenied(f"“{document.title}” must be countersigned by a {names}.")
    if consent.status != ConsentStatus.AWAITING_COUNTERSIGN:
        raise ValidationError(
            {"__all__": f"This consent is {consent.get_status_display().lower()}: nothing to countersign."}
        )
    consent.countersigned_by = actor.user
    consent.countersigned_role = actor.role
    consent.countersigned_at = timezone.now()
    consent.status = ConsentStatus.IN_FORCE
    consent.save(update_fields=["countersigned_by", "countersigned_role", "countersigned_at", "status"])
    record(
        actor,
        AuditAction.UPDATE,
        "consent.countersigned",
        subject=consent,
        patient=consent.patient,
        detail={"document": consent.document_code, "version": consent.document_version},
    )
    _come_into_force(consent, document)
    return consent


@transaction.atomic
def withdraw_consent(actor: Actor, consent_id: int, reason: str, received_via: str) -> Consent:
    """Record that the patient withdrew this consent (told staff in person, by phone, in writing…).
    The row and its PDF stay; what it covered is blocked (`queries.missing_consents`)."""
    if not actor.can(Perm.CONSENT_WITHDRAW):
        raise PermissionDenied(f"Your role does not allow {Perm.CONSENT_WITHDRAW}.")
    consent = consents_of(actor).select_for_update().select_related("patient").filter(pk=consent_id).first()
    if consent is None:
        raise Http404("No such consent.")
    errors: dict[str, str] = {}
    if not reason.strip():
        errors["reason"] = "Say why, in the patient's words where possible."
    if received_via not in WithdrawalChannel.values:
        errors["received_via"] = "Choose how the patient told the clinic."
    if consent.status not in ACTIVE_STATUSES:
        errors["__all__"] = f"This consent is already {consent.get_status_display().lower()}."
    if errors:
        raise ValidationError(errors)
    consent.status = ConsentStatus.WITHDRAWN
    consent.withdrawn_at = timezone.now()
    consent.withdrawn_by = actor.user
    consent.withdrawal_reason = reason.strip()
    consent.withdrawal_received_via = received_via
    consent.save(
        update_fields=["status", "withdrawn_at", "withdrawn_by", "withdrawal_reason", "withdrawal_received_via"]
    )
    record(
        actor,
        AuditAction.UPDATE,
        "consent.withdrawn",
        subject=consent,
        patient=consent.patient,
        detail={"document": consent.document_code, "version": consent.document_version, "received_via": received_via},
    )
    return consent


def record_pdf_read(actor: Actor, consent: Consent, *, view: str = "web") -> None:
    record(
        actor,
        AuditAction.READ,
        "consent_pdf.downloaded",
        subject=consent,
        patient=consent.patient,
        detail={"pdf_sha256": consent.pdf_sha256, "view": view},
    )


def record_consents_listed(actor: Actor, patient: Patient, consents: Sequence[Consent], *, view: str) -> None:
    record(
        actor,
        AuditAction.READ,
        "consent.listed",
        patient=patient,
        detail={"consents": [c.pk for c in consents], "view": view},
    )
