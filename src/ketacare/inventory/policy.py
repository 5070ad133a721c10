"""Record and inventory policy per registrant location (clinical.md section 5, Inventory and Retention).

    policy_for(location) -> InventoryPolicy         # saved row, or the federal defaults (unsaved)
    save_policy(actor, location, *, interval, opened_containers, retention_years) -> InventoryPolicy
    next_inventory_due(location, policy=None) -> InventoryDue
    keep_until(policy, record_date) -> date         # the first day a record may be discarded

Federal defaults: an initial inventory on the first day of handling, then at least every 2 years
(biennial); estimated counts allowed for opened Schedule III containers (none of ours holds
> 1,000 tablets or capsules); records kept at least 2 years. A state may be stricter (Iowa: annual,
exact, liquids to the nearest quarter container; Wisconsin: 5 years' retention).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location
from ketacare.inventory.models import (
    CountKind,
    InventoryInterval,
    InventoryPolicy,
    OpenedContainerRule,
    StockCount,
)

MIN_RETENTION_YEARS = 2  # 21 CFR 1304.04 (clinical.md section 5, Retention)
MAX_RETENTION_YEARS = 30
QUARTER = Decimal("0.25")


def policy_for(location: Location) -> InventoryPolicy:
    """The location's policy, or (unsaved) the federal defaults when none was set."""
    found = InventoryPolicy.objects.filter(location=location).first()
    return found or InventoryPolicy(clinic_id=location.clinic_id, location=location)


def interval_years(policy: InventoryPolicy) -> int:
    return 1 if policy.interval == InventoryInterval.ANNUAL else 2


def add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def keep_until(policy: InventoryPolicy, record_date: datetime.date) -> datetime.date:
    """The day a record dated `record_date` has been kept its `retention_years` (21 CFR 1304.04: at
    least 2 years from the date of the record). Nothing in KetaCare deletes ledger records."""
    return add_years(record_date, max(policy.retention_years, MIN_RETENTION_YEARS))


@dataclass(frozen=True)
class InventoryDue:
    """When the next full inventory is due: `last` is the date of the last initial or periodic one
    (None: no initial inventory yet, so it is due now)."""

    last: datetime.date | None
    due: datetime.date | None
    initial_needed: bool

    def days_left(self, today: datetime.date) -> int | None:
        return None if self.due is None else (self.due - today).days


def next_inventory_due(location: Location, policy: InventoryPolicy | None = None) -> InventoryDue:
    policy = policy or policy_for(location)
    last = (
        StockCount.objects.filter(location=location, kind__in=[CountKind.INITIAL, CountKind.PERIODIC])
        .order_by("-counted_at")
        .values_list("counted_at", flat=True)
        .first()
    )
    if last is None:
        return InventoryDue(last=None, due=None, initial_needed=True)
    day = timezone.localtime(last, location.clinic.zone).date()
    return InventoryDue(last=day, due=add_years(day, interval_years(policy)), initial_needed=False)


def may_estimate(rule: str) -> bool:
    return rule in (OpenedContainerRule.ESTIMATE, OpenedContainerRule.QUARTER)


def estimate_tolerance_ml(rule: str, content_ml: Decimal) -> Decimal:
    """How far an estimated vial may be from the ledger without being a variance: half a quarter
    container (the rounding of an estimate to the nearest quarter). Exact counts: none."""
    if not may_estimate(rule):
        return Decimal("0")
    return (Decimal(content_ml) * QUARTER / 2).quantize(Decimal("0.01"))


@transaction.atomic
def save_policy(
    actor: Actor, location: Location, *, interval: str, opened_containers: str, retention_years: int
) -> InventoryPolicy:
    """Set a location's policy (inventory manager). Retention is at least 2 years."""
    if not actor.can(Perm.INVENTORY_COUNT):
        raise PermissionDenied("Your role does not allow inventory.count.")
    if location.clinic_id != actor.clinic.pk:
        raise Http404("No such location.")
    errors: dict[str, str] = {}
    if interval not in InventoryInterval.values:
        errors["interval"] = "Choose biennial or annual."
    if opened_containers not in OpenedContainerRule.values:
        errors["opened_containers"] = "Choose how opened containers are counted."
    if retention_years < MIN_RETENTION_YEARS:
        errors["retention_years"] = "Records are kept at least 2 years (21 CFR 1304.04, clinical.md section 5)."
    elif retention_years > MAX_RETENTION_YEARS:
        errors["retention_years"] = f"Enter at most {MAX_RETENTION_YEARS} years."
    if errors:
        raise ValidationError(errors)
    policy = InventoryPolicy.objects.select_for_update().filter(location=location).first()
    before = None
    if policy is None:
        policy = InventoryPolicy(clinic=actor.clinic, location=location)
    else:
        before = {
            "interval": policy.interval,
            "opened_containers": policy.opened_containers,
            "retention_years": policy.retention_years,
        }
    policy.interval = interval
    policy.opened_containers = opened_containers
    policy.retention_years = retention_years
    policy.updated_by = actor.user
    policy.save()
    record(
        actor,
        AuditAction.UPDATE if before else AuditAction.CREATE,
        "inventory_policy.saved",
        subject=policy,
        detail={
            "location": location.pk,
            "before": before,
            "after": {"interval": interval, "opened_containers": opened_containers, "retention_years": retention_years},
        },
    )
    return policy
