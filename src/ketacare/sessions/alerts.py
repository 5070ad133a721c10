"""Session alerts: a value beyond a protocol threshold, a baseline needing a decision, a severe side
effect. The prescriber on call is told; nothing raised is ever lost (issue #7).

`raise_alert` is called inside the charting action's transaction. It is idempotent on
(session, source_key): recording the same out-of-range set twice raises one alert. It writes one
`SessionAlertNotification` (outbox row) per recipient in the same transaction and asks the task to
send them after commit; the sweep (`manage.py session_sweep`) sends whatever is still pending, so
a crash between commit and send loses nothing. Recipients: the clinic's prescribers marked on call;
if none is on call, every active prescriber; if the clinic has no prescriber, its administrators.
Messages carry no PHI (where to look, not who or what), as the measures alerts do.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Perm, Role
from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record, record_system
from ketacare.clinics.models import Clinic
from ketacare.measures.outbox import drain
from ketacare.sessions import core
from ketacare.sessions.models import AlertStatus, SessionAlert, SessionAlertNotification, TreatmentSession


def on_call_prescribers(clinic: Clinic) -> list[User]:
    """Who is told: prescribers on call; else every prescriber; else the administrators."""
    members = Membership.objects.filter(clinic=clinic, is_active=True, user__is_active=True).select_related("user")
    for query in (
        members.filter(role=Role.PRESCRIBER, on_call=True),
        members.filter(role=Role.PRESCRIBER),
        members.filter(role=Role.ADMIN),
    ):
        people = [m.user for m in query.order_by("user_id")]
        if people:
            return people
    return []


def raise_alert(
    actor: Actor,
    session: TreatmentSession,
    *,
    kind: str,
    source_key: str,
    summary: str,
    detail: dict[str, Any] | None = None,
) -> SessionAlert:
    """Open an alert (or return the one already raised for `source_key`) and queue its notifications.

    Call inside the action's transaction, with the session locked.
    """
    try:
        with transaction.atomic():
            alert = SessionAlert.objects.create(
                clinic=session.clinic,
                session=session,
                kind=kind,
                source_key=source_key[:80],
                summary=summary[:300],
                detail=detail or {},
            )
    except IntegrityError:
        return SessionAlert.objects.get(session=session, source_key=source_key[:80])
    for person in on_call_prescribers(session.clinic):
        SessionAlertNotification.objects.get_or_create(clinic=session.clinic, alert=alert, recipient=person)
    core.add_event(actor, session, "alert", f"Alert: {summary}", detail={"alert": alert.pk, "kind": kind})
    record(
        actor,
        AuditAction.CREATE,
        "session_alert.raised",
        subject=alert,
        patient=session.patient,
        detail={"kind": kind, "source_key": source_key, "summary": summary},
    )
    transaction.on_commit(_send_soon)
    return alert


def _send_soon() -> None:
    from ketacare.sessions.tasks import send_session_alert_notifications

    send_session_alert_notifications.enqueue()


def _locked_alert(actor: Actor, alert_id: Any) -> SessionAlert:
    alert = (
        SessionAlert.objects.select_for_update(of=("self",))
        .select_related("session", "session__patient", "session__clinic")
        .filter(pk=alert_id, clinic=actor.clinic)
        .first()
    )
    if alert is None:
        from django.http import Http404

        raise Http404("No such alert.")
    return alert


@transaction.atomic
def acknowledge(actor: Actor, alert_id: Any) -> SessionAlert:
    """ "I have seen it": a nurse or prescriber. Acknowledging twice keeps the first."""
    core.require(actor, Perm.SESSION_CHART)
    alert = _locked_alert(actor, alert_id)
    if alert.status != AlertStatus.OPEN:
        return alert
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by = actor.user
    alert.acknowledged_at = timezone.now()
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
    core.add_event(actor, alert.session, "alert", f"Alert acknowledged: {alert.summary}", detail={"alert": alert.pk})
    record(actor, AuditAction.UPDATE, "session_alert.acknowledged", subject=alert, patient=alert.session.patient)
    return alert


@transaction.atomic
def resolve(actor: Actor, alert_id: Any, resolution: str) -> SessionAlert:
    """The prescriber's decision on the alert (what was done), which closes it."""
    core.require(actor, Perm.SESSION_ORDER)
    if not resolution.strip():
        raise ValidationError({"resolution": "Say what was decided or done."})
    alert = _locked_alert(actor, alert_id)
    if alert.status == AlertStatus.RESOLVED:
        raise ValidationError({"resolution": "This alert is already resolved."})
    now = timezone.now()
    if alert.acknowledged_at is None:
        alert.acknowledged_by, alert.acknowledged_at = actor.user, now
    alert.status = AlertStatus.RESOLVED
    alert.resolved_by, alert.resolved_at, alert.resolution = actor.user, now, resolution.strip()
    alert.save()
    core.add_event(
        actor,
        alert.session,
        "alert",
        f"Alert resolved: {alert.summary} — {resolution.strip()}",
        detail={"alert": alert.pk},
    )
    record(
        actor,
        AuditAction.UPDATE,
        "session_alert.resolved",
        subject=alert,
        patient=alert.session.patient,
        detail={"resolution": resolution.strip()},
    )
    return alert


def open_alerts(session: TreatmentSession) -> list[SessionAlert]:
    return list(session.alerts.exclude(status=AlertStatus.RESOLVED).order_by("raised_at", "id"))


# --- sending --------------------------------------------------------------------------------


def deliver(notification: SessionAlertNotification) -> None:
    """Send one message. No PHI: it says where to look."""
    url = f"{settings.KETACARE_BASE_URL.rstrip('/')}/sessions/{notification.alert.session_id}/"
    send_mail(
        "KetaCare: a treatment-session alert needs a prescriber",
        f"A treatment session in {notification.clinic.name} raised an alert.\n\n"
        f"Open it in KetaCare: {url}\n\nSign in to see the details; they are not sent by e-mail.",
        None,
        [notification.recipient.email],
    )


def send_pending(limit: int = 200) -> tuple[int, int]:
    """Send pending alert messages; (sent, failed). A failure stays pending for the next sweep."""

    def sent(n: SessionAlertNotification) -> None:
        record_system(
            n.clinic,
            AuditAction.EXECUTE,
            "session_alert.notified",
            subject=n.alert,
            patient=n.alert.session.patient,
            detail={"recipient": n.recipient_id},
        )

    def failed(n: SessionAlertNotification) -> None:
        record_system(
            n.clinic,
            AuditAction.EXECUTE,
            "session_alert.notify_failed",
            subject=n.alert,
            patient=n.alert.session.patient,
            outcome=AuditOutcome.SERIOUS_FAILURE,
            detail={"recipient": n.recipient_id, "error": n.last_error},
        )

    pending = SessionAlertNotification.objects.select_related("recipient", "clinic", "alert__session__patient")
    return drain(pending, lambda n: deliver(n), sent, failed, limit)
