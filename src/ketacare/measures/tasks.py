"""Background work for safety alerts (django-tasks; the database backend in production).

Both tasks are idempotent: they look at the state before acting and record that they acted, so a
retry, a second worker or a sweep after downtime sends nothing twice and misses nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django_tasks import task

from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record_system
from ketacare.measures.actions import escalate_overdue_alerts
from ketacare.measures.models import AlertNotification, NotificationKind
from ketacare.measures.outbox import drain

logger = logging.getLogger(__name__)

SUBJECTS = {
    NotificationKind.RAISED: "KetaCare: a patient safety alert needs you",
    NotificationKind.ESCALATED_COVERING: "KetaCare: a safety alert was not acknowledged in time (covering)",
    NotificationKind.ESCALATED_ADMIN: "KetaCare: a safety alert is still not acknowledged (administrators)",
}


def deliver(notification: AlertNotification) -> None:
    """Send one notification. No PHI in the message: it says where to look, not who or what."""
    url = f"{settings.KETACARE_BASE_URL.rstrip('/')}/measures/alerts/{notification.alert_id}/"
    send_mail(
        SUBJECTS[NotificationKind(notification.kind)],
        f"A patient safety alert in {notification.clinic.name} needs acknowledgement.\n\n"
        f"Open it in KetaCare: {url}\n\nSign in to see the details; they are not sent by e-mail.",
        None,
        [notification.recipient.email],
    )


def send_pending_notifications(limit: int = 200) -> tuple[int, int]:
    """Send notifications not yet sent. Returns (sent, failed); a failure stays pending for the next run."""

    def sent(notification: AlertNotification) -> None:
        record_system(
            notification.clinic,
            AuditAction.EXECUTE,
            "safety_alert.notified",
            subject=notification.alert,
            patient=notification.alert.patient,
            detail={"recipient": notification.recipient_id, "kind": notification.kind},
        )

    def failed(notification: AlertNotification) -> None:
        record_system(
            notification.clinic,
            AuditAction.EXECUTE,
            "safety_alert.notify_failed",
            subject=notification.alert,
            patient=notification.alert.patient,
            outcome=AuditOutcome.SERIOUS_FAILURE,
            detail={
                "recipient": notification.recipient_id,
                "kind": notification.kind,
                "error": notification.last_error,
            },
        )

    pending = AlertNotification.objects.select_related("recipient", "clinic", "alert__patient")
    # `deliver` is looked up when called, so tests (and a future transport) can replace it.
    return drain(pending, lambda n: deliver(n), sent, failed, limit)


@task()
def send_alert_notifications() -> dict[str, int]:
    sent, failed = send_pending_notifications()
    return {"sent": sent, "failed": failed}


@task()
def send_questionnaire_messages() -> dict[str, int]:
    from ketacare.measures.links import send_pending_messages

    sent, failed = send_pending_messages()
    return {"sent": sent, "failed": failed}


@task()
def alert_sweep() -> dict[str, int]:
    """Escalate overdue alerts and (re)send pending notifications; then mark expired questionnaire
    links missed, queue their one reminder, send what schedules owe (schedules.schedule_sweep) and send
    pending invitations and reminders: run every minute."""
    from ketacare.measures.links import expire_overdue_requests, queue_reminders, send_pending_messages
    from ketacare.measures.schedules import schedule_sweep

    escalated = escalate_overdue_alerts()
    sent, failed = send_pending_notifications()
    expired = expire_overdue_requests()
    reminders = queue_reminders()
    scheduled = schedule_sweep()
    messages_sent, messages_failed = send_pending_messages()
    return {
        "escalated": escalated,
        "sent": sent,
        "failed": failed,
        "requests_expired": expired,
        "reminders_queued": reminders,
        "messages_sent": messages_sent,
        "messages_failed": messages_failed,
        **scheduled,
    }
