"""Background work of the sessions domain (django-tasks; the database backend in production).

Idempotent: a retry, a second worker or a late sweep sends nothing twice and misses nothing.
"""

from __future__ import annotations

from django_tasks import task


@task()
def send_session_alert_notifications() -> dict[str, int]:
    from ketacare.sessions.alerts import send_pending

    sent, failed = send_pending()
    return {"sent": sent, "failed": failed}


@task()
def session_sweep() -> dict[str, int]:
    """Raise alerts for vitals not taken in time, send pending alert messages and escalate overdue REMS
    Patient Monitoring Forms: run every minute."""
    from ketacare.sessions import monitoring, pmf
    from ketacare.sessions.alerts import send_pending

    late = monitoring.raise_late_vitals_alerts()
    sent, failed = send_pending()
    escalated = pmf.escalate_overdue()
    return {"late_vitals_alerts": late, "sent": sent, "failed": failed, "pmf_escalated": escalated}
