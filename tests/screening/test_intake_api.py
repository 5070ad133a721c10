"""/api/v1/intakes: the page rules over JSON (front desk: status only; therapist reads; auditor
read-only; Dee 404), 422 naming the field, Idempotency-Key on POSTs, the link URL returned once."""

from __future__ import annotations

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import PatientLink
from ketacare.screening.models import Intake, IntakeStatus
from ketacare.screening.signals import intake_changed

from .conftest import complete_data

ALL = ["ann", "ada", "ben", "tess", "cy", "ivy", "aud", "dee", "anon"]


def status_for(who: str, allowed: set[str]) -> int:
    if who == "anon":
        return 401
    if who == "dee":
        return 404
    return 200 if who in allowed else 403


def create_body(patient, **data):
    return {"patient_id": patient.pk, "data": data}


@pytest.mark.parametrize("who", ALL)
def test_list_matrix(api_client_for, submitted, patient, who):
    response = api_client_for(who).get(f"/api/v1/intakes?patient_id={patient.pk}")
    assert response.status_code == status_for(who, {"ann", "ada", "ben", "tess", "cy", "aud"})
    if response.status_code == 200:
        (row,) = response.json()
        assert row["status"] == "submitted"
        assert "data" not in row  # status only


@pytest.mark.parametrize("who", ALL)
def test_read_matrix(api_client_for, submitted, who):
    response = api_client_for(who).get(f"/api/v1/intakes/{submitted.pk}")
    assert response.status_code == status_for(who, {"ann", "ada", "ben", "tess", "aud"})
    if response.status_code == 200:
        body = response.json()
        assert body["data"]["weight_kg"] == "82.4"
        assert body["trial_count"]["count"] == 0
        assert body["trial_count"]["undetermined"] == 2
        assert body["trial_count"]["treatment_resistant"] is None
        assert "bp_rise_serious_hazard" in body["missing_for_review"]
        assert AuditEvent.objects.filter(event_type="intake.viewed", subject_id=str(submitted.pk)).exists()


@pytest.mark.parametrize("who", ALL)
def test_patch_matrix_and_denials_change_nothing(api_client_for, submitted, who):
    changed = []
    intake_changed.connect(
        lambda sender, changed=None, **kw: changed_seen(changed), weak=False, dispatch_uid=f"api-{who}"
    )

    def changed_seen(names):
        changed.append(names)

    try:
        response = api_client_for(who).patch(
            f"/api/v1/intakes/{submitted.pk}", {"facts": {"pregnant": True}}, content_type="application/json"
        )
    finally:
        intake_changed.disconnect(dispatch_uid=f"api-{who}")
    submitted.refresh_from_db()
    assert response.status_code == status_for(who, {"ann", "ada", "ben"})
    if response.status_code == 200:
        assert response.json()["version"] == 2
        assert submitted.facts["pregnant"] is True
        assert submitted.facts["hypertension"] is True  # merged, not replaced
        assert changed == [["pregnant"]]
    else:
        assert submitted.version == 1
        assert submitted.facts["pregnant"] is False
        assert changed == []


def test_patch_refuses_bad_values_per_field(api_client_for, submitted):
    client = api_client_for("ben")
    response = client.patch(f"/api/v1/intakes/{submitted.pk}", {"diastolic_mmhg": 150}, content_type="application/json")
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["detail"]} == {"diastolic_mmhg"}
    response = client.patch(f"/api/v1/intakes/{submitted.pk}", {"weight_kg": -3}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "weight_kg"
    submitted.refresh_from_db()
    assert submitted.version == 1


def test_create_with_data_and_422_naming_the_field(api_client_for, patient):
    client = api_client_for("ada")
    bad = client.post("/api/v1/intakes", create_body(patient, weight_kg="82.4"), content_type="application/json")
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["detail"]] == ["data.measured_on"]
    assert not Intake.objects.exists()
    good = client.post(
        "/api/v1/intakes",
        {"patient_id": patient.pk, "data": complete_data().model_dump(mode="json")},
        content_type="application/json",
    )
    assert good.status_code == 201
    assert good.json()["status"] == "draft"
    assert len(good.json()["data"]["trials"]) == 2


@pytest.mark.parametrize(("who", "code"), [("cy", 403), ("tess", 403), ("aud", 403), ("dee", 404)])
def test_create_denied(api_client_for, patient, who, code):
    response = api_client_for(who).post("/api/v1/intakes", create_body(patient), content_type="application/json")
    assert response.status_code == code
    assert not Intake.objects.exists()


def test_create_is_idempotent(api_client_for, patient):
    client = api_client_for("ada")
    headers = {"HTTP_IDEMPOTENCY_KEY": "abc-123"}
    body = create_body(patient, reason_for_referral="TRD")
    first = client.post("/api/v1/intakes", body, content_type="application/json", **headers)
    second = client.post("/api/v1/intakes", body, content_type="application/json", **headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Intake.objects.count() == 1
    other = client.post(
        "/api/v1/intakes", create_body(patient, reason_for_referral="x"), content_type="application/json", **headers
    )
    assert other.status_code == 422


def test_send_link_returns_the_url_once(api_client_for, actors, patient):
    from ketacare.screening import actions

    intake = actions.start_intake(actors["ben"], patient)
    client = api_client_for("cy")
    headers = {"HTTP_IDEMPOTENCY_KEY": "link-1"}
    first = client.post(f"/api/v1/intakes/{intake.pk}/link", **headers)
    assert first.status_code == 201
    assert "/intake/" in first.json()["url"]
    replay = client.post(f"/api/v1/intakes/{intake.pk}/link", **headers)
    assert replay.status_code == 200
    assert replay.json()["url"] is None
    assert PatientLink.objects.filter(subject_id=intake.pk).count() == 1
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SENT
    assert api_client_for("aud").post(f"/api/v1/intakes/{intake.pk}/link").status_code == 403


def test_no_link_for_a_submitted_intake(api_client_for, submitted):
    response = api_client_for("cy").post(f"/api/v1/intakes/{submitted.pk}/link")
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "intake_id"


def test_review_names_missing_fields_then_succeeds(api_client_for, submitted):
    client = api_client_for("ada")
    refused = client.post(f"/api/v1/intakes/{submitted.pk}/review")
    assert refused.status_code == 422
    fields = {e["field"] for e in refused.json()["detail"]}
    assert "interacting_medication" in fields
    data = complete_data().model_dump(mode="json")
    assert client.patch(f"/api/v1/intakes/{submitted.pk}", data, content_type="application/json").status_code == 200
    done = client.post(f"/api/v1/intakes/{submitted.pk}/review", HTTP_IDEMPOTENCY_KEY="r1")
    assert done.status_code == 200
    assert done.json()["status"] == "reviewed"
    again = client.post(f"/api/v1/intakes/{submitted.pk}/review", HTTP_IDEMPOTENCY_KEY="r1")
    assert again.status_code == 200  # replayed, not reviewed twice
    assert AuditEvent.objects.filter(event_type="intake.reviewed").count() == 1
    assert api_client_for("tess").post(f"/api/v1/intakes/{submitted.pk}/review").status_code == 403
