"""Session alerts: raised once per source, the on-call prescriber told after commit, nothing lost
when sending fails, acknowledge and resolve by the right roles."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ketacare.accounts.models import Membership
from ketacare.sessions import alerts
from ketacare.sessions.models import AlertStatus, SessionAlert, SessionAlertNotification


def _raise(actors, session, key="sbp:1"):
    with transaction.atomic():
        return alerts.raise_alert(
            actors["ben"], session, kind="vital_threshold", source_key=key, summary="Systolic BP 192 above 180"
        )


def test_one_alert_per_source_and_the_prescriber_is_emailed_without_phi(
    actors, iv_session, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = _raise(actors, iv_session)
        again = _raise(actors, iv_session)
    assert first.pk == again.pk
    assert SessionAlert.objects.count() == 1
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]
    assert iv_session.patient.legal_last_name not in mail.outbox[0].body
    assert SessionAlertNotification.objects.get().sent_at is not None
    assert iv_session.events.filter(kind="alert").count() == 1


def test_on_call_prescribers_first(actors, personas, clinic, iv_session):
    from ketacare.accounts.models import User
    from ketacare.accounts.roles import Role

    second = User.objects.create_user("rx2@example.org", "pw-123456789", full_name="Rae Second")
    Membership.objects.create(user=second, clinic=clinic, role=Role.PRESCRIBER, on_call=True)
    assert alerts.on_call_prescribers(clinic) == [second]
    Membership.objects.filter(user=second).update(on_call=False)
    assert set(alerts.on_call_prescribers(clinic)) == {personas["ada"], second}


def test_a_failed_send_stays_pending_and_the_sweep_sends_it(
    actors, iv_session, monkeypatch, django_capture_on_commit_callbacks
):
    def boom(notification):
        raise OSError("smtp down")

    monkeypatch.setattr(alerts, "deliver", boom)
    with django_capture_on_commit_callbacks(execute=True):
        _raise(actors, iv_session)
    note = SessionAlertNotification.objects.get()
    assert note.sent_at is None
    assert "smtp down" in note.last_error
    monkeypatch.undo()
    from ketacare.sessions.tasks import session_sweep

    result = session_sweep.enqueue().return_value
    assert result["sent"] == 1
    note.refresh_from_db()
    assert note.sent_at is not None


def test_acknowledge_and_resolve(actors, iv_session):
    alert = _raise(actors, iv_session)
    with pytest.raises(PermissionDenied):
        alerts.acknowledge(actors["cy"], alert.pk)
    alerts.acknowledge(actors["ben"], alert.pk)
    with pytest.raises(PermissionDenied):
        alerts.resolve(actors["ben"], alert.pk, "ok")
    with pytest.raises(ValidationError):
        alerts.resolve(actors["ada"], alert.pk, " ")
    done = alerts.resolve(actors["ada"], alert.pk, "Repeat BP in 5 min; labetalol not needed")
    assert done.status == AlertStatus.RESOLVED
    assert done.acknowledged_by == actors["ben"].user
    assert alerts.open_alerts(iv_session) == []
