"""Staff consent pages: authorization matrices, the list, sending a link, the tablet, countersign,
withdraw and the PDF download; and the patient's pages (date-of-birth gate, signing, single use)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm, can
from ketacare.audit.models import AuditEvent
from ketacare.consents import actions
from ketacare.consents.models import Consent, ConsentStatus
from ketacare.patients.models import Patient, PatientLink
from tests.conftest import PERSONAS
from tests.consents.helpers import sign, today

pytestmark = pytest.mark.django_db

EVERYONE = [*PERSONAS, "anon"]


def allowed(perm: str) -> set[str]:
    return {key for key, (_, role, clinic) in PERSONAS.items() if clinic == "harbor" and can(role, perm)}


def state() -> list[Any]:
    return [
        list(Consent.objects.order_by("pk").values_list("pk", "status", "countersigned_by", "withdrawn_at")),
        list(PatientLink.objects.order_by("pk").values_list("pk", "cancelled_at", "completed_at")),
    ]


def expect(who: str, response: Any, perm: str, ok: int = 200) -> bool:
    """Assert the status a persona gets; True when granted."""
    if who == "anon":
        assert response.status_code == 302
        assert reverse("accounts-login") in response["Location"]
        return False
    if who == "dee":
        assert response.status_code == 404
        return False
    if who in allowed(perm):
        assert response.status_code == ok, (who, response.status_code)
        return True
    assert response.status_code == 403, (who, response.status_code)
    return False


@pytest.mark.parametrize("who", EVERYONE)
def test_list_page_matrix(
    who: str, client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    sign(actors["cy"], patient, "ketamine_treatment")
    response = client_for(who).get(reverse("consents-list", args=[patient.pk]))
    if expect(who, response, Perm.CONSENT_VIEW):
        html = response.content.decode()
        assert "Consent to ketamine-assisted treatment" in html
        assert "✔ In force" in html
        assert 'data-testid="consent-pdf"' in html
        assert ('data-testid="consent-make-link"' in html) == (who in allowed(Perm.CONSENT_COLLECT))
        assert ('data-testid="consent-withdraw"' in html) == (who in allowed(Perm.CONSENT_WITHDRAW))
        assert AuditEvent.objects.filter(event_type="consent.listed", actor__email=f"{who}@example.org").exists()
    else:
        assert b"Avery" not in response.content


@pytest.mark.parametrize("who", EVERYONE)
def test_chart_partial_matrix(who: str, client_for: Callable[[str], Client], patient: Patient) -> None:
    response = client_for(who).get(reverse("consents-chart", args=[patient.pk]))
    if expect(who, response, Perm.CONSENT_VIEW):
        assert b'data-testid="consents-chart"' in response.content
        assert b"Spravato REMS patient enrolment" in response.content
        assert b"<html" not in response.content


@pytest.mark.parametrize("who", EVERYONE)
def test_send_link_matrix(who: str, client_for: Callable[[str], Client], patient: Patient) -> None:
    before = state()
    response = client_for(who).post(
        reverse("consents-link", args=[patient.pk]),
        {
            "documents": ["ketamine_treatment", "research_data_use"],
            "form_token": "9f0c2b1e-0000-4000-8000-000000000001",
        },
    )
    if expect(who, response, Perm.CONSENT_COLLECT):
        link = PatientLink.objects.get()
        assert link.payload == {"documents": ["ketamine_treatment", "research_data_use"]}
        assert re.search(r'value="https?://[^"]+/consent/[A-Za-z0-9_-]{40,}/"', response.content.decode())
        assert b"<svg" in response.content  # the QR code
        assert AuditEvent.objects.filter(event_type="consent_link.created").count() == 1
    else:
        assert state() == before


def test_send_link_twice_with_one_form_token_makes_one_link(
    client_for: Callable[[str], Client], patient: Patient
) -> None:
    client = client_for("cy")
    data = {"documents": ["ketamine_treatment"], "form_token": "9f0c2b1e-0000-4000-8000-000000000002"}
    first = client.post(reverse("consents-link", args=[patient.pk]), data)
    second = client.post(reverse("consents-link", args=[patient.pk]), data)
    assert first.status_code == 200
    assert second.status_code == 302
    assert PatientLink.objects.count() == 1


def test_send_link_without_documents_names_the_field(client_for: Callable[[str], Client], patient: Patient) -> None:
    response = client_for("cy").post(reverse("consents-link", args=[patient.pk]), {"documents": []})
    assert response.status_code == 422
    assert b"Choose at least one consent document." in response.content
    assert not PatientLink.objects.exists()


@pytest.mark.parametrize("who", EVERYONE)
def test_countersign_matrix(
    who: str, client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "spravato_rems_enrolment")
    before = state()
    url = reverse("consents-countersign", args=[consent.pk])
    client = client_for(who)
    response = client.post(url, {"confirm": "on"})
    # The permission is CONSENT_COUNTERSIGN; the REMS document narrows it to prescribers.
    if who == "ada":
        assert response.status_code == 302
        consent.refresh_from_db()
        assert consent.status == ConsentStatus.IN_FORCE
        assert consent.countersigned_by == actors["ada"].user
        assert consent.has_pdf
        return
    if who in allowed(Perm.CONSENT_COUNTERSIGN):
        assert response.status_code == 403
        page = client.get(url)
        assert page.status_code == 403
        assert b"countersigned by a prescriber" in page.content
    else:
        expect(who, response, Perm.CONSENT_COUNTERSIGN)
    assert state() == before


@pytest.mark.parametrize("who", EVERYONE)
def test_withdraw_matrix(
    who: str, client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    before = state()
    url = reverse("consents-withdraw", args=[consent.pk])
    response = client_for(who).post(url, {"received_via": "in_person", "reason": "Wants to think again"})
    if expect(who, response, Perm.CONSENT_WITHDRAW, ok=302):
        consent.refresh_from_db()
        assert consent.status == ConsentStatus.WITHDRAWN
        assert consent.withdrawal_reason == "Wants to think again"
        assert AuditEvent.objects.filter(event_type="consent.withdrawn").count() == 1
    else:
        assert state() == before


def test_withdraw_form_errors_name_the_fields(
    client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    response = client_for("ben").post(reverse("consents-withdraw", args=[consent.pk]), {"reason": ""})
    assert response.status_code == 422
    html = response.content.decode()
    assert "How the patient told the clinic" in html
    assert "Reason or what the patient said" in html
    assert Consent.objects.get().status == ConsentStatus.IN_FORCE


@pytest.mark.parametrize("who", EVERYONE)
def test_pdf_download_matrix(
    who: str, client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    response = client_for(who).get(reverse("consents-pdf", args=[consent.pk]))
    if expect(who, response, Perm.CONSENT_VIEW):
        consent.refresh_from_db()
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith("attachment; filename=")
        assert response.content == bytes(consent.pdf or b"")
        event = AuditEvent.objects.get(event_type="consent_pdf.downloaded")
        assert event.subject_id == str(consent.pk)
        assert event.actor == actors[who].user
    else:
        assert not AuditEvent.objects.filter(event_type="consent_pdf.downloaded").exists()


def test_no_pdf_before_countersign(
    client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "spravato_rems_enrolment")
    assert client_for("ada").get(reverse("consents-pdf", args=[consent.pk])).status_code == 404


def test_list_page_query_count_does_not_grow(
    client_for: Callable[[str], Client],
    actors: dict[str, Actor],
    patient: Patient,
    django_assert_num_queries: Any,
) -> None:
    client = client_for("ben")
    url = reverse("consents-list", args=[patient.pk])
    client.get(url)  # warm the session
    sign(actors["cy"], patient, "ketamine_treatment")
    with django_assert_num_queries(QUERIES) as one:
        assert client.get(url).status_code == 200
    consent = sign(actors["cy"], patient, "spravato_rems_enrolment")
    actions.countersign_consent(actors["ada"], consent.pk)
    sign(actors["cy"], patient, "research_data_use")
    actions.withdraw_consent(actors["cy"], Consent.objects.get(document_code="ketamine_treatment").pk, "x", "email")
    sign(actors["cy"], patient, "ketamine_treatment")
    with django_assert_num_queries(QUERIES) as many:
        assert client.get(url).status_code == 200
    assert len(one.captured_queries) == len(many.captured_queries)


QUERIES = 12


# --- The patient's pages ---------------------------------------------------------------------------


def link_path(client: Client, patient: Patient, documents: list[str]) -> str:
    response = client.post(reverse("consents-link", args=[patient.pk]), {"documents": documents})
    match = re.search(r'value="https?://[^"/]+(/consent/[^"]+/)"', response.content.decode())
    assert match is not None
    return match.group(1)


def test_patient_signs_by_link_with_dob_gate_single_use(client_for: Callable[[str], Client], patient: Patient) -> None:
    path = link_path(client_for("cy"), patient, ["ketamine_treatment", "research_data_use"])
    browser = Client(REMOTE_ADDR="198.51.100.23", HTTP_USER_AGENT="Mozilla/5.0 (iPhone) Safari")
    page = browser.get(path)
    assert page.status_code == 200
    assert b"Confirm it is you" in page.content
    assert b"off-label" not in page.content  # nothing before the date of birth
    wrong = browser.post(path, {"date_of_birth": "1990-01-01"})
    assert wrong.status_code == 422
    assert b"2 more times" in wrong.content
    assert browser.post(path, {"date_of_birth": "1985-04-12"}).status_code == 302
    page = browser.get(path)
    assert b"Consent to ketamine-assisted treatment" in page.content
    assert b"Document 1 of 2" in page.content
    # a name that is not the patient's is refused, naming the field, and nothing is stored
    refused = browser.post(
        path,
        {
            "document": "ketamine_treatment",
            "signed_name": "Someone Else",
            "signed_on": today(patient).isoformat(),
            "agreed": "on",
        },
    )
    assert refused.status_code == 422
    assert b"Your full name: The name typed does not match" in refused.content
    assert not Consent.objects.exists()
    signed = browser.post(
        path,
        {
            "document": "ketamine_treatment",
            "signed_name": "jordan avery",
            "signed_on": today(patient).isoformat(),
            "agreed": "on",
        },
    )
    assert signed.status_code == 302
    consent = Consent.objects.get()
    assert consent.signer_ip == "198.51.100.23"
    assert consent.signer_user_agent == "Mozilla/5.0 (iPhone) Safari"
    assert consent.signed_via == "link"
    assert consent.presented_by is None
    assert consent.status == ConsentStatus.IN_FORCE
    # the optional research document may be declined
    page = browser.get(path)
    assert b"Document 2 of 2" in page.content
    assert b'data-testid="consent-decline"' in page.content
    done = browser.post(path, {"document": "research_data_use", "decline": "1"})
    assert done.status_code == 302
    assert browser.get(done["Location"]).status_code == 302  # the last one: off to the thank-you page
    assert browser.get(reverse("consent-done")).status_code == 200
    assert Consent.objects.count() == 1
    assert PatientLink.objects.get().completed_at is not None
    # single use: the link now shows the neutral page, also in a fresh browser
    assert browser.get(path).status_code == 404
    assert Client().get(path).status_code == 404
    assert AuditEvent.objects.filter(event_type="consent.declined").count() == 1


def test_three_wrong_dates_lock_the_link(client_for: Callable[[str], Client], patient: Patient) -> None:
    path = link_path(client_for("cy"), patient, ["ketamine_treatment"])
    browser = Client()
    for _ in range(2):
        assert browser.post(path, {"date_of_birth": "1990-01-01"}).status_code == 422
    assert browser.post(path, {"date_of_birth": "1990-01-01"}).status_code == 404
    assert browser.post(path, {"date_of_birth": "1985-04-12"}).status_code == 404


def test_unknown_token_is_neutral() -> None:
    response = Client().get(reverse("consent-sign", args=["not-a-real-token"]))
    assert response.status_code == 404
    assert b"This link cannot be used" in response.content


def test_tablet_signing_records_who_presented_it(
    client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    tablet = client_for("ben")
    response = tablet.post(reverse("consents-tablet", args=[patient.pk]), {"documents": ["spravato_rems_enrolment"]})
    assert response.status_code == 302
    assert response["Location"] == reverse("consent-tablet")
    # staff are signed out while the patient holds the tablet
    assert tablet.get(reverse("consents-list", args=[patient.pk])).status_code == 302
    page = tablet.get(reverse("consent-tablet"))
    assert b"Spravato REMS patient enrolment" in page.content
    assert b"Confirm it is you" not in page.content
    signed = tablet.post(
        reverse("consent-tablet"),
        {
            "document": "spravato_rems_enrolment",
            "signed_name": "Jordan Avery",
            "signed_on": today(patient).isoformat(),
            "agreed": "on",
        },
        REMOTE_ADDR="10.0.0.5",
    )
    assert signed.status_code == 302
    consent = Consent.objects.get()
    assert consent.signed_via == "tablet"
    assert consent.presented_by == actors["ben"].user
    assert consent.signer_ip == "10.0.0.5"
    assert consent.status == ConsentStatus.AWAITING_COUNTERSIGN
    finished = tablet.get(reverse("consent-tablet"))
    assert finished["Location"] == reverse("consent-done")
    assert b"hand the tablet back" in tablet.get(reverse("consent-done")).content
    assert tablet.get(reverse("consent-tablet")).status_code == 302  # to done, nothing more to sign
    assert AuditEvent.objects.filter(event_type="consent_tablet.started", actor=actors["ben"].user).exists()
    event = AuditEvent.objects.get(event_type="consent.signed")
    assert event.via == "kiosk"
    assert event.detail["presented_by"] == actors["ben"].user.pk


def test_tablet_page_without_a_handover_is_neutral() -> None:
    assert Client().get(reverse("consent-tablet")).status_code == 404
