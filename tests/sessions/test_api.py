"""/api/v1/sessions with the pages' rules: the token (401), roles (403), another clinic (404), a signed
session refusing every change (409), refusals per field that change nothing (422), Idempotency-Key
replays, and the Spravato discharge at 119 minutes refused / 120 accepted through the API."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.inventory.models import LedgerEntry
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import DoseAdministration, SessionAlert, TreatmentSession, VitalSigns
from tests.conftest import PASSWORD
from tests.sessions.conftest import START, advance
from tests.sessions.test_checks import on_record, ready  # noqa: F401
from tests.sessions.test_monitoring import dosed, move, observing, with_escort
from tests.sessions.test_signing import signed

API = "/api/v1/sessions"


def post(client, path, body=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"{API}{path}", body or {}, content_type="application/json", **headers)


def fields(response) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in response.json()["detail"]:
        out.setdefault(entry["field"], []).append(entry["msg"])
    return out


# --- token, roles, clinic ------------------------------------------------------------------------


def test_no_token_is_401(api_client_for, iv_session):
    anon = api_client_for("anon")
    assert anon.get(API).status_code == 401
    assert anon.get(f"{API}/{iv_session.pk}").status_code == 401
    assert post(anon, f"/{iv_session.pk}/check-in").status_code == 401
    iv_session.refresh_from_db()
    assert iv_session.state == State.SCHEDULED


@pytest.mark.parametrize(("key", "status"), [("ben", 200), ("ada", 200), ("aud", 200), ("ivy", 403), ("cy", 403)])
def test_who_may_read_a_session(api_client_for, iv_session, key, status):
    assert api_client_for(key).get(f"{API}/{iv_session.pk}").status_code == status


def test_another_clinic_is_404(api_client_for, iv_session, dee_prescriber):
    dee = api_client_for("dee")
    assert dee.get(f"{API}/{iv_session.pk}").status_code == 404
    assert post(dee, f"/{iv_session.pk}/check-in").status_code == 404
    assert post(dee, f"/{iv_session.pk}/vitals", {"systolic_bp": 120, "diastolic_bp": 80}).status_code == 404
    assert dee.get(API).json() == []


@pytest.mark.parametrize(
    ("key", "path", "body"),
    [
        ("tess", "/check-in", {}),
        ("ivy", "/check-in", {}),
        ("tess", "/vitals", {"heart_rate": 80}),
        ("cy", "/vitals", {"heart_rate": 80}),
        ("aud", "/cancel", {"reason": "x"}),
        ("ben", "/baseline/decision", {"decision": "proceed", "reason": "x"}),
    ],
)
def test_roles_without_the_permission_are_403_and_nothing_changes(api_client_for, iv_session, key, path, body):
    assert post(api_client_for(key), f"/{iv_session.pk}{path}", body).status_code == 403
    iv_session.refresh_from_db()
    assert iv_session.state == State.SCHEDULED


# --- list, detail, booking ------------------------------------------------------------------------


def test_list_with_filters_and_audit(api_client_for, iv_session, spravato_session, location):
    ben = api_client_for("ben")
    rows = ben.get(API, {"location": location.pk, "date": "2026-11-24"}).json()
    assert {r["id"] for r in rows} == {iv_session.pk, spravato_session.pk}
    assert ben.get(API, {"date": "2026-11-25"}).json() == []
    assert ben.get(API, {"state": "checked_in"}).json() == []
    assert "state" in fields(ben.get(API, {"state": "nonsense"}))
    # The front desk lists the day to check patients in.
    assert len(api_client_for("cy").get(API).json()) == 2
    assert api_client_for("ivy").get(API).status_code == 403
    assert AuditEvent.objects.filter(event_type="session.listed").count() == 4


def test_detail_has_everything_charted(actors, api_client_for, iv_session, clock):
    observing(actors, iv_session)
    from ketacare.sessions import monitoring

    monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=130, diastolic_bp=82, heart_rate=130, spo2=97)
    body = api_client_for("ben").get(f"{API}/{iv_session.pk}").json()
    assert body["state"] == "observation"
    assert body["vitals"][0]["heart_rate"] == 130
    assert body["alerts"][0]["status"] == "open"  # heart rate above the clinic's 120 (clinic-set threshold)
    assert {g["id"] for g in body["gates"]} >= {"observation", "escort"}
    assert body["may_discharge"] is False
    assert [e["to_state"] for e in body["timeline"] if e["kind"] == "state"][-1] == "observation"
    for key in ("checks", "doses", "assessments", "side_effects", "signatures", "addenda", "vitals_due"):
        assert isinstance(body[key], list)
    assert AuditEvent.objects.filter(event_type="session.viewed", patient=iv_session.patient).exists()


def test_book_from_a_plan_once_per_key(api_client_for, iv_plan, chair, location):
    cy = api_client_for("cy")
    body = {"plan_id": iv_plan.pk, "scheduled_at": "2026-11-26T10:00:00-06:00", "chair_id": chair.pk}
    first = post(cy, "", body, key="book-1")
    assert first.status_code == 201
    again = post(cy, "", body, key="book-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert TreatmentSession.objects.filter(plan=iv_plan).count() == 1
    assert first.json()["session"]["sequence"] == 1
    # The same key with another body is refused; nothing more is booked.
    assert post(cy, "", {**body, "scheduled_at": "2026-11-27T10:00:00-06:00"}, key="book-1").status_code == 422
    assert TreatmentSession.objects.filter(plan=iv_plan).count() == 1


def test_one_off_order_is_for_prescribers_with_a_reason(api_client_for, patient, iv_version):
    body = {
        "patient_id": patient.pk,
        "protocol_version_id": iv_version.pk,
        "dose_mg": "35",
        "reason": "Rescue session",
        "scheduled_at": "2026-11-24T11:00:00-06:00",
    }
    assert post(api_client_for("ben"), "", body).status_code == 403
    refused = post(api_client_for("ada"), "", {**body, "reason": ""})
    assert refused.status_code == 422
    assert "reason" in fields(refused)
    made = post(api_client_for("ada"), "", body)
    assert made.status_code == 201
    assert made.json()["session"]["planned_dose_mg"] == "35"
    assert made.json()["session"]["plan_id"] is None


def test_check_in_cancel_and_their_refusals(api_client_for, iv_session, chair):
    cy = api_client_for("cy")
    refused = post(cy, f"/{iv_session.pk}/cancel", {"reason": " "})
    assert refused.status_code == 422
    assert "reason" in fields(refused)
    iv_session.refresh_from_db()
    assert iv_session.state == State.SCHEDULED
    done = post(cy, f"/{iv_session.pk}/check-in", {"chair_id": chair.pk}, key="ci-1")
    assert done.status_code == 200
    assert done.json()["session"]["state"] == "checked_in"
    assert post(cy, f"/{iv_session.pk}/check-in", {"chair_id": chair.pk}, key="ci-1").status_code == 200  # replay
    assert iv_session.events.filter(to_state="checked_in").count() == 1
    assert post(cy, f"/{iv_session.pk}/cancel", {"reason": "Felt unwell"}).json()["session"]["state"] == "cancelled"
    # Cancelled: every change is 409.
    assert post(cy, f"/{iv_session.pk}/check-in").status_code == 409


def test_stop_needs_a_reason(actors, api_client_for, iv_session):
    dosed(actors, iv_session)
    ada = api_client_for("ada")
    refused = post(ada, f"/{iv_session.pk}/stop", {"reason": ""})
    assert refused.status_code == 422
    assert "reason" in fields(refused)
    assert post(ada, f"/{iv_session.pk}/stop", {"reason": "Vomiting"}).json()["session"]["state"] == "stopped_early"


# --- charting -----------------------------------------------------------------------------------------


def test_vitals_422_per_field_change_nothing(actors, api_client_for, iv_session):
    dosed(actors, iv_session)
    ben = api_client_for("ben")
    refused = post(ben, f"/{iv_session.pk}/vitals", {"systolic_bp": 120})
    assert refused.status_code == 422
    assert "diastolic_bp" in fields(refused)
    future = post(ben, f"/{iv_session.pk}/vitals", {"heart_rate": 80, "taken_at": "2026-11-24T15:30:00+00:00"})
    assert future.status_code == 422
    assert "taken_at" in fields(future)
    assert VitalSigns.objects.filter(session=iv_session).count() == 0
    ok = post(ben, f"/{iv_session.pk}/vitals", {"systolic_bp": 128, "diastolic_bp": 80, "heart_rate": 78}, key="v1")
    assert ok.status_code == 201
    assert (
        post(
            ben, f"/{iv_session.pk}/vitals", {"systolic_bp": 128, "diastolic_bp": 80, "heart_rate": 78}, key="v1"
        ).status_code
        == 200
    )
    assert VitalSigns.objects.filter(session=iv_session).count() == 1


def test_alert_acknowledge_and_resolve(actors, api_client_for, iv_session):
    dosed(actors, iv_session)
    ben, ada = api_client_for("ben"), api_client_for("ada")
    assert post(ben, f"/{iv_session.pk}/vitals", {"heart_rate": 135}).status_code == 201
    alert = SessionAlert.objects.get(session=iv_session)
    assert post(ben, f"/{iv_session.pk}/alerts/{alert.pk}/acknowledge").status_code == 200
    assert post(ben, f"/{iv_session.pk}/alerts/{alert.pk}/resolve", {"resolution": "x"}).status_code == 403
    assert (
        post(ada, f"/{iv_session.pk}/alerts/{alert.pk}/resolve", {"resolution": "Settled at rest"}).status_code == 200
    )
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert post(ben, f"/{iv_session.pk}/alerts/999999/acknowledge").status_code == 404


@pytest.mark.usefixtures("on_record")
def test_a_dose_through_the_api_points_at_its_ledger_entry(actors, api_client_for, iv_session, ketamine_lot):
    ready(actors, iv_session)
    body = {"lot_id": ketamine_lot.pk, "quantity_mg": "40", "quantity_ml": "0.8", "rate_ml_per_hour": "120"}
    given = post(api_client_for("ben"), f"/{iv_session.pk}/doses", body, key="dose-1")
    assert given.status_code == 201, given.json()
    result = given.json()["result"]
    dose = DoseAdministration.objects.get(pk=result["dose_id"])
    assert dose.ledger_entry_id == result["ledger_entry_id"]
    assert LedgerEntry.objects.get(pk=result["ledger_entry_id"]).session_ref == iv_session.ref
    assert post(api_client_for("ben"), f"/{iv_session.pk}/doses", body, key="dose-1").status_code == 200
    assert DoseAdministration.objects.filter(session=iv_session).count() == 1
    detail = api_client_for("ben").get(f"{API}/{iv_session.pk}").json()
    assert detail["doses"][0]["ledger_entry_id"] == dose.ledger_entry_id
    assert detail["doses"][0]["dose_mg"] == "40"


def test_spravato_discharge_at_119_minutes_refused_and_at_120_accepted(actors, api_client_for, spravato_session, clock):
    ben = api_client_for("ben")
    sid = spravato_session.pk
    with_escort(spravato_session)
    dosed(actors, spravato_session)  # first device at 09:00
    advance(clock, 5)
    move(actors["ben"], spravato_session, State.OBSERVATION)
    advance(clock, 35)
    assert post(ben, f"/{sid}/vitals", {"systolic_bp": 138, "diastolic_bp": 86, "spo2": 97}).status_code == 201
    advance(clock, 75)
    assert post(ben, f"/{sid}/vitals", {"systolic_bp": 128, "diastolic_bp": 80, "spo2": 98}).status_code == 201
    for item in spravato_session.protocol.discharge_checklist:
        assert post(ben, f"/{sid}/checklist", {"item_id": item.id, "done": True}).status_code == 200
    assert post(ben, f"/{sid}/escort-present").status_code == 200
    assert post(ben, f"/{sid}/ready").status_code == 200
    advance(clock, 4)  # 119 minutes after the first device
    refused = post(ben, f"/{sid}/discharge", key="dc-1")
    assert refused.status_code == 422
    assert fields(refused) == {"discharge": ["Observation: 119 of 120 minutes from the first device — 1 minute left"]}
    spravato_session.refresh_from_db()
    assert spravato_session.state == State.READY_FOR_DISCHARGE
    advance(clock, 1)  # 120 minutes: the same key may be sent again (a refusal leaves no trace)
    done = post(ben, f"/{sid}/discharge", key="dc-1")
    assert done.status_code == 200
    assert done.json()["session"]["state"] == "discharged"
    assert done.json()["session"]["discharged_at"].startswith("2026-11-24T17:00")


def test_sign_through_the_api_then_the_session_is_read_only(actors, api_client_for, iv_session):
    observing(actors, iv_session)
    move(actors["ben"], iv_session, State.STOPPED_EARLY, reason="Nausea")
    ben, ada = api_client_for("ben"), api_client_for("ada")
    wrong = post(ben, f"/{iv_session.pk}/sign", {"password": "not it"})
    assert wrong.status_code == 422
    assert "password" in fields(wrong)
    assert AuditEvent.objects.filter(event_type="session.sign_refused", patient=iv_session.patient).exists()
    assert post(ben, f"/{iv_session.pk}/sign", {"password": PASSWORD}).status_code == 200
    assert post(ada, f"/{iv_session.pk}/sign", {"password": PASSWORD}).json()["session"]["state"] == "signed"
    assert post(ben, f"/{iv_session.pk}/vitals", {"heart_rate": 80}).status_code == 409
    added = post(ben, f"/{iv_session.pk}/addenda", {"text": "BP cuff was the large one."})
    assert added.status_code == 201
    assert api_client_for("ben").get(f"{API}/{iv_session.pk}").json()["addenda"][0]["text"].startswith("BP cuff")


SIGNED_POSTS = [
    ("/check-in", {}),
    ("/cancel", {"reason": "x"}),
    ("/stop", {"reason": "x"}),
    ("/checks/begin", {}),
    ("/checks", {"item": "identity", "status": "passed", "value": {"name": True, "date_of_birth": True}}),
    ("/escort", {"name": "Pat Lee", "phone": "312-555-0101"}),
    ("/baseline", {"systolic_bp": 120, "diastolic_bp": 80}),
    ("/baseline/decision", {"decision": "proceed", "reason": "x"}),
    ("/doses", {"lot_id": 0, "quantity_mg": "40", "quantity_ml": "0.8"}),
    ("/doses/stop", {"dose_id": 0}),
    ("/doses/end", {}),
    ("/vitals", {"heart_rate": 80}),
    ("/assessments", {"moaas": 5}),
    ("/side-effects", {"kind": "nausea", "severity": "mild"}),
    ("/alerts/1/acknowledge", {}),
    ("/alerts/1/resolve", {"resolution": "x"}),
    ("/checklist", {"item_id": "x", "done": True}),
    ("/escort-present", {}),
    ("/ready", {}),
    ("/discharge", {}),
    ("/sign", {"password": PASSWORD}),
    ("/pmf", {"values": {}}),
]


@pytest.mark.parametrize(("path", "body"), SIGNED_POSTS, ids=[p for p, _ in SIGNED_POSTS])
def test_a_signed_session_answers_every_change_with_409(actors, api_client_for, iv_session, path, body):
    signed(actors, iv_session)
    events = iv_session.events.count()
    response = post(api_client_for("ada"), f"/{iv_session.pk}{path}", body, key=f"k-{path}")
    assert response.status_code == 409, response.json()
    assert "signed" in response.json()["detail"]
    assert iv_session.events.count() == events


def test_rems_due_queue(actors, api_client_for, spravato_session):
    dosed(actors, spravato_session)
    rows = api_client_for("ben").get(f"{API}/rems/due").json()
    assert [r["session_id"] for r in rows] == [spravato_session.pk]
    assert rows[0]["due_date"] == (START.date() + datetime.timedelta(days=7)).isoformat()
    assert api_client_for("ivy").get(f"{API}/rems/due").status_code == 403


def test_decimal_doses_travel_as_strings(api_client_for, iv_session):
    body = api_client_for("ben").get(f"{API}/{iv_session.pk}").json()
    assert body["planned_dose_mg"] == format(Decimal(iv_session.planned_dose_mg).normalize(), "f")


def test_pmf_values_422_per_field_then_saved(actors, api_client_for, spravato_session, iv_session):
    dosed(actors, spravato_session)
    ben = api_client_for("ben")
    refused = post(ben, f"/{spravato_session.pk}/pmf", {"values": {"ready_to_leave_minutes": "soon"}})
    assert refused.status_code == 422
    assert "ready_to_leave_minutes" in fields(refused)
    saved = post(ben, f"/{spravato_session.pk}/pmf", {"values": {"ready_to_leave_minutes": "90"}})
    assert saved.status_code == 200
    detail = ben.get(f"{API}/{spravato_session.pk}").json()
    assert detail["rems_form"]["values"] == {"ready_to_leave_minutes": 90}
    # An IV session has no form.
    dosed(actors, iv_session)
    assert "pmf" in fields(post(ben, f"/{iv_session.pk}/pmf", {"values": {}}))


def test_pmf_submission_needs_the_permission_and_a_signed_form(actors, api_client_for, spravato_session):
    dosed(actors, spravato_session)
    ben = api_client_for("ben")
    post(ben, f"/{spravato_session.pk}/pmf", {"values": {"ready_to_leave_minutes": "90"}})
    body = {"submitted_on": "2026-11-24", "method": "online", "confirmation_number": "RX-1"}
    assert post(api_client_for("tess"), f"/{spravato_session.pk}/pmf/submission", body).status_code == 403
    incomplete = post(ben, f"/{spravato_session.pk}/pmf/submission", {**body, "confirmation_number": ""})
    assert incomplete.status_code == 422
    assert "confirmation_number" in fields(incomplete)
    unsigned = post(ben, f"/{spravato_session.pk}/pmf/submission", body, key="sub-1")
    assert unsigned.status_code == 422
    assert "Sign the session first" in fields(unsigned)["submitted_on"][0]
