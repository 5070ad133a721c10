"""Theft or significant loss, and non-recoverable breakage or spillage (clinical.md section 5).

    notice_due_date(discovered_on) -> date        # 1 business day: weekends and US federal holidays skipped
    form_106_due_date(discovered_on) -> date      # 45 days
    open_loss_case(actor, location, *, kind, discovered_at, description, lot=None, quantity_units=0,
                   quantity_ml=0, witnesses=()) -> LossCase
    record_filing(actor, case, *, kind, filed_on, method, reference) -> LossFiling
    deadlines(case, today) -> list[Deadline]
    open_deadlines(cases, today) -> list[Deadline]  # not yet filed, soonest first

A theft or significant loss starts two deadlines: written notice to the DEA Field Division within
1 business day of discovery, and DEA Form 106, filed electronically, within 45 days (88 FR 40707,
effective 2023-07-24). Theft is always reportable; "significant" is the registrant's judgement.
A non-recoverable breakage or spillage is not a loss: it is documented, signed by the two people
who witnessed it, and starts no deadline. Business days skip Saturdays, Sundays and US federal
holidays (the `holidays` library, public category of the United States).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import holidays
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location
from ketacare.inventory import actions
from ketacare.inventory.models import FilingKind, FilingMethod, LossCase, LossFiling, LossKind, Lot

NOTICE_BUSINESS_DAYS = 1  # written notice to the DEA Field Division (clinical.md section 5)
FORM_106_DAYS = 45  # DEA Form 106, electronically (clinical.md section 5)
CENT = Decimal("0.01")


def is_business_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in holidays.country_holidays("US", years=day.year)


def add_business_days(day: datetime.date, count: int) -> datetime.date:
    while count > 0:
        day += datetime.timedelta(days=1)
        if is_business_day(day):
            count -= 1
    return day


def notice_due_date(discovered_on: datetime.date) -> datetime.date:
    """The last day for the written notice: 1 business day after the day of discovery."""
    return add_business_days(discovered_on, NOTICE_BUSINESS_DAYS)


def form_106_due_date(discovered_on: datetime.date) -> datetime.date:
    return discovered_on + datetime.timedelta(days=FORM_106_DAYS)


def _require(actor: Actor) -> None:
    if not actor.can(Perm.INVENTORY_INVESTIGATE):
        raise PermissionDenied("Your role does not allow inventory.investigate.")


def _quantity(value: Any, key: str) -> Decimal:
    try:
        number = Decimal(str(value or 0))
    except (InvalidOperation, ValueError):
        raise ValidationError({key: "Enter a number of mL."}) from None
    if not number.is_finite() or number < 0 or number != number.quantize(CENT):
        raise ValidationError({key: "Enter 0 or more mL, to at most 2 decimal places."})
    return number.quantize(CENT)


@transaction.atomic
def open_loss_case(
    actor: Actor,
    location: Location,
    *,
    kind: str,
    discovered_at: datetime.datetime,
    description: str,
    lot: Lot | None = None,
    quantity_units: int = 0,
    quantity_ml: Decimal | int = 0,
    witnesses: Sequence[actions.WitnessSignature] = (),
) -> LossCase:
    """Open a case (INVENTORY_INVESTIGATE). Theft and significant loss get their two DEA deadlines
    from the discovery date in the clinic's zone; breakage or spillage needs two witnesses."""
    _require(actor)
    if location.clinic_id != actor.clinic.pk:
        raise Http404("No such location.")
    if lot is not None and (lot.clinic_id != actor.clinic.pk):
        raise Http404("No such lot.")
    errors: dict[str, str] = {}
    if kind not in LossKind.values:
        errors["kind"] = "Choose theft, significant loss, or breakage or spillage."
    if not description.strip():
        errors["description"] = "Describe what was found, where and how."
    if discovered_at > timezone.now():
        errors["discovered_at"] = "The discovery cannot be in the future."
    if lot is not None and lot.location_id != location.pk:
        errors["lot"] = "This lot is held at another location."
    if quantity_units < 0:
        errors["quantity_units"] = "Enter 0 or more."
    try:
        ml = _quantity(quantity_ml, "quantity_ml")
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        ml = Decimal("0")
    if not errors and lot is not None and not quantity_units and not ml:
        errors["quantity_ml"] = "Enter the quantity: sealed containers, mL, or both."
    if not errors and lot is None and (quantity_units or ml):
        errors["lot"] = "Choose the lot, so the quantity is recorded in mg as well (Form 106 asks for it)."
    if errors:
        raise ValidationError(errors)
    fields: dict[str, Any] = {}
    if kind == LossKind.BREAKAGE:
        if len(witnesses) < 2:
            key = "witness_email" if not witnesses else "second_witness_email"
            raise ValidationError({key: "A breakage or spillage is signed by the two people who witnessed it."})
        first = actions.verify_witness(actor, witnesses[0])
        fields["witness"] = first
        fields["second_witness"] = actions.verify_witness(actor, witnesses[1], field="second_witness", other=first)
    else:
        discovered_on = timezone.localtime(discovered_at, actor.clinic.zone).date()
        fields["notice_due"] = notice_due_date(discovered_on)
        fields["form_106_due"] = form_106_due_date(discovered_on)
    mg = Decimal("0")
    if lot is not None:
        product = lot.product
        total_ml = Decimal(quantity_units) * product.container_volume_ml + ml
        mg = (total_ml * product.concentration_mg_per_ml).quantize(CENT)
    case = LossCase.objects.create(
        clinic=actor.clinic,
        location=location,
        kind=kind,
        discovered_at=discovered_at,
        description=description.strip(),
        lot=lot,
        quantity_units=quantity_units,
        quantity_ml=ml,
        quantity_mg=mg,
        recorded_at=timezone.now(),
        recorded_by=actor.user,
        recorded_by_label=actor.user.display_name,
        **fields,
    )
    record(
        actor,
        AuditAction.CREATE,
        "loss_case.opened",
        subject=case,
        detail={
            "kind": kind,
            "location": location.pk,
            "lot": lot.pk if lot else None,
            "quantity_units": quantity_units,
            "quantity_ml": ml,
            "notice_due": case.notice_due,
            "form_106_due": case.form_106_due,
            "witnesses": [w for w in (case.witness_id, case.second_witness_id) if w],
        },
    )
    return case


