"""The monitoring, discharge and signing sections of the chairside page: forms, 403/404, 409 once
signed, double submits, refusals that change nothing, audit rows, the note PDF and query counts."""

from __future__ import annotations

import uuid

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.sessions import monitoring, signing
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import Assessment, SessionAlert, SideEffect, VitalSigns
from tests.conftest import PASSWORD
from tests.sessions.conftest import advance
from tests.sessions.test_discharge import tick_all
from tests.sessions.test_monitoring import dosed, move, observing, with_escort


def url(session, tail):
    return f"/sessions/{session.pk}/{tail}"


def test_nurse_records_vitals_once_on_a_double_submit(actors, client_for, iv_session):
    dosed(actors, iv_session)
    ben = client_for("ben")
    form = {"systolic_bp": "132", "diastolic_bp": "84", "heart_rate": "78", "form_token": str(uuid.uuid4())}
    first = ben.post(url(iv_session, "vitals/"), form)
    assert first.status_code == 302
    assert first["Location"].endswith("#monitoring")
    assert ben.post(url(iv_session, "vitals/"), form).status_code == 302
    assert VitalSigns.objects.filter(session=iv_session).count() == 1
    page = ben.get(url(iv_session, "")).content.decode()
    assert "BP 132/84, HR 78" in page
    assert AuditEvent.objects.filter(event_type="session.vitals").count() == 1


def test_an_implausible_value_is_shown_next_to_the_field_and_nothing_is_saved(actors, client_for, iv_session):
    dosed(actors, iv_session)
    page = client_for("ben").post(url(iv_session, "vitals/"), {"systolic_bp": "1320", "diastolic_bp": "84"})
    assert page.status_code == 422
    body = page.content.decode()
    assert "Systolic BP 1320 mmHg is not plausible" in body
    assert 'value="1320"' in body  # the typed value is kept
    assert VitalSigns.objects.count() == 0


def test_threshold_alert_shows_at_the_top_and_is_acknowledged_then_resolved(actors, client_for, iv_session):
    dosed(actors, iv_session)
    ben, ada = client_for("ben"), client_for("ada")
    ben.post(url(iv_session, "vitals/"), {"systolic_bp": "192", "diastolic_bp": "100"})
    alert = SessionAlert.objects.get()
    page = ben.get(url(iv_session, "")).content.decode()
    assert "Systolic BP 192 mmHg above the protocol&#x27;s 180" in page
    assert f'data-testid="alert-ack-{alert.pk}"' in page
    assert f'data-testid="alert-resolve-{alert.pk}"' not in page  # a nurse does not resolve
    assert ben.post(url(iv_session, f"alerts/{alert.pk}/resolve/"), {"resolution": "x"}).status_code == 403
    assert ben.post(url(iv_session, f"alerts/{alert.pk}/ack/")).status_code == 302
    assert ada.post(url(iv_session, f"alerts/{alert.pk}/resolve/"), {"resolution": ""}).status_code == 422
    done = ada.post(url(iv_session, f"alerts/{alert.pk}/resolve/"), {"resolution": "Recheck in 5 min; stable"})
    assert done.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert alert.acknowledged_by == actors["ben"].user


def test_an_alert_of_another_session_is_404(actors, client_for, iv_session, spravato_session):
    dosed(actors, iv_session)
    dosed(actors, spravato_session)
    monitoring.record_vitals(actors["ben"], spravato_session, spo2=85)
    alert = SessionAlert.objects.get()
    assert client_for("ben").post(url(iv_session, f"alerts/{alert.pk}/ack/")).status_code == 404


def test_schedule_flags_late_in_words_and_defaults_the_checkpoint_and_a_get_writes_nothing(
    actors, client_for, iv_session, clock
):
    dosed(actors, iv_session)
    advance(clock, 16)
    page = client_for("ben").get(url(iv_session, "")).content.decode()
    assert "Late" in page
    assert '<option value="bp_during" selected>' in page
    assert SessionAlert.objects.count() == 0


