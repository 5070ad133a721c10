"""Demo treatment sessions: every plan dose of the ledger was given in a charted, signed session;
patients are on the floor now; the REMS queue has one form overdue and one due."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from ketacare.clinics.models import Clinic
from ketacare.demo.seed import DEMO_CLINIC
from ketacare.inventory.models import EntryKind, LedgerEntry
from ketacare.sessions import rems
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import (
    ACTIVE_STATES,
    AlertStatus,
    DoseAdministration,
    RemsMonitoringForm,
    SessionAlert,
    TreatmentSession,
)

pytestmark = pytest.mark.django_db


def test_every_plan_dose_was_given_in_a_signed_session(seeded: str) -> None:
    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])
    sessions = TreatmentSession.objects.filter(clinic=clinic)
    midnight = datetime.datetime.combine(
        timezone.localdate(timezone=clinic.zone), datetime.time.min, tzinfo=clinic.zone
    )
    past = sessions.filter(scheduled_at__lt=midnight)  # before today in the clinic's zone
    assert past.count() > 40
    assert set(past.values_list("state", flat=True)) == {State.SIGNED}
    for session in past.prefetch_related("signatures", "doses"):
        assert {s.role for s in session.signatures.all()} == {"nurse", "prescriber"}
        assert session.doses.exists()
    # Each administration of a plan dose points at its session, and the session's dose at it.
    given = LedgerEntry.objects.filter(clinic=clinic, kind=EntryKind.ADMINISTRATION, corrects__isnull=True)
    assert given.exists()
    for entry in given:
        dose = DoseAdministration.objects.select_related("session").get(ledger_entry=entry)
        assert entry.session_ref == dose.session.ref


def test_the_floor_is_busy_now_and_the_rems_queue_has_work(seeded: str) -> None:
    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])
    live = TreatmentSession.objects.filter(clinic=clinic, state__in=[s.value for s in ACTIVE_STATES])
    assert {State.DOSING, State.OBSERVATION, State.PRE_DOSE_CHECKS} <= set(live.values_list("state", flat=True))
    assert TreatmentSession.objects.filter(clinic=clinic, state=State.DISCHARGED).exists()
    assert TreatmentSession.objects.filter(clinic=clinic, state=State.SCHEDULED).count() >= 2
    # The Spravato patient's SpO2 dip raised an alert the nurse acknowledged; the high baseline waits.
    assert SessionAlert.objects.filter(
        session__in=live, session__route="intranasal_esketamine", status=AlertStatus.ACKNOWLEDGED
    ).exists()
    assert SessionAlert.objects.filter(session__in=live, kind="baseline", status=AlertStatus.OPEN).exists()
    now = timezone.now()
    waiting = RemsMonitoringForm.objects.filter(clinic=clinic, submitted_on__isnull=True, frozen_at__isnull=False)
    overdue = [f for f in waiting if rems.is_overdue(f.due_date, now, clinic.zone)]
    due = [f for f in waiting if not rems.is_overdue(f.due_date, now, clinic.zone)]
    assert len(overdue) == 1
    assert len(due) == 1
