"""Spravato REMS Patient Monitoring Form per session (placeholder: the REMS helper fills it)."""

from __future__ import annotations

from ketacare.accounts.context import Actor
from ketacare.sessions.models import TreatmentSession


def signing_blockers(session: TreatmentSession) -> list[str]:
    """Why the session may not be signed yet because of its PMF (empty: nothing blocks)."""
    return []


def freeze_for_signature(actor: Actor, session: TreatmentSession) -> None:
    """Called inside the signing transaction when the session becomes signed: final values + PDF."""


def escalate_overdue(now: object = None) -> int:
    """Escalate PMFs past their due date not yet submitted (once each); returns how many."""
    return 0
