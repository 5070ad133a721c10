"""Counts of stock by two people, and the discrepancies they open (issue #6; clinical.md section 5).

    count_sheet(location) -> list[SheetLine]      # what a count must cover, with the ledger balance
    record_count(actor, location, *, kind, witness, sealed, vials, note="") -> StockCount
    close_discrepancy(actor, discrepancy, *, finding, root_cause, adjust=False,
                      loss_kind=LossKind.SIGNIFICANT_LOSS) -> Discrepancy
    counts_in_period(location, start, end) -> list[StockCount]   # for the Schedule III report

A count covers every lot holding sealed containers and every opened vial of the location. The
lots and vials are locked (as the ledger's actions lock them) while the count is stored, so each
line's `expected_*` is the ledger's derived balance at that moment. The counter (INVENTORY_COUNT)
records it and a witness signs with their own password; it is then never changed
(`models._Immutable`). Opened vials are counted exactly, or estimated where the location's policy
allows (`policy.OpenedContainerRule`): under the quarter rule an estimate is a whole number of
quarter vials. A line whose count differs from the ledger (an estimate: by more than half a quarter
vial) opens a `Discrepancy`, closed by an investigator (INVENTORY_INVESTIGATE) with a finding and
a root cause, optionally an adjustment entry that brings the books to the count (recorded through
`actions.adjust`, so it needs INVENTORY_COUNT too), or marked as theft or loss, which opens a
`LossCase` with its DEA deadlines.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location
from ketacare.inventory import actions
from ketacare.inventory.balances import lock_lots
from ketacare.inventory.losses import open_loss_case
from ketacare.inventory.models import (
    Container,
    CountKind,
    CountLine,
    Discrepancy,
    LossKind,
    Lot,
    OpenedContainerRule,
    RootCause,
    StockCount,
)
from ketacare.inventory.policy import QUARTER, estimate_tolerance_ml, may_estimate, policy_for

CENT = Decimal("0.01")


@dataclass
class SheetLine:
    """One line to count: a lot's sealed containers (`container` None) or one opened vial."""

    lot: Lot
    container: Container | None
    expected_units: int
    expected_ml: Decimal

    @property
    def key(self) -> str:
        return f"vial_{self.container.pk}" if self.container else f"lot_{self.lot.pk}"


def _lots_with_stock(location: Location) -> Any:
    return (
        Lot.objects.filter(location=location)
        .filter(Q(sealed_units__gt=0) | Q(containers__remaining_ml__gt=0))
        .distinct()
    )


def count_sheet(location: Location) -> list[SheetLine]:
    """Every lot with sealed stock and every opened vial with mL left, with the ledger's balance."""
    lots = list(_lots_with_stock(location).select_related("product").order_by("product__name", "expiry_date", "pk"))
    vials: dict[int, list[Container]] = {}
    for vial in Container.objects.filter(lot__location=location, remaining_ml__gt=0).order_by("lot_id", "number"):
        vials.setdefault(vial.lot_id, []).append(vial)
    sheet: list[SheetLine] = []
    for lot in lots:
        sheet.append(SheetLine(lot, None, lot.sealed_units, Decimal("0")))
        for vial in vials.get(lot.pk, []):
            vial.lot = lot
            sheet.append(SheetLine(lot, vial, 0, Decimal(vial.remaining_ml)))
    return sheet


