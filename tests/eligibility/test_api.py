"""/api/v1/eligibility: reads, evaluations and decisions with the same rules as the pages."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ketacare.accounts.actions import create_api_token
from ketacare.audit.models import AuditEvent
from ketacare.eligibility.models import EligibilityDecision, ScreeningEvaluation
from tests.conftest import ALL_PERSONAS
from tests.eligibility.conftest import make_intake

URL = "/api/v1/eligibility"
VIEWERS = {"ann", "ada", "ben", "tess", "aud"}
EVALUATORS = {"ann", "ada", "ben"}


def _post(client: Client, path: str, body: dict, **headers: str):
    return client.post(f"{URL}{path}", json.dumps(body), content_type="application/json", **headers)


@pytest.mark.parametrize("key", [*ALL_PERSONAS, "anon"])
def test_get_authorization(key, api_client_for, patient, evaluate, decide):
    decide(evaluate(make_intake(patient, hypertension=True), "iv"), "eligible_with_precautions", precautions="BP")
    response = api_client_for(key).get(URL, {"patient_id": patient.pk})
    if key in VIEWERS:
        assert response.status_code == 200
        body = response.json()
        iv = next(r for r in body["routes"] if r["route"] == "iv")
        assert iv["evaluation"]["status"] == "caution"
        assert iv["evaluation"]["current"] is True
        rule = next(r for r in iv["evaluation"]["results"] if r["id"] == "hypertension_history")
        assert rule["outcome"] == "caution"
        assert rule["citation"] == f"{', '.join(rule['sources'])} · clinical.md §{rule['section']}"
        assert iv["decision"]["decision"] == "eligible_with_precautions"
        assert iv["decision"]["allows_plan"] is True
        assert next(r for r in body["routes"] if r["route"] == "im")["decision"] is None
    else:
        assert response.status_code == {"anon": 401, "dee": 404}.get(key, 403)


@pytest.mark.parametrize("key", [*ALL_PERSONAS, "anon"])
def test_evaluations_authorization(key, api_client_for, patient):
    intake = make_intake(patient, pregnant=True)
    response = _post(api_client_for(key), "/evaluations", {"intake_id": intake.pk, "route": None})
    if key in EVALUATORS:
        assert response.status_code == 200
        body = response.json()
        assert [e["route"] for e in body] == ["iv", "im", "intranasal_esketamine", "oral"]
        assert body[0]["status"] == "contraindicated"
        assert ScreeningEvaluation.objects.count() == 4
        # a repeat stores nothing new
        again = _post(api_client_for(key), "/evaluations", {"intake_id": intake.pk, "route": "iv"})
        assert again.json()[0]["id"] == body[0]["id"]
        assert ScreeningEvaluation.objects.count() == 4
    else:
        assert response.status_code == {"anon": 401, "dee": 404}.get(key, 403)
        assert not ScreeningEvaluation.objects.exists()


def _decision_body(evaluation, **kw):
    return {
        "patient_id": evaluation.patient_id,
        "route": evaluation.route,
        "decision": "eligible",
        "evaluation_id": evaluation.pk,
        **kw,
    }


@pytest.mark.parametrize("key", [*ALL_PERSONAS, "anon"])
def test_decisions_authorization(key, api_client_for, patient, evaluate):
    evaluation = evaluate(make_intake(patient), "iv")
    response = _post(api_client_for(key), "/decisions", _decision_body(evaluation))
    if key == "ada":
        assert response.status_code == 201
        assert response.json()["decision"] == "eligible"
        assert response.json()["decided_by"] == "Ada Okafor"
        event = AuditEvent.objects.get(event_type="eligibility_decision.recorded")
        assert event.via == "api"
    else:
        assert response.status_code == (401 if key == "anon" else 403)
        assert not EligibilityDecision.objects.exists()


def test_a_prescriber_of_another_clinic_gets_404(outside_prescriber, other_clinic, patient, evaluate):
    evaluation = evaluate(make_intake(patient), "iv")
    _, raw = create_api_token(outside_prescriber, other_clinic, "tests")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert _post(client, "/decisions", _decision_body(evaluation)).status_code == 404
    assert client.get(URL, {"patient_id": patient.pk}).status_code == 404
    assert _post(client, "/evaluations", {"intake_id": evaluation.intake_id}).status_code == 404
    assert not EligibilityDecision.objects.exists()


def test_a_prescriber_of_another_clinic_gets_404_on_the_pages(outside_prescriber, patient, evaluate):
    from django.urls import reverse

    evaluation = evaluate(make_intake(patient), "iv")
    client = Client()
    client.force_login(outside_prescriber)
    url = reverse("eligibility-decide", args=[patient.pk, "iv"])
    assert client.post(url, {"iv-evaluation_id": evaluation.pk, "iv-decision": "eligible"}).status_code == 404
    assert client.get(reverse("eligibility-review", args=[patient.pk])).status_code == 404
    assert not EligibilityDecision.objects.exists()


def test_422_names_each_rule_as_overrides_dot_rule_id(api_client_for, patient, evaluate):
    evaluation = evaluate(make_intake(patient, hypertension_uncontrolled=True, hypertension=True), "iv")
    response = _post(api_client_for("ada"), "/decisions", _decision_body(evaluation))
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["detail"]}
    assert fields == {"overrides.hypertension_uncontrolled", "overrides.hypertension_history"}
    response = _post(
        api_client_for("ada"), "/decisions", _decision_body(evaluation, decision="eligible_with_precautions")
    )
    assert {d["field"] for d in response.json()["detail"]} == {"overrides.hypertension_uncontrolled", "precautions"}
    response = _post(api_client_for("ada"), "/decisions", _decision_body(evaluation, decision="perhaps"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "decision"
    assert not EligibilityDecision.objects.exists()


def test_idempotency_key_records_one_decision(api_client_for, patient, evaluate):
    evaluation = evaluate(make_intake(patient, hypertension_uncontrolled=True), "iv")
    client = api_client_for("ada")
    body = _decision_body(
        evaluation,
        decision="eligible_with_precautions",
        precautions="BP every 15 minutes",
        overrides={"hypertension_uncontrolled": "Controlled now: 126/80."},
    )
    first = _post(client, "/decisions", body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _post(client, "/decisions", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["overrides"][0]["rule_id"] == "hypertension_uncontrolled"
    assert EligibilityDecision.objects.count() == 1
    other = _post(client, "/decisions", {**body, "reason": "different"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    # a refused request leaves the key free to be used again once corrected
    bad = _post(client, "/decisions", {**body, "precautions": ""}, HTTP_IDEMPOTENCY_KEY="k-2")
    assert bad.status_code == 422
    assert EligibilityDecision.objects.count() == 1
