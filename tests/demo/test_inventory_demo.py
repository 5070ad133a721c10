"""Demo Schedule III ledger: months of records through the real actions, reconciling, one open
discrepancy, idempotent."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic, Location
from ketacare.demo.inventory import LOCATION_DEA, seed_inventory
from ketacare.demo.seed import DEMO_CLINIC
from ketacare.inventory import reports
from ketacare.inventory.actions import valid_dea_number
from ketacare.inventory.balances import verify_balances
from ketacare.inventory.models import Discrepancy, EntryKind, LedgerEntry, StockCount
from ketacare.plans.models import PlanRoute, PlanStatus, TreatmentPlan

pytestmark = pytest.mark.django_db


def _actors(clinic: Clinic) -> dict[Role, Actor]:
    return {
        m.role: Actor.from_membership(m, None, via="cli")
        for m in Membership.objects.filter(clinic=clinic).select_related("user", "clinic")
        if m.role in (Role.INVENTORY, Role.NURSE, Role.PRESCRIBER)
    }


def test_demo_ledger_reconciles_and_is_idempotent(seeded: str) -> None:
    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])
    found = re.search(r"(\d+) controlled-substance ledger entries", seeded)
    assert found is not None
    created = int(found.group(1))
    assert created == LedgerEntry.objects.filter(clinic=clinic).count() > 0

    locations = list(Location.objects.filter(clinic=clinic, name__in=LOCATION_DEA))
    assert len(locations) == 2
    for location in locations:
        assert valid_dea_number(location.dea_registration)
        assert verify_balances(location) == []
        kinds = set(LedgerEntry.objects.filter(location=location).values_list("kind", flat=True))
        assert {EntryKind.RECEIPT, EntryKind.ADMINISTRATION, EntryKind.WASTE, EntryKind.DISPOSAL} <= kinds
        # Monthly counts, each signed by two people.
        counts = StockCount.objects.filter(location=location)
        assert counts.count() >= 3
        assert all(c.witness_id != c.counted_by_id for c in counts)

    entries = LedgerEntry.objects.filter(clinic=clinic)
    assert not entries.filter(kind=EntryKind.WASTE, witness__isnull=True).exists()
    assert entries.filter(kind=EntryKind.DISPOSAL, counterparty_dea="RM7302158").count() == 2
    today = timezone.localdate(timezone=clinic.zone)
    assert entries.earliest("occurred_at").occurred_at.date() < today - datetime.timedelta(days=80)
    assert entries.latest("occurred_at").occurred_at < timezone.now()
    # Doses are the signed plans' doses, to patients with a signed plan.
    signed = TreatmentPlan.objects.filter(clinic=clinic, status=PlanStatus.SIGNED)
    if signed.exists():
        iv = {p.patient_id: p.dose_selected_mg or p.dose_final_mg for p in signed.filter(route=PlanRoute.IV)}
        given = entries.filter(kind=EntryKind.ADMINISTRATION, corrects__isnull=True, lot__product__form="vial")
        assert given.exists()
        for entry in given:
            assert entry.patient_id in iv
            assert abs(entry.quantity_mg - iv[entry.patient_id]) < 1  # rounded to the 0.01 mL drawn

    # Exactly one discrepancy, still open.
    (discrepancy,) = Discrepancy.objects.filter(clinic=clinic)
    assert discrepancy.is_open

    # Every month's report reconciles at both locations.
    first = today.replace(day=1) - datetime.timedelta(days=92)
    for location in locations:
        month = first.replace(day=1)
        while month < today:
            last = min(reports.last_month((month + datetime.timedelta(days=32)).replace(day=1))[1], today)
            assert reports.schedule_report(location, month, last).reconciles
            month = (month + datetime.timedelta(days=32)).replace(day=1)

    before = (LedgerEntry.objects.count(), StockCount.objects.count(), Discrepancy.objects.count())
    assert seed_inventory(clinic, _actors(clinic)) == 0
    assert (LedgerEntry.objects.count(), StockCount.objects.count(), Discrepancy.objects.count()) == before
