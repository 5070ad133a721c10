"""REMS pages: the chairside PMF section, staff answers, the PDF, the submission form and the due
queue; who may use them (403 by role, 404 another clinic), 409 once signed, query count pinned."""

from __future__ import annotations

import datetime
import hashlib

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.sessions import core, pmf
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import RemsMonitoringForm
from tests.sessions import test_pmf as base
from tests.sessions.test_pmf import STAFF_ANSWERS, move

# The PMF tests' fixtures: a dosed Spravato session, the same discharged at 120 min, its signed form.
dosed = base.dosed
discharged = base.discharged
signed_form = base.signed_form


def test_chairside_shows_the_form_filled_from_the_record(client_for, discharged):
    page = client_for("ben").get(f"/sessions/{discharged.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="pmf-section"' in body
    assert "from the record" in body
    assert "SP2001" in body
    assert 'name="pmf_ready_to_leave_minutes"' in body  # staff answer this one
    assert 'name="pmf_lot_number"' not in body  # the record gives it: read-only
    assert 'data-testid="pmf-blockers"' in body
    assert "Due Tue 2026-12-01" in body
    assert "7 days left" in body
    assert "ketacare/sessions-rems.css" in body
    assert 'href="/sessions/rems/"' in body
    assert not RemsMonitoringForm.objects.exists() or RemsMonitoringForm.objects.count() == 1


def test_chairside_has_no_rems_section_for_iv(client_for, iv_session):
    body = client_for("ben").get(f"/sessions/{iv_session.pk}/").content.decode()
    assert 'data-testid="pmf-section"' not in body


def test_get_writes_nothing(client_for, dosed):
    assert client_for("ben").get(f"/sessions/{dosed.pk}/").status_code == 200
    assert not RemsMonitoringForm.objects.exists()


def test_staff_answers_saved_and_errors_next_to_the_field(client_for, discharged):
    ben = client_for("ben")
    bad = ben.post(f"/sessions/{discharged.pk}/pmf/", {"pmf_ready_to_leave_minutes": "soon"})
    assert bad.status_code == 422
    assert "enter a number" in bad.content.decode()
    assert 'invalid-feedback d-block">If there was not a 2-hour minimum' in bad.content.decode()
    assert not RemsMonitoringForm.objects.filter(values__has_key="ready_to_leave_minutes").exists()
    ok = ben.post(f"/sessions/{discharged.pk}/pmf/", {"pmf_ready_to_leave_minutes": "95"})
    assert ok.status_code == 302
    assert ok["Location"].endswith("#rems")
    assert RemsMonitoringForm.objects.get(session=discharged).values == {"ready_to_leave_minutes": 95}
    assert pmf.signing_blockers(discharged) == []


@pytest.mark.parametrize(("key", "status"), [("tess", 403), ("cy", 403), ("aud", 403), ("ann", 403), ("dee", 404)])
def test_who_may_not_answer(client_for, discharged, dee_prescriber, key, status):
    assert client_for(key).post(f"/sessions/{discharged.pk}/pmf/", STAFF_ANSWERS).status_code == status
    assert not RemsMonitoringForm.objects.filter(values__has_key="ready_to_leave_minutes").exists()


def test_signed_session_pdf_and_409(client_for, signed_form, actors):
    session = signed_form.session
    ben = client_for("ben")
    refused = ben.post(f"/sessions/{session.pk}/pmf/", {"pmf_ready_to_leave_minutes": "10"})
    assert refused.status_code == 409
    assert RemsMonitoringForm.objects.get(pk=signed_form.pk).values["ready_to_leave_minutes"] == 90
    page = ben.get(f"/sessions/{session.pk}/").content.decode()
    assert 'data-testid="pmf-pdf"' in page
    assert 'name="pmf_ready_to_leave_minutes"' not in page
    pdf = ben.get(f"/sessions/{session.pk}/pmf.pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == signed_form.pdf_sha256
    assert AuditEvent.objects.filter(event_type="pmf_pdf.downloaded", patient=session.patient).count() == 1
    assert client_for("aud").get(f"/sessions/{session.pk}/pmf.pdf").status_code == 200


@pytest.mark.parametrize(("key", "status"), [("cy", 403), ("ivy", 403), ("dee", 404)])
def test_who_may_not_download(client_for, signed_form, dee_prescriber, key, status):
    assert client_for(key).get(f"/sessions/{signed_form.session_id}/pmf.pdf").status_code == status


def test_no_pdf_before_signing(client_for, discharged):
    assert client_for("ben").get(f"/sessions/{discharged.pk}/pmf.pdf").status_code == 404


def test_submission_through_the_page(client_for, signed_form):
    session = signed_form.session
    ben = client_for("ben")
    future = ben.post(
        f"/sessions/{session.pk}/pmf/submission/",
        {"submitted_on": "2026-11-30", "method": "online", "confirmation_number": "C-1"},
    )
    assert future.status_code == 422
    assert "in the future" in future.content.decode()
    form = {
        "submitted_on": "2026-11-24",
        "method": "online",
        "confirmation_number": "SR-123",
        "form_token": "0b7f8a52-5d3a-4a43-9c53-18f1b0a3c111",
    }
    assert ben.post(f"/sessions/{session.pk}/pmf/submission/", form).status_code == 302
    assert ben.post(f"/sessions/{session.pk}/pmf/submission/", form).status_code == 302  # a double click
    saved = RemsMonitoringForm.objects.get(pk=signed_form.pk)
    assert (saved.submitted_on, saved.confirmation_number) == (datetime.date(2026, 11, 24), "SR-123")
    assert AuditEvent.objects.filter(event_type="pmf.submitted").count() == 1
    page = ben.get(f"/sessions/{session.pk}/").content.decode()
    assert 'data-testid="pmf-submitted"' in page


@pytest.mark.parametrize(("key", "status"), [("tess", 403), ("aud", 403), ("cy", 403), ("dee", 404)])
def test_who_may_not_record_a_submission(client_for, signed_form, dee_prescriber, key, status):
    response = client_for(key).post(
        f"/sessions/{signed_form.session_id}/pmf/submission/",
        {"submitted_on": "2026-11-24", "method": "fax", "confirmation_number": "X"},
    )
    assert response.status_code == status
    assert RemsMonitoringForm.objects.get(pk=signed_form.pk).submitted_on is None


# --- the queue ------------------------------------------------------------------------------


def test_queue_overdue_first_marked_and_query_count_pinned(
    client_for, actors, spravato_plan, chair2, location, spravato_lot, clock, django_assert_num_queries
):
    # Three dosed sessions: 10 days ago (overdue), 3 days ago (4 days left), today (no form row yet).
    sessions = []
    for days_ago in (10, 3, 0):
        when = datetime.datetime(2026, 11, 24, 15, tzinfo=datetime.UTC) - datetime.timedelta(days=days_ago)
        clock.move_to(when)
        s = core.create_from_plan(actors["cy"], spravato_plan, scheduled_at=when, chair=chair2)
        core.check_in(actors["ben"], s)
        s = move(s, actors["ben"], State.PRE_DOSE_CHECKS)
        s = move(s, actors["ben"], State.DOSING)
        if days_ago:
            pmf.ensure_form(s)
        sessions.append(s)
    clock.move_to(datetime.datetime(2026, 11, 24, 15, tzinfo=datetime.UTC))
    ben = client_for("ben")
    ben.get("/sessions/rems/")  # warm the session/auth caches (11 = 4 sign-in + 2 queue + audit + 4 framework)
    with django_assert_num_queries(11):
        page = ben.get("/sessions/rems/")
    assert page.status_code == 200
    body = page.content.decode()
    rows = [body.index(f'data-testid="rems-row-{s.pk}"') for s in sessions]
    assert rows == sorted(rows)  # overdue first, then by due date
    assert "Overdue 3 days" in body
    assert "⚠" in body
    assert "4 days" in body
    assert "7 days" in body
    assert "Session not signed yet" in body
    assert AuditEvent.objects.filter(event_type="pmf.queue_viewed").exists()
    # More forms do not cost more queries.
    for _ in range(2):
        when = datetime.datetime(2026, 11, 20, 15, tzinfo=datetime.UTC)
        clock.move_to(when)
        s = core.create_from_plan(actors["cy"], spravato_plan, scheduled_at=when, chair=chair2)
        core.check_in(actors["ben"], s)
        s = move(s, actors["ben"], State.PRE_DOSE_CHECKS)
        s = move(s, actors["ben"], State.DOSING)
        pmf.ensure_form(s)
    clock.move_to(datetime.datetime(2026, 11, 24, 15, tzinfo=datetime.UTC))
    with django_assert_num_queries(11):
        assert ben.get("/sessions/rems/").status_code == 200


@pytest.mark.parametrize("key", ["cy", "ivy"])
def test_queue_roles_without_session_view(client_for, key):
    assert client_for(key).get("/sessions/rems/").status_code == 403


def test_queue_shows_nothing_of_another_clinic(client_for, dosed, dee_prescriber):
    pmf.ensure_form(dosed)
    body = client_for("dee").get("/sessions/rems/").content.decode()
    assert f'data-testid="rems-row-{dosed.pk}"' not in body
    assert "No forms waiting" in body