def test_ratings_and_side_effects_through_the_page(actors, client_for, iv_session):
    dosed(actors, iv_session)
    ben = client_for("ben")
    page = ben.get(url(iv_session, "")).content.decode()
    assert "MOAA/S (0–5 version" in page
    assert "Does not respond to painful trapezius squeeze" in page
    assert ben.post(url(iv_session, "assessment/"), {"moaas": "4", "dissociation": "mild"}).status_code == 302
    assert ben.post(url(iv_session, "assessment/"), {"cadss_total": "99"}).status_code == 422
    assert Assessment.objects.count() == 1
    ok = ben.post(url(iv_session, "side-effect/"), {"kind": "nausea", "severity": "moderate", "action_taken": "Rest"})
    assert ok.status_code == 302
    bad = ben.post(url(iv_session, "side-effect/"), {"kind": "other", "severity": "mild"})
    assert bad.status_code == 422
    assert "Other: say what the side effect was." in bad.content.decode()
    assert SideEffect.objects.count() == 1


@pytest.mark.parametrize(
    ("key", "tail", "status"),
    [
        ("tess", "vitals/", 403),
        ("cy", "vitals/", 403),
        ("aud", "assessment/", 403),
        ("ivy", "side-effect/", 403),
        ("tess", "discharge/", 403),
        ("cy", "checklist/", 403),
        ("tess", "sign/", 403),
        ("cy", "addendum/", 403),
        ("dee", "vitals/", 404),
        ("dee", "discharge/", 404),
        ("dee", "sign/", 404),
    ],
)
def test_role_matrix(actors, client_for, iv_session, dee_prescriber, key, tail, status):
    observing(actors, iv_session)
    assert client_for(key).post(url(iv_session, tail), {"spo2": "97", "moaas": "5"}).status_code == status
    assert VitalSigns.objects.count() == 0
    iv_session.refresh_from_db()
    assert iv_session.state == State.OBSERVATION


def test_discharge_through_the_page_spravato_119_then_120(actors, client_for, spravato_session, clock):
    with_escort(spravato_session)
    dosed(actors, spravato_session)
    advance(clock, 5)
    move(actors["ben"], spravato_session, State.OBSERVATION)
    monitoring.record_vitals(actors["ben"], spravato_session, systolic_bp=128, diastolic_bp=80, spo2=98)
    tick_all(actors["ben"], spravato_session)
    ben = client_for("ben")
    assert ben.post(url(spravato_session, "escort-present/")).status_code == 302
    assert ben.post(url(spravato_session, "ready/")).status_code == 302
    advance(clock, 114)
    ben = client_for("ben")  # a fresh sign-in: the idle timeout has passed
    page = ben.get(url(spravato_session, "")).content.decode()
    assert 'data-testid="discharge-button" disabled' in page
    refused = ben.post(url(spravato_session, "discharge/"))
    assert refused.status_code == 422
    assert "119 of 120 minutes from the first device — 1 minute left" in refused.content.decode()
    spravato_session.refresh_from_db()
    assert spravato_session.state == State.READY_FOR_DISCHARGE
    advance(clock, 1)
    assert ben.post(url(spravato_session, "discharge/")).status_code == 302
    assert "Patient discharged." in ben.get(url(spravato_session, "")).content.decode()
    spravato_session.refresh_from_db()
    assert spravato_session.state == State.DISCHARGED


def test_checklist_tick_through_the_page(actors, client_for, iv_session):
    observing(actors, iv_session)
    ben = client_for("ben")
    assert ben.post(url(iv_session, "checklist/"), {"item": "alert_oriented", "done": "1"}).status_code == 302
    assert ben.post(url(iv_session, "checklist/"), {"item": "nope", "done": "1"}).status_code == 422
    iv_session.refresh_from_db()
    assert list(iv_session.discharge_checklist) == ["alert_oriented"]


def test_sign_through_the_page_and_the_locked_page(actors, client_for, iv_session):
    observing(actors, iv_session)
    move(actors["ben"], iv_session, State.STOPPED_EARLY, reason="Patient request")
    ben, ada = client_for("ben"), client_for("ada")
    token = str(uuid.uuid4())
    wrong = ben.post(url(iv_session, "sign/"), {"password": "nope", "form_token": token})
    assert wrong.status_code == 422
    assert "The password is not correct" in wrong.content.decode()
    assert AuditEvent.objects.filter(event_type="session.sign_refused").count() == 1
    assert wrong.content.decode().count("nope") == 0  # the password is never shown back
    # The same form, corrected, signs once; a double click adds nothing.
    assert ben.post(url(iv_session, "sign/"), {"password": PASSWORD, "form_token": token}).status_code == 302
    assert ben.post(url(iv_session, "sign/"), {"password": PASSWORD, "form_token": token}).status_code == 302
    assert iv_session.signatures.count() == 1
    assert ada.post(url(iv_session, "sign/"), {"password": PASSWORD}).status_code == 302
    iv_session.refresh_from_db()
    assert iv_session.state == State.SIGNED
    page = ben.get(url(iv_session, "")).content.decode()
    assert "Signed by <strong>Ben" in page
    for testid in ("vitals-form", "assessment-form", "side-effect-form", "sign-form", "discharge-button"):
        assert f'data-testid="{testid}"' not in page
    assert 'data-testid="addendum-form"' in page


