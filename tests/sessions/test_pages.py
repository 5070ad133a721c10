"""The session spine's pages: today's list, booking, check-in, the chairside page, cancel and stop,
who may see them (403 for roles, 404 for another clinic) and the 409 of a locked session."""

from __future__ import annotations

import pytest
from django.db import transaction

from ketacare.audit.models import AuditEvent
from ketacare.sessions import core
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import TreatmentSession


def test_front_desk_sees_today_and_checks_in(client_for, iv_session, chair):
    cy = client_for("cy")
    page = cy.get("/sessions/")
    assert page.status_code == 200
    assert iv_session.patient.display_name in page.content.decode()
    done = cy.post(f"/sessions/{iv_session.pk}/check-in/", {"chair": chair.pk, "next": "today"})
    assert done.status_code == 302
    iv_session.refresh_from_db()
    assert iv_session.state == State.CHECKED_IN
    # The chart itself is clinical: the front desk may not open it.
    assert cy.get(f"/sessions/{iv_session.pk}/").status_code == 403


def test_nurse_opens_the_chairside_page_and_it_is_audited(client_for, iv_session):
    page = client_for("ben").get(f"/sessions/{iv_session.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "40 mg" in body
    assert "Chair 1" in body
    assert AuditEvent.objects.filter(event_type="session.viewed", patient=iv_session.patient).exists()


@pytest.mark.parametrize(("key", "status"), [("ivy", 403), ("cy", 403), ("dee", 404)])
def test_who_may_not_open_a_session(client_for, iv_session, dee_prescriber, key, status):
    assert client_for(key).get(f"/sessions/{iv_session.pk}/").status_code == status


@pytest.mark.parametrize("key", ["tess", "aud", "ivy"])
def test_roles_without_check_in_cannot_check_in(client_for, iv_session, key):
    assert client_for(key).post(f"/sessions/{iv_session.pk}/check-in/").status_code == 403
    iv_session.refresh_from_db()
    assert iv_session.state == State.SCHEDULED


def test_today_sends_booking_to_the_schedule(client_for, iv_session):
    page = client_for("cy").get("/sessions/")
    assert 'data-testid="book-in-schedule"' in page.content.decode()
    assert client_for("cy").post("/sessions/book/", {"plan": iv_session.plan_id}).status_code == 404


def test_cancel_needs_a_reason_and_a_cancelled_session_answers_409(client_for, iv_session):
    ben = client_for("ben")
    assert ben.post(f"/sessions/{iv_session.pk}/cancel/", {"reason": ""}).status_code == 422
    assert ben.post(f"/sessions/{iv_session.pk}/cancel/", {"reason": "Unwell"}).status_code == 302
    again = ben.post(f"/sessions/{iv_session.pk}/check-in/")
    assert again.status_code == 409
    assert "cancelled" in again.content.decode()


def test_a_signed_session_refuses_page_changes_with_409(actors, client_for, iv_session):
    with transaction.atomic():
        s = core.locked_session(actors["ben"], iv_session, "session.chart")
        for target in (State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING, State.STOPPED_EARLY, State.SIGNED):
            core.transition(actors["ben"], s, target, reason="test")
    ben = client_for("ben")
    for url in ("seat/", "stop/", "cancel/"):
        response = ben.post(f"/sessions/{iv_session.pk}/{url}", {"reason": "x"})
        assert response.status_code == 409, url
        assert "signed and read-only" in response.content.decode()
    page = ben.get(f"/sessions/{iv_session.pk}/").content.decode()
    assert 'data-testid="session-locked"' in page


def test_patient_sessions_list(client_for, iv_session):
    page = client_for("ada").get(f"/sessions/patients/{iv_session.patient_id}/")
    assert page.status_code == 200
    assert "1 of 6" in page.content.decode()


def test_a_prescriber_orders_a_one_off_session_with_a_reason(client_for, patient, iv_version, location):
    ada = client_for("ada")
    page = ada.get(f"/sessions/patients/{patient.pk}/")
    assert 'data-testid="order"' in page.content.decode()
    form = {
        "protocol_version": iv_version.pk,
        "dose_mg": "35",
        "location": location.pk,
        "date": "2026-11-25",
        "time": "10:00",
        "reason": "",
        "form_token": "0b5b0f4c-51f0-4c2b-8d27-0d6c3c8b0a11",
    }
    refused = ada.post(f"/sessions/patients/{patient.pk}/order/", form)
    assert refused.status_code == 422
    assert "Say why" in refused.content.decode()
    assert not TreatmentSession.objects.exists()
    form["reason"] = "Booster after relapse"
    form["form_token"] = "7d1f6f0e-6f59-4d8a-9a53-2f5f8b2f3c21"
    done = ada.post(f"/sessions/patients/{patient.pk}/order/", form)
    assert done.status_code == 302
    made = TreatmentSession.objects.get()
    assert made.plan is None
    assert made.order_reason == "Booster after relapse"
    assert str(made.planned_dose_mg) == "35.000"


@pytest.mark.parametrize("key", ["ben", "cy", "tess"])
def test_only_a_prescriber_orders(client_for, patient, iv_version, location, key):
    form = {"protocol_version": iv_version.pk, "dose_mg": "35", "location": location.pk, "date": "2026-11-25"}
    assert (
        client_for(key)
        .post(f"/sessions/patients/{patient.pk}/order/", {**form, "time": "10:00", "reason": "x"})
        .status_code
        == 403
    )
    assert not TreatmentSession.objects.exists()


def test_the_charts_sessions_tab(client_for, iv_session, django_assert_max_num_queries):
    ada = client_for("ada")
    with django_assert_max_num_queries(12):
        tab = ada.get(f"/sessions/patients/{iv_session.patient_id}/chart/")
    assert tab.status_code == 200
    assert "1 of 6" in tab.content.decode()
    assert client_for("cy").get(f"/sessions/patients/{iv_session.patient_id}/chart/").status_code == 403


@pytest.mark.parametrize("key", ["ivy", "aud"])
def test_roles_without_the_floor_do_not_see_todays_sessions(client_for, iv_session, key):
    assert client_for(key).get("/sessions/").status_code == 403
    assert client_for(key).get("/schedule/book/").status_code == 403  # nor book in the schedule