@transaction.atomic
def record_filing(
    actor: Actor, case: LossCase, *, kind: str, filed_on: datetime.date, method: str, reference: str
) -> LossFiling:
    """Record what was filed for a theft or loss case; it closes that deadline."""
    _require(actor)
    if case.clinic_id != actor.clinic.pk:
        raise Http404("No such case.")
    case = LossCase.objects.select_for_update().get(pk=case.pk)
    errors: dict[str, str] = {}
    if not case.is_reportable:
        raise ValidationError({"kind": "A breakage or spillage is not a loss: nothing is filed with the DEA."})
    if kind not in FilingKind.values:
        errors["kind"] = "Choose the notice or Form 106."
    elif case.filings.filter(kind=kind).exists():
        errors["kind"] = "This has already been recorded as filed."
    if method not in FilingMethod.values:
        errors["method"] = "Choose how it was filed."
    elif kind == FilingKind.FORM_106 and method != FilingMethod.DEA_ONLINE:
        errors["method"] = "Form 106 is filed electronically with the DEA (paper is no longer accepted)."
    discovered_on = timezone.localtime(case.discovered_at, actor.clinic.zone).date()
    if filed_on > actions.clinic_today(actor):
        errors["filed_on"] = "The filing date cannot be in the future."
    elif filed_on < discovered_on:
        errors["filed_on"] = "The filing date cannot be before the discovery."
    if not reference.strip():
        errors["reference"] = "Enter the confirmation or reference number."
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            filing = LossFiling.objects.create(
                case=case,
                kind=kind,
                filed_on=filed_on,
                method=method,
                reference=reference.strip(),
                filed_by=actor.user,
                filed_by_label=actor.user.display_name,
                recorded_at=timezone.now(),
            )
    except IntegrityError:
        raise ValidationError({"kind": "This has already been recorded as filed."}) from None
    record(
        actor,
        AuditAction.CREATE,
        "loss_filing.recorded",
        subject=filing,
        detail={
            "case": case.pk,
            "kind": kind,
            "filed_on": filed_on,
            "method": method,
            "late": filed_on > _due(case, kind),
        },
    )
    return filing


def _due(case: LossCase, kind: str) -> datetime.date:
    due = case.notice_due if kind == FilingKind.DEA_NOTICE else case.form_106_due
    if due is None:
        raise ValueError("A breakage or spillage case has no DEA deadline.")
    return due


@dataclass(frozen=True)
class Deadline:
    case: LossCase
    kind: str
    label: str
    due: datetime.date
    filing: LossFiling | None
    today: datetime.date

    @property
    def done(self) -> bool:
        return self.filing is not None

    @property
    def days_left(self) -> int:
        return (self.due - self.today).days

    @property
    def overdue(self) -> bool:
        return not self.done and self.days_left < 0

    @property
    def overdue_days(self) -> int:
        return max(-self.days_left, 0) if not self.done else 0

    @property
    def status(self) -> str:
        if self.done:
            return "filed"
        if self.overdue:
            return f"overdue by {-self.days_left} day(s)"
        if self.days_left == 0:
            return "due today"
        return f"{self.days_left} day(s) left"


def deadlines(case: LossCase, today: datetime.date) -> list[Deadline]:
    """The case's two deadlines (none for a breakage). Uses `case.filings` (prefetch it for lists)."""
    if not case.is_reportable:
        return []
    filed = {f.kind: f for f in case.filings.all()}
    return [
        Deadline(case, kind, FilingKind(kind).label, _due(case, kind), filed.get(kind), today)
        for kind in (FilingKind.DEA_NOTICE, FilingKind.FORM_106)
    ]


def open_deadlines(cases: Iterable[LossCase], today: datetime.date) -> list[Deadline]:
    found = [d for case in cases for d in deadlines(case, today) if not d.done]
    return sorted(found, key=lambda d: (d.due, d.case.pk))
