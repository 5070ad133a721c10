"""Helpers for consent tests: sign through the real actions."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from ketacare.accounts.context import Actor, Origin
from ketacare.consents import actions
from ketacare.consents.models import Consent
from ketacare.patients.models import Patient

ORIGIN = Origin(remote_addr="203.0.113.7", user_agent="Mozilla/5.0 (iPad; tests)", via="link")


def today(patient: Patient) -> datetime.date:
    return timezone.localdate(timezone=patient.clinic.zone)


def sign(actor: Actor, patient: Patient, code: str, **overrides: Any) -> Consent:
    """The patient signs `code` through a fresh link sent by `actor`."""
    link = actions.send_consent_link(actor, patient, [code])
    values: dict[str, Any] = {
        "signed_name": patient.legal_name,
        "signed_on": today(patient),
        "agreed": True,
        "origin": ORIGIN,
        **overrides,
    }
    return actions.sign_by_link(link.pk, code, **values)
