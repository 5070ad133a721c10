"""Safety alerts, closed loop: raised with the response, notified, escalated, acknowledged, closed.

Thresholds come from the instrument data (PHQ-9 item 9 >= 1, QIDS-SR16 item 12 >= 1, C-SSRS
moderate/high; ../shared/reference/clinical.md section 7) and the clinic (MADRS item 10).
"""

from __future__ import annotations

import dataclasses
import datetime

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from ketacare.accounts.models import Membership
from ketacare.audit.models import AuditEvent
from ketacare.measures import actions, tasks
from ketacare.measures.access import access_alert
from ketacare.measures.models import AlertNotification, AlertStatus, Response, SafetyAlert

T0 = datetime.datetime(2026, 3, 3, 15, 0, tzinfo=datetime.UTC)
PHQ9_CALM = {str(i): 0 for i in range(1, 10)} | {"10": 0}
PHQ9_ITEM9 = PHQ9_CALM | {"1": 2, "2": 2, "9": 1}


@pytest.fixture
def team(personas, clinic):
    """Ada is the primary clinician, Ben is on call, Tess covers, Ann administers."""
    Membership.objects.filter(user=personas["ben"], clinic=clinic).update(on_call=True)
    Membership.objects.filter(user=personas["tess"], clinic=clinic).update(covering=True)
    return personas


@pytest.fixture
def charted(make_patient, team):
    return make_patient(primary_clinician=team["ada"])


def events(kind: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=kind).order_by("id"))


def recipients(alert: SafetyAlert, kind: str) -> set[str]:
    return {n.recipient.email for n in alert.notifications.filter(kind=kind).select_related("recipient")}


def test_item9_raises_an_alert_with_the_response_and_notifies_primary_and_on_call(
    actors, charted, django_capture_on_commit_callbacks
):
    # given / when a nurse enters a PHQ-9 whose item 9 is 1
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)

    # then the alert exists with the response, due in the clinic's 60 minutes
    alert = SafetyAlert.objects.get(response=response)
    assert (response.valid, response.total) == (True, 5)
    assert alert.status == AlertStatus.OPEN
    assert alert.ack_due_at == T0 + datetime.timedelta(minutes=60)
    assert [r["item"] for r in alert.reasons] == ["9"]
    # the primary clinician and the on-call nurse were told, by e-mail without PHI
    assert recipients(alert, "raised") == {"ada@example.org", "ben@example.org"}
    assert AlertNotification.objects.filter(sent_at__isnull=True).count() == 0
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.org", "ben@example.org"]
    assert all(charted.legal_last_name not in m.body for m in mail.outbox)
    # and every step is in the audit trail
    assert [e.patient for e in events("response.created")] == [charted]
    assert [e.patient for e in events("safety_alert.raised")] == [charted]
    assert len(events("safety_alert.notified")) == 2


def test_no_risk_no_alert(actors, charted):
    response = actions.submit_response(actors["ben"], charted, "phq9", PHQ9_CALM)

    assert response.total == 0
    assert not SafetyAlert.objects.exists()


def test_an_incomplete_response_is_invalid_but_still_raises_its_alert(actors, charted):
    answers = {k: v for k, v in PHQ9_ITEM9.items() if k != "3"}

    response = actions.submit_response(actors["ben"], charted, "phq9", answers)

    assert (response.valid, response.total) == (False, None)
    assert SafetyAlert.objects.filter(response=response).exists()


def test_an_answer_outside_the_options_is_refused_naming_the_item_and_nothing_is_stored(actors, charted):
    with pytest.raises(ValidationError) as caught:
        actions.submit_response(actors["ben"], charted, "phq9", PHQ9_CALM | {"9": 7})

    assert caught.value.message_dict == {"answers.9": ["Item 9: 7 is not an answer option (0, 1, 2, 3)."]}
    assert not Response.objects.exists()
    assert not AuditEvent.objects.filter(event_type="response.created").exists()


