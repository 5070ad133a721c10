"""/api/v1/plans: create, read, PATCH a draft (409 once signed), sign with a password, revise, weights."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import BodyMeasurement
from ketacare.plans import actions
from ketacare.plans.models import TreatmentPlan
from tests.conftest import ALL_PERSONAS, PASSWORD
from tests.plans.conftest import TODAY

FIRST = (TODAY + datetime.timedelta(days=1)).isoformat()


def create(client, patient, version, headers=None, **extra):
    body = {"patient_id": patient.pk, "protocol_version_id": version.pk, "first_session_on": FIRST, **extra}
    return client.post("/api/v1/plans", body, content_type="application/json", headers=headers or {})


def test_create_is_idempotent_and_returns_the_dose_and_sessions(api_client_for, weighed, iv_version):
    client = api_client_for("ben")

    first = create(client, weighed, iv_version, headers={"Idempotency-Key": "k1"})
    again = create(client, weighed, iv_version, headers={"Idempotency-Key": "k1"})

    assert (first.status_code, again.status_code) == (201, 200)
    body = first.json()
    assert body == again.json()
    assert (body["weight_kg"], body["weighed_on"], body["dose_raw_mg"], body["dose_final_mg"]) == (
        "82.4",
        "2026-11-22",
        "41.2",
        "40",
    )
    assert body["planned_sessions"][:2] == ["2026-11-25", "2026-11-28"]
    assert TreatmentPlan.objects.count() == 1
    assert client.get(f"/api/v1/plans?patient_id={weighed.pk}").json()[0]["id"] == body["id"]
    assert client.get(f"/api/v1/plans/{body['id']}").json()["status"] == "draft"


def test_create_refusals_are_422_per_field(api_client_for, patient, iv_version):
    response = create(api_client_for("ben"), patient, iv_version)

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["detail"]} == {"weight"}
    bad = create(api_client_for("ben"), patient, iv_version, first_session_on="2020-01-01", protocol_version_id=999)
    assert {e["field"] for e in bad.json()["detail"]} == {"protocol_version"}
    assert not TreatmentPlan.objects.exists()


def test_patch_draft_then_sign_then_patch_is_409(api_client_for, actors, weighed, iv_version, gate):
    plan_id = create(api_client_for("ben"), weighed, iv_version).json()["id"]
    nurse, prescriber = api_client_for("ben"), api_client_for("ada")

    patched = nurse.patch(f"/api/v1/plans/{plan_id}", {"interval_days": 4}, content_type="application/json")
    assert patched.status_code == 200
    assert patched.json()["planned_sessions"][1] == "2026-11-29"

    wrong = prescriber.post(f"/api/v1/plans/{plan_id}/sign", {"password": "x"}, content_type="application/json")
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["field"] == "password"
    signed = prescriber.post(f"/api/v1/plans/{plan_id}/sign", {"password": PASSWORD}, content_type="application/json")
    assert signed.status_code == 200
    assert signed.json()["signed_by"] == "Ada Okafor"

    locked = nurse.patch(f"/api/v1/plans/{plan_id}", {"interval_days": 5}, content_type="application/json")
    assert locked.status_code == 409
    assert locked.json()["detail"] == "This plan is signed and locked; revise it to make a new version."
    assert TreatmentPlan.objects.get(pk=plan_id).interval_days == 4
    again = prescriber.post(f"/api/v1/plans/{plan_id}/sign", {"password": PASSWORD}, content_type="application/json")
    assert again.status_code == 409

    revised = nurse.post(f"/api/v1/plans/{plan_id}/revise", headers={"Idempotency-Key": "r1"})
    assert revised.status_code == 201
    assert (revised.json()["previous_id"], revised.json()["plan_version"]) == (plan_id, 2)
    assert nurse.post(f"/api/v1/plans/{plan_id}/revise", headers={"Idempotency-Key": "r1"}).status_code == 200
    assert TreatmentPlan.objects.filter(previous_id=plan_id).count() == 1
    draft_revise = nurse.post(f"/api/v1/plans/{revised.json()['id']}/revise")
    assert draft_revise.status_code == 409


def test_sign_refused_for_missing_rems_consent_is_422(api_client_for, actors, patient, spravato_version, gate):
    from ketacare.consents.queries import MissingConsent

    gate.missing = [MissingConsent("spravato_rems_enrolment", "Spravato REMS patient enrolment", "never signed")]
    plan = actions.create_plan(
        actors["ben"],
        patient,
        spravato_version.pk,
        first_session_on=TODAY + datetime.timedelta(days=1),
        selected_mg=Decimal("56"),
    )

    response = api_client_for("ada").post(
        f"/api/v1/plans/{plan.pk}/sign", {"password": PASSWORD}, content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "consents", "msg": "Missing consent: Spravato REMS patient enrolment (never signed)."}
    ]
    assert AuditEvent.objects.filter(event_type="plan.sign_refused", subject_id=str(plan.pk)).exists()


def test_weights_endpoint(api_client_for, patient):
    client = api_client_for("ben")
    body = {"patient_id": patient.pk, "weight_kg": "82.4", "measured_on": TODAY.isoformat()}

    first = client.post(
        "/api/v1/plans/weights", body, content_type="application/json", headers={"Idempotency-Key": "w"}
    )
    again = client.post(
        "/api/v1/plans/weights", body, content_type="application/json", headers={"Idempotency-Key": "w"}
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert BodyMeasurement.objects.get().weight_kg == Decimal("82.4")
    bad = client.post("/api/v1/plans/weights", {**body, "weight_kg": "2"}, content_type="application/json")
    assert bad.json()["detail"][0]["field"] == "weight_kg"


@pytest.mark.parametrize("who", [*ALL_PERSONAS, "anon"])
def test_authorization_matrix(who, api_client_for, actors, weighed, iv_version, gate):
    plan = actions.create_plan(
        actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1)
    )
    client = api_client_for(who)
    before = list(TreatmentPlan.objects.values_list("pk", "status", "interval_days"))

    got = {
        "list": client.get(f"/api/v1/plans?patient_id={weighed.pk}").status_code,
        "detail": client.get(f"/api/v1/plans/{plan.pk}").status_code,
        "create": create(client, weighed, iv_version).status_code,
        "patch": client.patch(
            f"/api/v1/plans/{plan.pk}", {"interval_days": 4}, content_type="application/json"
        ).status_code,
        "sign": client.post(
            f"/api/v1/plans/{plan.pk}/sign", {"password": PASSWORD}, content_type="application/json"
        ).status_code,
    }

    if who == "anon":
        assert set(got.values()) == {401}
        return
    readers = {"ann", "ada", "ben", "tess", "aud"}
    assert got["list"] == got["detail"] == (200 if who in readers else 404 if who == "dee" else 403)
    assert got["create"] == (201 if who in ("ada", "ben") else 403)
    assert got["patch"] == (200 if who in ("ada", "ben") else 403)
    assert got["sign"] == (200 if who == "ada" else 403)
    if who not in ("ada", "ben"):
        assert list(TreatmentPlan.objects.values_list("pk", "status", "interval_days")) == before
