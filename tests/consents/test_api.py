"""/api/v1/consents: authorization matrices, per-field 422s, Idempotency-Key, 404 for another clinic."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditEvent
from ketacare.consents.models import Consent, ConsentStatus
from ketacare.patients.models import Patient, PatientLink
from tests.conftest import PERSONAS
from tests.consents.helpers import sign
from tests.consents.test_pages import allowed, state

pytestmark = pytest.mark.django_db

EVERYONE = [*PERSONAS, "anon"]
BASE = "/api/v1/consents"


def post(client: Client, url: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(url, json.dumps(body or {}), content_type="application/json", headers=headers)


def expect(who: str, response: Any, perm: str, ok: int = 200) -> bool:
    if who == "anon":
        assert response.status_code == 401
        return False
    if who == "dee":
        assert response.status_code == 404
        return False
    if who in allowed(perm):
        assert response.status_code == ok, (who, response.status_code, response.content)
        return True
    assert response.status_code == 403, (who, response.status_code)
    return False


@pytest.mark.parametrize("who", EVERYONE)
def test_documents(who: str, api_client_for: Callable[[str], Client]) -> None:
    response = api_client_for(who).get(f"{BASE}/documents")
    if who == "anon":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    codes = [d["code"] for d in response.json()]
    assert set(codes) == {"ketamine_treatment", "spravato_rems_enrolment", "research_data_use"}
    rems = next(d for d in response.json() if d["code"] == "spravato_rems_enrolment")
    assert rems["requires_countersign"] is True
    assert rems["countersign_roles"] == ["prescriber"]
    assert len(rems["body_sha256"]) == 64


@pytest.mark.parametrize("who", EVERYONE)
def test_list_and_read(
    who: str, api_client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    client = api_client_for(who)
    listed = client.get(f"{BASE}?patient_id={patient.pk}")
    if expect(who, listed, Perm.CONSENT_VIEW):
        body = listed.json()
        assert [c["id"] for c in body] == [consent.pk]
        assert body[0]["status"] == "in_force"
        assert body[0]["has_pdf"] is True
        assert body[0]["signed_name"] == "Jordan Avery"
    one = client.get(f"{BASE}/{consent.pk}")
    if expect(who, one, Perm.CONSENT_VIEW):
        assert one.json()["document_code"] == "ketamine_treatment"
        assert AuditEvent.objects.filter(event_type="consent.read", subject_id=str(consent.pk)).exists()
    pdf = client.get(f"{BASE}/{consent.pk}/pdf")
    if expect(who, pdf, Perm.CONSENT_VIEW):
        assert pdf["Content-Type"] == "application/pdf"
        assert pdf["Content-Disposition"].startswith("attachment;")
        assert pdf.content.startswith(b"%PDF")
        assert AuditEvent.objects.filter(event_type="consent_pdf.downloaded").count() == 1


@pytest.mark.parametrize("who", EVERYONE)
def test_make_link(who: str, api_client_for: Callable[[str], Client], patient: Patient) -> None:
    before = state()
    client = api_client_for(who)
    body = {"patient_id": patient.pk, "documents": ["spravato_rems_enrolment"]}
    response = post(client, f"{BASE}/links", body, key="link-1")
    if expect(who, response, Perm.CONSENT_COLLECT, ok=201):
        out = response.json()
        assert "/consent/" in out["url"]
        assert out["documents"] == ["spravato_rems_enrolment"]
        # a repeat with the same key makes nothing new and does not show the URL again
        again = post(client, f"{BASE}/links", body, key="link-1")
        assert again.status_code == 200
        assert again.json()["link_id"] == out["link_id"]
        assert again.json()["url"] is None
        assert PatientLink.objects.count() == 1
        conflict = post(client, f"{BASE}/links", {**body, "documents": ["ketamine_treatment"]}, key="link-1")
        assert conflict.status_code == 422
        assert conflict.json()["detail"][0]["field"] == "Idempotency-Key"
    else:
        assert state() == before


def test_make_link_errors_name_the_field(api_client_for: Callable[[str], Client], patient: Patient) -> None:
    client = api_client_for("cy")
    empty = post(client, f"{BASE}/links", {"patient_id": patient.pk, "documents": []})
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["field"] == "documents"
    unknown = post(client, f"{BASE}/links", {"patient_id": patient.pk, "documents": ["nope"]})
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == [{"field": "documents", "msg": "Unknown consent document: nope."}]
    assert not PatientLink.objects.exists()


@pytest.mark.parametrize("who", EVERYONE)
def test_countersign(
    who: str, api_client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "spravato_rems_enrolment")
    before = state()
    response = post(api_client_for(who), f"{BASE}/{consent.pk}/countersign", key="cs-1")
    if who == "ada":
        assert response.status_code == 200
        assert response.json()["status"] == "in_force"
        assert response.json()["countersigned_role"] == "prescriber"
        assert response.json()["has_pdf"] is True
        repeat = post(api_client_for("ada"), f"{BASE}/{consent.pk}/countersign")
        assert repeat.status_code == 422  # already countersigned
        return
    if who in allowed(Perm.CONSENT_COUNTERSIGN):  # admin, nurse: not named by the REMS document
        assert response.status_code == 403
        assert "prescriber" in response.json()["detail"]
    else:
        expect(who, response, Perm.CONSENT_COUNTERSIGN)
    assert state() == before


@pytest.mark.parametrize("who", EVERYONE)
def test_withdraw(
    who: str, api_client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    before = state()
    client = api_client_for(who)
    body = {"reason": "Patient e-mailed", "received_via": "email"}
    response = post(client, f"{BASE}/{consent.pk}/withdraw", body, key="wd-1")
    if expect(who, response, Perm.CONSENT_WITHDRAW):
        assert response.json()["status"] == "withdrawn"
        again = post(client, f"{BASE}/{consent.pk}/withdraw", body, key="wd-1")
        assert again.status_code == 200
        assert AuditEvent.objects.filter(event_type="consent.withdrawn").count() == 1
    else:
        assert state() == before


def test_withdraw_422_per_field(
    api_client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    response = post(api_client_for("cy"), f"{BASE}/{consent.pk}/withdraw", {"reason": "", "received_via": "pigeon"})
    assert response.status_code == 422
    assert {d["field"] for d in response.json()["detail"]} == {"reason", "received_via"}
    assert Consent.objects.get().status == ConsentStatus.IN_FORCE


def test_other_clinic_gets_404_for_everything(
    api_client_for: Callable[[str], Client], actors: dict[str, Actor], patient: Patient
) -> None:
    consent = sign(actors["cy"], patient, "ketamine_treatment")
    dee = api_client_for("dee")
    assert dee.get(f"{BASE}/{consent.pk}").status_code == 404
    assert dee.get(f"{BASE}/{consent.pk}/pdf").status_code == 404
    assert dee.get(f"{BASE}?patient_id={patient.pk}").status_code == 404
    assert (
        post(dee, f"{BASE}/links", {"patient_id": patient.pk, "documents": ["ketamine_treatment"]}).status_code == 404
    )
    assert post(dee, f"{BASE}/{consent.pk}/withdraw", {"reason": "x", "received_via": "email"}).status_code == 404
    assert Consent.objects.get().status == ConsentStatus.IN_FORCE