def test_if_the_alert_cannot_be_written_the_response_is_not_written_either(actors, charted, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(actions, "raise_alert", broken)

    with pytest.raises(RuntimeError):
        actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)

    assert not Response.objects.exists()


def test_a_failed_send_keeps_response_and_alert_and_is_retried(
    actors, charted, monkeypatch, django_capture_on_commit_callbacks
):
    # given an e-mail server that is down
    def down(notification):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(tasks, "deliver", down)
    with django_capture_on_commit_callbacks(execute=True):
        response = actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)

    # then the response and its alert stay, and the notifications wait with the reason
    alert = SafetyAlert.objects.get(response=response)
    pending = AlertNotification.objects.filter(alert=alert, sent_at__isnull=True)
    assert pending.count() == 2
    assert {n.attempts for n in pending} == {1}
    assert all("smtp down" in n.last_error for n in pending)
    assert len(events("safety_alert.notify_failed")) == 2

    # when the server is back and the sweep runs
    monkeypatch.undo()
    result = tasks.alert_sweep.call()

    # then both are sent once, and a further sweep sends nothing more
    assert result["sent"] == 2
    assert not AlertNotification.objects.filter(sent_at__isnull=True).exists()
    assert tasks.alert_sweep.call()["sent"] == 0
    assert len(mail.outbox) == 2


def test_an_alert_not_acknowledged_in_time_escalates_once_then_to_the_admins(actors, charted):
    with time_machine.travel(T0, tick=False):
        response = actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)
    alert = SafetyAlert.objects.get(response=response)

    # before the deadline: nothing
    assert actions.escalate_overdue_alerts(T0 + datetime.timedelta(minutes=59)) == 0

    # at the deadline: the covering clinician, once, however often the task runs
    late = T0 + datetime.timedelta(minutes=61)
    assert actions.escalate_overdue_alerts(late) == 1
    assert actions.escalate_overdue_alerts(late) == 0
    assert actions.escalate_overdue_alerts(late + datetime.timedelta(minutes=5)) == 0
    alert.refresh_from_db()
    assert alert.escalation_level == 1
    assert recipients(alert, "escalated_covering") == {"tess@example.org"}
    assert [e.detail["to_level"] for e in events("safety_alert.escalated")] == [1]

    # one more window: the administrators
    assert actions.escalate_overdue_alerts(T0 + datetime.timedelta(minutes=121)) == 1
    assert actions.escalate_overdue_alerts(T0 + datetime.timedelta(minutes=300)) == 0
    alert.refresh_from_db()
    assert alert.escalation_level == 2
    assert recipients(alert, "escalated_admin") == {"ann@example.org"}
    assert [e.detail["to_level"] for e in events("safety_alert.escalated")] == [1, 2]


def test_an_alert_raised_while_the_worker_was_down_escalates_when_it_is_back(actors, charted):
    with time_machine.travel(T0, tick=False):
        response = actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)

    # the worker comes back three hours later: one sweep reaches covering and admins at once
    with time_machine.travel(T0 + datetime.timedelta(hours=3), tick=False):
        result = tasks.alert_sweep.call()

    alert = SafetyAlert.objects.get(response=response)
    assert result["escalated"] == 1
    assert alert.escalation_level == 2
    assert recipients(alert, "escalated_covering") == {"tess@example.org"}
    assert recipients(alert, "escalated_admin") == {"ann@example.org"}
    assert [(e.detail["from_level"], e.detail["to_level"]) for e in events("safety_alert.escalated")] == [(0, 2)]
    assert not AlertNotification.objects.filter(sent_at__isnull=True).exists()


def test_an_acknowledged_alert_does_not_escalate(actors, charted):
    with time_machine.travel(T0, tick=False):
        response = actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)
    alert = SafetyAlert.objects.get(response=response)

    with time_machine.travel(T0 + datetime.timedelta(minutes=20), tick=False):
        actions.acknowledge_alert(actors["ada"], alert.pk)
        actions.acknowledge_alert(actors["tess"], alert.pk)  # a second click changes nothing

    assert actions.escalate_overdue_alerts(T0 + datetime.timedelta(hours=5)) == 0
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.escalation_level) == ("acknowledged", actors["ada"].user, 0)
    assert [e.detail for e in events("safety_alert.acknowledged")] == [{"minutes_after_raised": 20.0}]