def _ml(value: Any, key: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({key: "Enter the mL left in this vial."}) from None
    if not number.is_finite() or number < 0:
        raise ValidationError({key: "Enter 0 mL or more."})
    if number != number.quantize(CENT):
        raise ValidationError({key: "Enter mL to at most 2 decimal places."})
    return number.quantize(CENT)


@transaction.atomic
def record_count(
    actor: Actor,
    location: Location,
    *,
    kind: str,
    witness: actions.WitnessSignature,
    sealed: Mapping[int, int],
    vials: Mapping[int, tuple[Decimal, bool]],
    note: str = "",
) -> StockCount:
    """Record a signed count: `sealed` maps lot id -> sealed containers counted; `vials` maps opened
    vial id -> (mL counted, estimated?). Every line of `count_sheet(location)` must be counted.
    Errors name `lot_<id>`, `vial_<id>`, `kind` or the witness fields."""
    if not actor.can(Perm.INVENTORY_COUNT):
        raise PermissionDenied("Your role does not allow inventory.count.")
    if location.clinic_id != actor.clinic.pk or not location.dea_registration:
        raise Http404("No such location.")
    if kind not in CountKind.values:
        raise ValidationError({"kind": "Choose what kind of count this is."})
    policy = policy_for(location)
    rule = policy.opened_containers
    locked = lock_lots(_lots_with_stock(location).values_list("pk", flat=True))
    open_vials = list(
        Container.objects.select_for_update().filter(lot__location=location, remaining_ml__gt=0).order_by("pk")
    )
    errors: dict[str, str] = {}
    known_vials = {v.pk for v in open_vials}
    for lot_id in sealed:
        if lot_id not in locked:
            errors[f"lot_{lot_id}"] = "This lot holds no stock at this location on the ledger."
    for vial_id in vials:
        if vial_id not in known_vials:
            errors[f"vial_{vial_id}"] = "This vial is not open at this location on the ledger."
    lines: list[CountLine] = []
    for lot in sorted(locked.values(), key=lambda lot: lot.pk):
        key = f"lot_{lot.pk}"
        units = sealed.get(lot.pk)
        if units is None:
            errors[key] = f"Count the sealed {lot.product.unit_label}s of lot {lot.lot_number} (0 if none)."
            continue
        if units < 0:
            errors[key] = "Enter 0 or more."
            continue
        lines.append(
            CountLine(
                lot=lot,
                expected_units=lot.sealed_units,
                counted_units=units,
                is_variance=units != lot.sealed_units,
            )
        )
    for vial in open_vials:
        key = f"vial_{vial.pk}"
        if vial.pk not in vials:
            errors[key] = f"Count the mL left in vial {vial.number}."
            continue
        raw, estimated = vials[vial.pk]
        try:
            ml = _ml(raw, key)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
            continue
        if ml > vial.content_ml:
            errors[key] = f"Vial {vial.number} holds at most {vial.content_ml} mL."
            continue
        if estimated and not may_estimate(rule):
            errors[key] = "This location's policy requires an exact count of opened containers."
            continue
        if estimated and rule == OpenedContainerRule.QUARTER and (ml / (vial.content_ml * QUARTER)) % 1:
            errors[key] = (
                f"Estimate to the nearest quarter vial ({(vial.content_ml * QUARTER).quantize(CENT)} mL steps)."
            )
            continue
        expected = Decimal(vial.remaining_ml)
        tolerance = estimate_tolerance_ml(rule, vial.content_ml) if estimated else Decimal("0")
        lines.append(
            CountLine(
                lot=locked[vial.lot_id],
                container=vial,
                expected_ml=expected,
                counted_ml=ml,
                estimated=estimated,
                is_variance=abs(ml - expected) > tolerance,
            )
        )
    if errors:
        raise ValidationError(errors)
    signer = actions.verify_witness(actor, witness)
    now = timezone.now()
    count = StockCount.objects.create(
        clinic=actor.clinic,
        location=location,
        kind=kind,
        counted_at=now,
        counted_by=actor.user,
        counted_by_label=actor.user.display_name,
        witness=signer,
        witness_label=signer.display_name,
        opened_rule=rule,
        note=note.strip(),
    )
    for line in lines:
        line.count = count
    CountLine.objects.bulk_create(lines)
    opened = [
        Discrepancy(clinic=actor.clinic, location=location, line=line, opened_at=now)
        for line in lines
        if line.is_variance
    ]
    Discrepancy.objects.bulk_create(opened)
    record(
        actor,
        AuditAction.CREATE,
        "stock_count.recorded",
        subject=count,
        detail={
            "location": location.pk,
            "kind": kind,
            "witness": signer.pk,
            "lines": len(lines),
            "variances": [
                {
                    "lot": line.lot_id,
                    "container": line.container_id,
                    "units": line.variance_units,
                    "ml": line.variance_ml,
                }
                for line in lines
                if line.is_variance
            ],
        },
    )
    for discrepancy in opened:
        record(actor, AuditAction.CREATE, "discrepancy.opened", subject=discrepancy, detail={"count": count.pk})
    return count


def variance_label(line: CountLine) -> str:
    if line.container_id is None:
        return f"{line.variance_units:+d} {line.lot.product.unit_label}(s)"
    return f"{line.variance_ml:+} mL"


@transaction.atomic
def close_discrepancy(
    actor: Actor,
    discrepancy: Discrepancy,
    *,
    finding: str,
    root_cause: str,
    adjust: bool = False,
    loss_kind: str = LossKind.SIGNIFICANT_LOSS,
) -> Discrepancy:
    """Close an open discrepancy with the investigator's finding and root cause. `adjust` records an
    adjustment entry of the line's variance (the books then agree with the count); root cause
    `theft_or_loss` also opens a loss case of `loss_kind` (theft or significant loss)."""
    if not actor.can(Perm.INVENTORY_INVESTIGATE):
        raise PermissionDenied("Your role does not allow inventory.investigate.")
    if discrepancy.clinic_id != actor.clinic.pk:
        raise Http404("No such discrepancy.")
    row = (
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("line", "line__lot", "line__lot__product", "line__container", "line__count", "location")
        .get(pk=discrepancy.pk)
    )
    if row.closed_at is not None:
        raise ValidationError({"finding": "This discrepancy is already closed."})
    errors: dict[str, str] = {}
    if not finding.strip():
        errors["finding"] = "Write what the investigation found."
    if root_cause not in RootCause.values:
        errors["root_cause"] = "Choose the root cause."
    theft = root_cause == RootCause.THEFT_OR_LOSS
    if theft and loss_kind not in (LossKind.THEFT, LossKind.SIGNIFICANT_LOSS):
        errors["loss_kind"] = "Choose theft or significant loss."
    if adjust and not actor.can(Perm.INVENTORY_COUNT):
        errors["adjust"] = "Only the inventory manager records an adjustment: ask them, or close without one."
    if errors:
        raise ValidationError(errors)
    line = row.line
    lot = line.lot
    if adjust:
        reason = f"Discrepancy #{row.pk} (count #{line.count_id}): {finding.strip()}"
        try:
            if line.container_id is None:
                row.adjustment = actions.adjust(actor, lot, reason=reason, units_delta=line.variance_units)
            else:
                row.adjustment = actions.adjust(
                    actor, lot, reason=reason, container=line.container, ml_delta=line.variance_ml
                )
        except ValidationError as exc:
            raise ValidationError({"adjust": " ".join(m for ms in exc.message_dict.values() for m in ms)}) from None
    if theft:
        missing_units = max(-line.variance_units, 0)
        # Sealed containers missing, or the mL missing from an opened vial (a case holds either or both).
        missing_ml = max(-line.variance_ml, Decimal("0")) if line.container_id else Decimal("0")
        row.loss_case = open_loss_case(
            actor,
            row.location,
            kind=loss_kind,
            discovered_at=timezone.now(),
            description=f"Found by count #{line.count_id} (discrepancy #{row.pk}): {finding.strip()}",
            lot=lot,
            quantity_units=missing_units,
            quantity_ml=missing_ml,
        )
    row.finding = finding.strip()
    row.root_cause = root_cause
    row.closed_at = timezone.now()
    row.closed_by = actor.user
    row.closed_by_label = actor.user.display_name
    row.save()
    record(
        actor,
        AuditAction.UPDATE,
        "discrepancy.closed",
        subject=row,
        detail={
            "root_cause": root_cause,
            "adjustment": row.adjustment_id,
            "loss_case": row.loss_case_id,
            "count": line.count_id,
        },
    )
    return row


def counts_in_period(location: Location, start: datetime.datetime, end: datetime.datetime) -> list[StockCount]:
    """The location's counts in [start, end), oldest first, with their lines (lot, product, vial and
    discrepancy loaded), sealed lines before vials: the inventory records of the Schedule III report.
    Two queries."""
    lines = CountLine.objects.select_related("lot", "lot__product", "container", "discrepancy").order_by(
        "lot__product__name", "lot__lot_number", F("container__number").asc(nulls_first=True), "id"
    )
    return list(
        StockCount.objects.filter(location=location, counted_at__gte=start, counted_at__lt=end)
        .order_by("counted_at", "id")
        .prefetch_related(Prefetch("lines", queryset=lines))
    )