def test_a_signed_session_answers_409_to_every_forged_post_and_takes_addenda(actors, client_for, iv_session):
    dosed(actors, iv_session)
    monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=190, diastolic_bp=100)
    alert = SessionAlert.objects.get()
    move(actors["ben"], iv_session, State.STOPPED_EARLY, reason="BP")
    monitoring.resolve_alert(actors["ada"], iv_session, alert.pk, "Infusion stopped; BP rechecked")  # before signing
    signing.sign(actors["ben"], iv_session, password=PASSWORD)
    signing.sign(actors["ada"], iv_session, password=PASSWORD)
    ben, ada = client_for("ben"), client_for("ada")
    forged = {"systolic_bp": "120", "diastolic_bp": "80", "moaas": "5", "kind": "nausea", "severity": "mild"}
    for tail in (
        "vitals/",
        "assessment/",
        "side-effect/",
        f"alerts/{alert.pk}/ack/",
        "checklist/",
        "escort-present/",
        "ready/",
        "discharge/",
        "sign/",
    ):
        response = ben.post(url(iv_session, tail), {**forged, "item": "alert_oriented", "password": PASSWORD})
        assert response.status_code == 409, tail
        assert "signed and read-only" in response.content.decode()
    assert ada.post(url(iv_session, f"alerts/{alert.pk}/resolve/"), {"resolution": "x"}).status_code == 409
    # An empty or nonsense form is refused as locked too, not as invalid.
    for tail in ("vitals/", "assessment/", "side-effect/", "checklist/", "sign/", f"alerts/{alert.pk + 99}/ack/"):
        assert ben.post(url(iv_session, tail), {"systolic_bp": "abc", "kind": "??"}).status_code == 409, tail
    assert VitalSigns.objects.count() == 1
    token = str(uuid.uuid4())
    assert ben.post(url(iv_session, "addendum/"), {"text": "Late note", "form_token": token}).status_code == 302
    assert ben.post(url(iv_session, "addendum/"), {"text": "Late note", "form_token": token}).status_code == 302
    assert iv_session.addenda.count() == 1
    assert "Late note" in ben.get(url(iv_session, "")).content.decode()


def test_note_pdf_who_may_read_it_and_the_audit(actors, client_for, iv_session, dee_prescriber):
    observing(actors, iv_session)
    monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=140, diastolic_bp=90)
    response = client_for("ada").get(url(iv_session, "note.pdf"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(event_type="session.note_exported", patient=iv_session.patient).count() == 1
    assert client_for("cy").get(url(iv_session, "note.pdf")).status_code == 403
    assert client_for("dee").get(url(iv_session, "note.pdf")).status_code == 404


def test_the_chairside_page_query_count_is_fixed(actors, client_for, iv_session, django_assert_max_num_queries):
    observing(actors, iv_session)
    with_escort(iv_session)
    for sbp in (130, 135, 190, 140):
        monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=sbp, diastolic_bp=85, spo2=97)
    monitoring.record_assessment(actors["ben"], iv_session, moaas=5)
    monitoring.record_side_effect(actors["ben"], iv_session, kind="nausea", severity="mild")
    tick_all(actors["ben"], iv_session)
    ben = client_for("ben")
    ben.get(url(iv_session, ""))
    with django_assert_max_num_queries(40) as ctx:
        assert ben.get(url(iv_session, "")).status_code == 200
    few = len(ctx.captured_queries)
    for sbp in (131, 132, 133, 134, 191):
        monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=sbp, diastolic_bp=85, spo2=97)
    with django_assert_max_num_queries(few):
        assert ben.get(url(iv_session, "")).status_code == 200


def test_after_the_session_ends_overdue_checkpoints_read_missed_not_late(actors, client_for, iv_session, clock):
    dosed(actors, iv_session)
    advance(clock, 16)
    move(actors["ben"], iv_session, State.STOPPED_EARLY, reason="Patient request")
    advance(clock, 60)
    page = client_for("ben").get(url(iv_session, "")).content.decode()
    assert "Missed" in page
    assert "> Late" not in page