def test_closing_needs_a_documented_action_and_records_who_what_when(actors, charted):
    with time_machine.travel(T0, tick=False):
        response = actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)
    alert = SafetyAlert.objects.get(response=response)

    with time_machine.travel(T0 + datetime.timedelta(minutes=30), tick=False):
        with pytest.raises(ValidationError) as caught:
            actions.close_alert(actors["ada"], alert.pk, "ok", T0 + datetime.timedelta(minutes=25))
        assert "action_taken" in caught.value.message_dict
        closed = actions.close_alert(
            actors["ada"],
            alert.pk,
            "Called the patient; safety plan reviewed, no intent or plan; follow-up call booked tomorrow.",
            T0 + datetime.timedelta(minutes=25),
        )

    assert closed.status == AlertStatus.CLOSED
    assert (closed.closed_by, closed.acknowledged_by) == (actors["ada"].user, actors["ada"].user)
    assert closed.action_at == T0 + datetime.timedelta(minutes=25)
    assert [e.actor for e in events("safety_alert.closed")] == [actors["ada"].user]
    with pytest.raises(ValidationError):
        actions.close_alert(actors["ada"], alert.pk, "Closing it a second time.", T0)


def test_alerts_cannot_be_deleted(actors, charted):
    actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)
    alert = SafetyAlert.objects.get()

    with pytest.raises(RuntimeError):
        alert.delete()
    with pytest.raises(RuntimeError):
        SafetyAlert.objects.all().delete()
    assert SafetyAlert.objects.count() == 1


def test_madrs_item10_uses_the_clinics_threshold(actors, charted, clinic):
    madrs = {str(i): 0 for i in range(1, 11)}
    clinic.madrs_item10_alert_at = 3
    clinic.save()
    actor = dataclasses.replace(actors["ada"], clinic=clinic)

    actions.submit_response(actor, charted, "madrs", madrs | {"10": 2})
    assert not SafetyAlert.objects.exists()
    actions.submit_response(actor, charted, "madrs", madrs | {"10": 3})
    assert SafetyAlert.objects.count() == 1


@pytest.mark.parametrize("persona", ["cy", "ivy", "aud"])
def test_roles_that_may_not_enter_scores_are_refused(persona, actors, charted):
    with pytest.raises(PermissionDenied):
        actions.submit_response(actors[persona], charted, "phq9", PHQ9_CALM)
    assert not Response.objects.exists()


def test_another_clinic_cannot_touch_the_patient_or_the_alert(actors, charted):
    actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)
    alert = SafetyAlert.objects.get()

    with pytest.raises(Http404):
        actions.submit_response(actors["dee"], charted, "phq9", PHQ9_CALM)
    with pytest.raises(Http404):
        actions.acknowledge_alert(actors["dee"], alert.pk)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_the_auditor_sees_but_cannot_act(actors, charted):
    actions.submit_response(actors["ben"], charted, "phq9", PHQ9_ITEM9)
    alert = SafetyAlert.objects.get()

    assert access_alert(actors["aud"], alert.pk) == alert
    with pytest.raises(PermissionDenied):
        actions.acknowledge_alert(actors["aud"], alert.pk)


def test_madrs_item10_without_a_clinic_value_alerts_on_any_nonzero_rating(actors, charted):
    madrs = {str(i): 0 for i in range(1, 11)}

    actions.submit_response(actors["ada"], charted, "madrs", madrs)
    assert not SafetyAlert.objects.exists()
    actions.submit_response(actors["ada"], charted, "madrs", madrs | {"10": 1})
    assert SafetyAlert.objects.count() == 1
