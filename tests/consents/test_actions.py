"""Signing, countersigning, withdrawing and the immutable PDF, through the real actions."""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from pypdf import PdfReader

from ketacare.accounts.context import Actor
from ketacare.audit.models import AuditEvent
from ketacare.consents import actions, pdf
from ketacare.consents.definitions import get_document
from ketacare.consents.models import Consent, ConsentImmutableError, ConsentStatus
from ketacare.consents.queries import MissingConsent, consent_in_force, missing_consents
from ketacare.patients.models import Patient, PatientLink
from tests.consents.helpers import ORIGIN, sign, today

pytestmark = pytest.mark.django_db

NOON = datetime.datetime(2026, 11, 20, 18, 0, tzinfo=datetime.UTC)  # 12:00 in Chicago


def pdf_text(consent: Consent) -> str:
    assert consent.pdf is not None
    reader = PdfReader(io.BytesIO(bytes(consent.pdf)))
    return " ".join(page.extract_text() for page in reader.pages)


@time_machine.travel(NOON, tick=False)
def test_signing_without_countersign_is_in_force_with_a_pdf(actors: dict[str, Actor], patient: Patient) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment", signed_name="  jordan   AVERY ")
    consent.refresh_from_db()
    assert consent.status == ConsentStatus.IN_FORCE
    assert consent.signed_name == "jordan AVERY"
    assert consent.signer_ip == "203.0.113.7"
    assert consent.signer_user_agent == "Mozilla/5.0 (iPad; tests)"
    assert consent.signed_via == "link"
    assert consent.link_id is not None
    assert consent.body_sha256 == get_document("ketamine_treatment").body_sha256
    assert consent.pdf is not None
    assert bytes(consent.pdf).startswith(b"%PDF")
    assert consent.pdf_generated_at == NOON
    text = pdf_text(consent)
    assert "jordan AVERY" in text
    assert "203.0.113.7" in text
    assert "2026-11-20 12:00 CST" in text  # the clinic's zone
    assert consent.body_sha256 in text.replace("\n", "")
    assert consent_in_force(patient, "ketamine_treatment") == consent
    assert missing_consents(patient, "iv") == []
    event = AuditEvent.objects.get(event_type="consent.signed")
    assert event.patient_id == patient.pk
    assert event.subject_id == str(consent.pk)
    assert event.remote_addr == "203.0.113.7"
    assert event.via == "link"
    assert event.actor_role == "patient"
    assert event.detail["document"] == "ketamine_treatment"


