"""/api/v1/instruments, /api/v1/patients/{id}/responses and /api/v1/alerts."""

from __future__ import annotations

import pytest

from ketacare.measures.models import AlertStatus, Response, SafetyAlert

PHQ9 = {str(i): 0 for i in range(1, 10)} | {"1": 2, "2": 1, "10": 0}


def post(client, patient, body):
    return client.post(f"/api/v1/patients/{patient.pk}/responses", body, content_type="application/json")


def test_instruments_list_codes_items_and_options(api_client_for):
    body = api_client_for("ben").get("/api/v1/instruments").json()

    codes = {i["code"] for i in body}
    assert codes == {"phq9", "gad7", "pcl5", "cssrs_screen", "qids_sr16", "madrs", "cadss"}
    phq9 = next(i for i in body if i["code"] == "phq9")
    assert [it["id"] for it in phq9["items"]][:3] == ["1", "2", "3"]
    assert [o["value"] for o in phq9["items"][8]["options"]] == [0, 1, 2, 3]


def test_a_response_is_scored_and_an_endorsed_item9_returns_its_alert(api_client_for, patient):
    response = post(api_client_for("ben"), patient, {"instrument": "phq9", "answers": PHQ9 | {"9": 1}})

    assert response.status_code == 201
    body = response.json()
    alert = SafetyAlert.objects.get()
    assert {k: body[k] for k in ("instrument", "valid", "total", "severity", "alerts")} == {
        "instrument": "phq9",
        "valid": True,
        "total": 4,
        "severity": alert.response.severity,
        "alerts": [alert.pk],
    }


def test_missing_item_is_stored_invalid_without_total(api_client_for, patient):
    answers = {k: v for k, v in PHQ9.items() if k != "4"}
    body = post(api_client_for("ben"), patient, {"instrument": "phq9", "answers": answers}).json()

    assert (body["valid"], body["total"], body["alerts"]) == (False, None, [])


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"instrument": "phq9", "answers": PHQ9 | {"9": 4}}, {"answers.9"}),
        ({"instrument": "phq9", "answers": PHQ9 | {"99": 1}}, {"answers.99"}),
        ({"instrument": "nope", "answers": {}}, {"instrument"}),
        ({"answers": PHQ9}, {"instrument"}),
    ],
)
def test_bad_answers_are_422_naming_the_item_and_store_nothing(body, fields, api_client_for, patient):
    response = post(api_client_for("ben"), patient, body)

    assert response.status_code == 422
    assert {d["field"] for d in response.json()["detail"]} == fields
    assert not Response.objects.exists()


@pytest.mark.parametrize(("persona", "status"), [("cy", 403), ("ivy", 403), ("aud", 403), ("dee", 404), ("anon", 401)])
def test_who_may_not_record_a_response(persona, status, api_client_for, patient):
    assert post(api_client_for(persona), patient, {"instrument": "phq9", "answers": PHQ9}).status_code == status
    assert not Response.objects.exists()


def test_list_acknowledge_and_close_alerts(api_client_for, patient):
    nurse = api_client_for("ben")
    post(nurse, patient, {"instrument": "phq9", "answers": PHQ9 | {"9": 3}})
    alert = SafetyAlert.objects.get()

    listed = api_client_for("aud").get("/api/v1/alerts").json()
    assert [a["id"] for a in listed] == [alert.pk]
    assert api_client_for("aud").post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 403
    assert api_client_for("dee").post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 404

    acked = api_client_for("ada").post(f"/api/v1/alerts/{alert.pk}/acknowledge").json()
    assert acked["status"] == AlertStatus.ACKNOWLEDGED
    bad = api_client_for("ada").post(
        f"/api/v1/alerts/{alert.pk}/close",
        {"action_taken": "ok", "action_at": acked["raised_at"]},
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["detail"]} == {"action_taken"}
    closed = api_client_for("ada").post(
        f"/api/v1/alerts/{alert.pk}/close",
        {"action_taken": "Called the patient; safety plan reviewed.", "action_at": acked["raised_at"]},
        content_type="application/json",
    )
    assert closed.json()["status"] == AlertStatus.CLOSED
    assert api_client_for("aud").get("/api/v1/alerts").json() == []


def test_a_patients_responses_are_listed_newest_first(api_client_for, patient):
    nurse = api_client_for("ben")
    post(nurse, patient, {"instrument": "phq9", "answers": PHQ9, "completed_at": "2026-01-01T10:00:00Z"})
    post(nurse, patient, {"instrument": "phq9", "answers": PHQ9 | {"3": 3}, "completed_at": "2026-02-01T10:00:00Z"})

    body = api_client_for("aud").get(f"/api/v1/patients/{patient.pk}/responses").json()

    assert [r["total"] for r in body] == [6, 3]
    assert api_client_for("cy").get(f"/api/v1/patients/{patient.pk}/responses").status_code == 403
