"""Background work of the scheduling domain (django-tasks; the database backend in production).

Idempotent: each message is sent under its own row lock and stamped, so a retry, a second worker or
a late sweep sends nothing twice and misses nothing.
"""

from __future__ import annotations

from django_tasks import task


@task()
def send_appointment_messages() -> dict[str, int]:
    """Send the visit messages due now (enqueued when a booking that wrote them commits)."""
    from ketacare.scheduling.notify import send_due_messages

    sent, failed = send_due_messages()
    return {"sent": sent, "failed": failed}


@task()
def scheduling_sweep() -> dict[str, int]:
    """Withdraw reminders of visits that have started or changed, then send every message now due:
    run every minute (manage.py scheduling_sweep --every 60, or cron)."""
    from ketacare.scheduling.notify import send_due_messages, withdraw_stale

    withdrawn = withdraw_stale()
    sent, failed = send_due_messages()
    return {"withdrawn": withdrawn, "sent": sent, "failed": failed}