def test_pdf_html_escapes_what_the_patient_typed(
    actors: dict[str, Actor], make_patient: Callable[..., Patient]
) -> None:
    patient = make_patient(legal_first_name="Jo<b>", legal_last_name="Avery")
    consent = sign(actors["cy"], patient, "ketamine_treatment", signed_name="Jo<b> Avery")
    html = pdf.pdf_html(consent, get_document("ketamine_treatment"))
    assert "Jo&lt;b&gt; Avery" in html
    assert "Jo<b> Avery" not in html


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"signed_name": "Someone Else"}, "signed_name"),
        ({"signed_name": ""}, "signed_name"),
        ({"signed_on": datetime.date(2020, 1, 1)}, "signed_on"),
        ({"signed_on": None}, "signed_on"),
        ({"agreed": False}, "agreed"),
    ],
)
def test_a_bad_signature_is_refused_naming_the_field_and_nothing_is_stored(
    actors: dict[str, Actor], patient: Patient, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused, transaction.atomic():
        sign(actors["cy"], patient, "ketamine_treatment", **overrides)
    assert field in refused.value.message_dict
    assert not Consent.objects.exists()
    assert not AuditEvent.objects.filter(event_type="consent.signed").exists()


def test_name_match_ignores_case_spacing_accents_and_a_middle_name(make_patient: Callable[..., Patient]) -> None:
    patient = make_patient(legal_first_name="José", legal_middle_name="Maria", legal_last_name="Núñez")
    for typed in ("José Maria Núñez", "jose nunez", " JOSÉ   núñez ", "Jose Maria Nunez"):
        assert actions.name_matches(typed, patient), typed
    for typed in ("Jose", "Nunez Jose", "Jose M Nunez", ""):
        assert not actions.name_matches(typed, patient), typed


def test_rems_needs_a_prescriber_countersignature(actors: dict[str, Actor], patient: Patient) -> None:
    consent = sign(actors["ben"], patient, "spravato_rems_enrolment")
    assert consent.status == ConsentStatus.AWAITING_COUNTERSIGN
    assert not consent.has_pdf
    assert missing_consents(patient, "intranasal_esketamine") == [
        MissingConsent("spravato_rems_enrolment", "Spravato REMS patient enrolment", "awaiting countersignature")
    ]
    assert consent_in_force(patient, "spravato_rems_enrolment") is None
    # a nurse and an admin hold CONSENT_COUNTERSIGN but the document names prescribers only
    for key in ("ben", "ann"):
        with pytest.raises(PermissionDenied, match="prescriber"):
            actions.countersign_consent(actors[key], consent.pk)
    for key in ("cy", "tess", "aud", "ivy"):
        with pytest.raises(PermissionDenied):
            actions.countersign_consent(actors[key], consent.pk)
    with pytest.raises(Exception, match="No such consent"):
        actions.countersign_consent(actors["dee"], consent.pk)
    consent.refresh_from_db()
    assert consent.status == ConsentStatus.AWAITING_COUNTERSIGN
    assert consent.countersigned_by is None
    # the prescriber countersigns: in force, PDF made with the countersigner
    actions.countersign_consent(actors["ada"], consent.pk)
    consent.refresh_from_db()
    assert consent.status == ConsentStatus.IN_FORCE
    assert consent.countersigned_role == "prescriber"
    assert "Ada Okafor" in pdf_text(consent)
    assert missing_consents(patient, "intranasal_esketamine") == []
    event = AuditEvent.objects.get(event_type="consent.countersigned")
    assert event.actor == actors["ada"].user
    assert event.subject_id == str(consent.pk)
    with pytest.raises(ValidationError):
        actions.countersign_consent(actors["ada"], consent.pk)


def test_the_pdf_is_made_once_and_signed_fields_never_change(actors: dict[str, Actor], patient: Patient) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    consent.refresh_from_db()
    original = bytes(consent.pdf or b"")
    for field, value in [
        ("signed_name", "Other Name"),
        ("signed_on", datetime.date(2026, 1, 1)),
        ("signer_ip", "198.51.100.1"),
        ("body_sha256", "0" * 64),
        ("document_version", "2"),
        ("pdf", b"%PDF-forged"),
        ("pdf_sha256", "f" * 64),
    ]:
        row = Consent.objects.get(pk=consent.pk)
        setattr(row, field, value)
        with pytest.raises(ConsentImmutableError):
            row.save()
    with pytest.raises(ConsentImmutableError):
        Consent.objects.filter(pk=consent.pk).update(signed_name="x")
    with pytest.raises(ConsentImmutableError):
        Consent.objects.get(pk=consent.pk).delete()
    with pytest.raises(ConsentImmutableError):
        Consent.objects.filter(pk=consent.pk).delete()
    # withdrawing changes the status only; the PDF stays byte for byte
    actions.withdraw_consent(actors["cy"], consent.pk, "Changed her mind", "telephone")
    consent.refresh_from_db()
    assert bytes(consent.pdf or b"") == original
    row = Consent.objects.get(pk=consent.pk)
    row.status = ConsentStatus.IN_FORCE
    with pytest.raises(ConsentImmutableError):
        row.save()


@pytest.mark.postgres
def test_postgresql_refuses_changes_to_a_signed_consent(actors: dict[str, Actor], patient: Patient) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL trigger")
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    from django.db import DatabaseError

    for sql in (
        "UPDATE consents_consent SET signed_name = 'x' WHERE id = %s",
        "UPDATE consents_consent SET pdf_sha256 = 'x' WHERE id = %s",
        "DELETE FROM consents_consent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="consents_consent"), transaction.atomic(), connection.cursor() as c:
            c.execute(sql, [consent.pk])


@time_machine.travel(NOON, tick=False)
def test_withdrawal_blocks_what_it_covered(actors: dict[str, Actor], patient: Patient) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    with pytest.raises(ValidationError) as refused:
        actions.withdraw_consent(actors["cy"], consent.pk, " ", "carrier pigeon")
    assert set(refused.value.message_dict) == {"reason", "received_via"}
    with pytest.raises(PermissionDenied):
        actions.withdraw_consent(actors["aud"], consent.pk, "x", "telephone")
    actions.withdraw_consent(actors["cy"], consent.pk, "Patient phoned", "telephone")
    consent.refresh_from_db()
    assert consent.status == ConsentStatus.WITHDRAWN
    assert consent.withdrawn_by == actors["cy"].user
    for route in ("iv", "im", "oral"):
        assert missing_consents(patient, route) == [
            MissingConsent("ketamine_treatment", "Consent to ketamine-assisted treatment", "withdrawn on 2026-11-20")
        ]
    assert missing_consents(patient, "intranasal_esketamine")[0].why == "never signed"
    assert consent_in_force(patient, "ketamine_treatment") is None
    event = AuditEvent.objects.get(event_type="consent.withdrawn")
    assert event.detail["received_via"] == "telephone"
    assert event.actor == actors["cy"].user
    with pytest.raises(ValidationError):
        actions.withdraw_consent(actors["cy"], consent.pk, "again", "telephone")
    # signing again puts it back in force; the withdrawn one stays with its PDF
    again = sign(actors["cy"], patient, "ketamine_treatment")
    assert again.status == ConsentStatus.IN_FORCE
    assert missing_consents(patient, "iv") == []
    assert Consent.objects.get(pk=consent.pk).has_pdf


def test_sending_a_link_checks_documents_and_audits(actors: dict[str, Actor], patient: Patient) -> None:
    with pytest.raises(ValidationError) as refused:
        actions.send_consent_link(actors["cy"], patient, [])
    assert "documents" in refused.value.message_dict
    with pytest.raises(ValidationError, match="Unknown"):
        actions.send_consent_link(actors["cy"], patient, ["nope"])
    with pytest.raises(PermissionDenied):
        actions.send_consent_link(actors["aud"], patient, ["ketamine_treatment"])
    link = actions.send_consent_link(actors["cy"], patient, ["ketamine_treatment", "research_data_use"])
    assert link.payload == {"documents": ["ketamine_treatment", "research_data_use"]}
    assert AuditEvent.objects.filter(event_type="consent_link.created", subject_id=str(link.pk)).exists()
    sign(actors["cy"], patient, "ketamine_treatment")
    with pytest.raises(ValidationError, match="Already signed"):
        actions.send_consent_link(actors["cy"], patient, ["ketamine_treatment"])


def test_a_link_is_used_up_when_all_its_documents_are_signed_or_declined(
    actors: dict[str, Actor], patient: Patient
) -> None:
    link = actions.send_consent_link(actors["cy"], patient, ["ketamine_treatment", "research_data_use"])
    values: dict[str, Any] = {
        "signed_name": patient.legal_name,
        "signed_on": today(patient),
        "agreed": True,
        "origin": ORIGIN,
    }
    actions.sign_by_link(link.pk, "ketamine_treatment", **values)
    assert actions.finish_link(link.pk, []) is False
    with pytest.raises(ValidationError, match="not part of"):
        actions.sign_by_link(link.pk, "spravato_rems_enrolment", **values)
    with pytest.raises(ValidationError, match="cannot be skipped"):
        actions.decline_optional(patient, "ketamine_treatment", origin=ORIGIN, via="link", link=link)  # type: ignore[arg-type]
    actions.decline_optional(patient, "research_data_use", origin=ORIGIN, via="link", link=link)  # type: ignore[arg-type]
    assert AuditEvent.objects.filter(event_type="consent.declined").count() == 1
    assert actions.finish_link(link.pk, ["research_data_use"]) is True
    assert PatientLink.objects.get(pk=link.pk).completed_at is not None
    with pytest.raises(ValidationError, match="no longer be used"):
        actions.sign_by_link(link.pk, "research_data_use", **values)
