"""The only writers of the Schedule III ledger (issue #6; facts: clinical.md section 5).

Each action: permission and clinic check, lock the balance rows (`balances.lock_lots`, then
`lock_container`), validate against the locked balances, insert one `LedgerEntry` (two for a
transfer), apply its deltas (`balances.apply_entry`) and write the audit row, all in one
transaction. A refusal is a `ValidationError` naming the field, so pages and the API show it there.

Public signatures (the sessions domain calls `administer`):

    receive_stock(actor, location, product, *, lot_number, expiry_date, packages, supplier_name,
                  supplier_address, supplier_dea, invoice_number, received_on) -> LedgerEntry
    administer(actor, lot, patient, *, quantity_mg, quantity_ml, container=None,
               session_ref=None) -> LedgerEntry
    waste(actor, container, *, quantity_mg, quantity_ml, witness, reason="") -> LedgerEntry
    dispose(actor, lot, *, method, witnesses, units=0, container=None, counterparty_name="",
            counterparty_address="", counterparty_dea="", document_number="", reason="") -> LedgerEntry
    transfer(actor, lot, to_location, *, units, reason="") -> tuple[LedgerEntry, LedgerEntry]
    adjust(actor, lot, *, reason, units_delta=0, container=None, ml_delta=0) -> LedgerEntry
    correct(actor, entry, *, reason) -> LedgerEntry

A witness is `WitnessSignature(email, password)`, typed by the witness; `verify_witness` checks it.
A wrong one raises `WitnessRefused` (a ValidationError): the caller passes it to
`audit_witness_refusal(actor, exc)` after the rollback, which also feeds the per-witness throttle.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Perm, can
from ketacare.audit.models import AuditAction, AuditEvent, AuditOutcome
from ketacare.audit.record import record
from ketacare.clinics.models import Location
from ketacare.inventory.balances import apply_entry, lock_container, lock_lots
from ketacare.inventory.models import (
    Container,
    DisposalMethod,
    EntryKind,
    LedgerEntry,
    Lot,
    Product,
)
from ketacare.patients.models import Patient

CENT = Decimal("0.01")
# A witness's password typed wrong this many times in this many minutes blocks that witness for the
# rest of the window (the sign-in lockout does not see these attempts, so they are counted here).
WITNESS_FAILURES_ALLOWED = 5
WITNESS_WINDOW_MINUTES = 15


class WitnessRefused(ValidationError):
    """A witness's email or password was wrong. Raised inside the action's transaction, so the caller
    writes the audit row after the rollback: `audit_witness_refusal(actor, exc)`."""

    def __init__(self, message: dict[str, str], witness_email: str) -> None:
        super().__init__(message)
        self.witness_email = witness_email


def audit_witness_refusal(actor: Actor, exc: BaseException) -> None:
    """Record a refused witness signature (call outside the failed transaction). Counted by
    `verify_witness` to stop password guessing through the witness fields."""
    if isinstance(exc, WitnessRefused):
        record(
            actor,
            AuditAction.EXECUTE,
            "inventory_witness.refused",
            outcome=AuditOutcome.MINOR_FAILURE,
            detail={"witness_email": exc.witness_email},
        )


@dataclass(frozen=True)
class WitnessSignature:
    """A witness's own sign-in email and password, typed by the witness on the same device."""

    email: str
    password: str


# --- checks ------------------------------------------------------------------------------------


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def clinic_today(actor: Actor) -> datetime.date:
    """Today in the clinic's zone: expiry dates are compared against this, not the UTC date."""
    return timezone.localdate(timezone=actor.clinic.zone)


def _same_clinic(actor: Actor, obj: Any, what: str) -> None:
    if obj.clinic_id != actor.clinic.pk:
        raise Http404(f"No such {what}.")


_DEA = re.compile(r"^[A-Z][A-Z9][0-9]{7}$")


def valid_dea_number(value: str) -> bool:
    """Two letters and seven digits whose last digit is the DEA check digit:
    (d1 + d3 + d5) + 2 x (d2 + d4 + d6), last digit."""
    value = value.strip().upper()
    if not _DEA.match(value):
        return False
    d = [int(c) for c in value[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def _dea(value: str, field: str) -> str:
    value = value.strip().upper()
    if not value:
        raise ValidationError({field: "Enter the DEA registration number."})
    if not valid_dea_number(value):
        raise ValidationError({field: f"{value} is not a valid DEA number (2 letters, 7 digits, check digit)."})
    return value


def _quantity(value: Any, field: str, *, unit: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"Enter a number of {unit}."}) from None
    if not number.is_finite() or number <= 0:
        raise ValidationError({field: f"Enter a quantity above 0 {unit}."})
    if number != number.quantize(CENT):
        raise ValidationError({field: f"Enter {unit} to at most 2 decimal places."})
    return number.quantize(CENT)


def check_concentration(product: Product, quantity_mg: Decimal, quantity_ml: Decimal) -> None:
    """mg must equal mL x concentration, within the rounding of mL to 0.01 mL (and mg to 0.01 mg).

    Refused on `quantity_mg`, naming what the volume holds, so a slip of a decimal point or the
    wrong vial strength shows up before it reaches the record.
    """
    concentration = product.concentration_mg_per_ml
    expected = quantity_ml * concentration
    tolerance = concentration * Decimal("0.005") + Decimal("0.005")
    if abs(quantity_mg - expected) > tolerance:
        raise ValidationError(
            {
                "quantity_mg": (
                    f"{quantity_mg} mg does not match {quantity_ml} mL at {concentration.normalize():f} mg/mL "
                    f"(that volume holds {expected.quantize(CENT)} mg). Check the dose, the volume and the product."
                )
            }
        )


def verify_witness(
    actor: Actor, signature: WitnessSignature, *, field: str = "witness", other: User | None = None
) -> User:
    """The witness, if they are a different, active member of this clinic whose role may witness
    and whose own password is right. Errors name `<field>_email` or `<field>_password`."""
    email = signature.email.strip().lower()
    if not email:
        raise ValidationError({f"{field}_email": "Enter the witness's sign-in email."})
    if not signature.password:
        raise ValidationError({f"{field}_password": "The witness must type their own password."})
    if email == actor.user.email.lower():
        raise ValidationError({f"{field}_email": "The witness must be someone other than you."})
    since = timezone.now() - datetime.timedelta(minutes=WITNESS_WINDOW_MINUTES)
    failures = AuditEvent.objects.filter(
        clinic=actor.clinic, event_type="inventory_witness.refused", occurred_at__gte=since, detail__witness_email=email
    ).count()
    if failures >= WITNESS_FAILURES_ALLOWED:
        raise ValidationError(
            {
                f"{field}_password": (
                    f"Too many wrong passwords for this witness in the last {WITNESS_WINDOW_MINUTES} minutes: "
                    "ask another witness, or try again later."
                )
            }
        )
    user = User.objects.filter(email=email, is_active=True).first()
    membership = Membership.objects.filter(user=user, clinic=actor.clinic, is_active=True).first() if user else None
    if user is None or membership is None or not user.check_password(signature.password):
        raise WitnessRefused({f"{field}_password": "The witness's email or password is wrong."}, email)
    if other is not None and other.pk == user.pk:
        raise ValidationError({f"{field}_email": "The two witnesses must be two different people."})
    if not can(membership.role, Perm.INVENTORY_WITNESS):
        raise ValidationError(
            {
                f"{field}_email": (
                    f"{user.full_name} ({membership.get_role_display()}) may not witness controlled substances."
                )
            }
        )
    return user


# --- helpers -----------------------------------------------------------------------------------


def _new_entry(actor: Actor, lot: Lot, kind: str, **fields: Any) -> LedgerEntry:
    entry = LedgerEntry.objects.create(
        clinic=actor.clinic,
        location=lot.location,
        lot=lot,
        kind=kind,
        occurred_at=timezone.now(),
        actor=actor.user,
        actor_label=actor.user.display_name,
        **fields,
    )
    apply_entry(entry)
    return entry


def _audit(actor: Actor, entry: LedgerEntry, event_type: str = "ledger_entry.recorded") -> None:
    record(
        actor,
        AuditAction.CREATE,
        event_type,
        subject=entry,
        patient=entry.patient,
        detail={
            "kind": entry.kind,
            "location": entry.location_id,
            "lot": entry.lot_id,
            "lot_number": entry.lot.lot_number,
            "container": entry.container_id,
            "sealed_delta": entry.sealed_delta,
            "ml_delta": entry.ml_delta,
            "quantity_units": entry.quantity_units,
            "quantity_ml": entry.quantity_ml,
            "quantity_mg": entry.quantity_mg,
            "witnesses": [w for w in (entry.witness_id, entry.second_witness_id) if w],
            "corrects": entry.corrects_id,
            "session_ref": entry.session_ref,
        },
    )


def _locked_lot(actor: Actor, lot: Lot) -> Lot:
    _same_clinic(actor, lot, "lot")
    return lock_lots([lot.pk])[lot.pk]


def _locked_container(lot: Lot, container: Container) -> Container:
    locked = lock_container(container.pk)
    if locked.lot_id != lot.pk:
        raise ValidationError({"container": "This vial belongs to another lot."})
    return locked


def _registrant(location: Location) -> None:
    if not location.dea_registration:
        raise ValidationError({"location": f"{location.name} has no DEA registration number: it cannot hold stock."})


# --- actions -----------------------------------------------------------------------------------


@transaction.atomic
def receive_stock(
    actor: Actor,
    location: Location,
    product: Product,
    *,
    lot_number: str,
    expiry_date: datetime.date,
    packages: int,
    supplier_name: str,
    supplier_address: str,
    supplier_dea: str,
    invoice_number: str,
    received_on: datetime.date,
) -> LedgerEntry:
    """Record a delivery: the receipt record of 21 CFR 1304.22(c) (clinical.md section 5)."""
    _require(actor, Perm.INVENTORY_RECEIVE)
    _same_clinic(actor, location, "location")
    _same_clinic(actor, product, "product")
    _registrant(location)
    if not product.locations.filter(pk=location.pk).exists():
        raise ValidationError({"product": f"{product.name} is not stocked at {location.name}."})
    errors: dict[str, str] = {}
    lot_number = lot_number.strip()
    if not lot_number:
        errors["lot_number"] = "Enter the lot number printed on the package."
    if packages < 1:
        errors["packages"] = "Enter how many packages arrived (at least 1)."
    if not supplier_name.strip():
        errors["supplier_name"] = "Enter the supplier's name."
    if not supplier_address.strip():
        errors["supplier_address"] = "Enter the supplier's address."
    if not invoice_number.strip():
        errors["invoice_number"] = "Enter the invoice number (the purchase record for Schedule III)."
    today = clinic_today(actor)
    if received_on > today:
        errors["received_on"] = "The receipt date cannot be in the future."
    if expiry_date < today:
        errors["expiry_date"] = f"This lot expired on {expiry_date:%Y-%m-%d}: do not receive it."
    try:
        dea = _dea(supplier_dea, "supplier_dea")
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)

    lot = Lot.objects.select_for_update().filter(location=location, product=product, lot_number=lot_number).first()
    if lot is None:
        try:
            with transaction.atomic():
                lot = Lot.objects.create(
                    clinic=actor.clinic,
                    location=location,
                    product=product,
                    lot_number=lot_number,
                    expiry_date=expiry_date,
                )
        except IntegrityError:  # the same new lot received at the same moment: use theirs
            lot = Lot.objects.select_for_update().get(location=location, product=product, lot_number=lot_number)
    lot = lock_lots([lot.pk])[lot.pk]
    if lot.expiry_date != expiry_date:
        raise ValidationError(
            {"expiry_date": f"Lot {lot_number} is on record with expiry {lot.expiry_date:%Y-%m-%d}. Check the label."}
        )
    units = packages * product.units_per_package
    entry = _new_entry(
        actor,
        lot,
        EntryKind.RECEIPT,
        sealed_delta=units,
        quantity_units=units,
        quantity_ml=Decimal(units) * product.container_volume_ml,
        quantity_mg=Decimal(units) * product.content_mg,
        counterparty_name=supplier_name.strip(),
        counterparty_address=supplier_address.strip(),
        counterparty_dea=dea,
        document_number=invoice_number.strip(),
        received_on=received_on,
    )
    _audit(actor, entry)
    return entry


@transaction.atomic
def administer(
    actor: Actor,
    lot: Lot,
    patient: Patient,
    *,
    quantity_mg: Decimal,
    quantity_ml: Decimal,
    container: Container | None = None,
    session_ref: str | None = None,
) -> LedgerEntry:
    """Record a dose given to `patient` from `lot`.

    Vials: drawn from the opened `container`, or, when None, from a newly opened vial of the lot.
    Nasal devices: whole devices (quantity_ml a multiple of the device volume). Refused: an expired
    lot (clinic's date), more than is left, mg that do not match mL x concentration.
    """
    _require(actor, Perm.INVENTORY_ADMINISTER)
    _same_clinic(actor, patient, "patient")
    lot = _locked_lot(actor, lot)
    product = lot.product
    ml = _quantity(quantity_ml, "quantity_ml", unit="mL")
    mg = _quantity(quantity_mg, "quantity_mg", unit="mg")
    today = clinic_today(actor)
    if lot.is_expired(today):
        raise ValidationError(
            {"lot": f"Lot {lot.lot_number} expired on {lot.expiry_date:%Y-%m-%d}: it cannot be used."}
        )
    check_concentration(product, mg, ml)
    fields: dict[str, Any] = {
        "patient": patient,
        "session_ref": session_ref or None,
        "quantity_ml": ml,
        "quantity_mg": mg,
    }
    if product.is_vial:
        if container is not None:
            opened = _locked_container(lot, container)
            if ml > opened.remaining_ml:
                raise ValidationError(
                    {"quantity_ml": f"Only {opened.remaining_ml} mL is left in vial {opened.number}."}
                )
            fields.update(container=opened, ml_delta=-ml)
        else:
            volume = product.container_volume_ml
            if lot.sealed_units < 1:
                raise ValidationError({"container": f"Lot {lot.lot_number} has no unopened vial left."})
            if ml > volume:
                raise ValidationError({"quantity_ml": f"One vial holds {volume} mL: draw the rest from a second vial."})
            number = (Container.objects.filter(lot=lot).aggregate(n=Max("number"))["n"] or 0) + 1
            opened = Container.objects.create(
                clinic=actor.clinic,
                lot=lot,
                number=number,
                content_ml=volume,
                remaining_ml=Decimal("0"),
                opened_at=timezone.now(),
                opened_by=actor.user,
            )
            # Opening moves one vial from sealed stock into the container; the dose leaves it.
            fields.update(container=opened, sealed_delta=-1, ml_delta=volume - ml)
    else:
        if container is not None:
            raise ValidationError({"container": "Nasal devices are used whole: do not choose a vial."})
        devices = ml / product.container_volume_ml
        if devices != devices.to_integral_value():
            raise ValidationError(
                {"quantity_ml": f"Nasal devices are used whole: {product.container_volume_ml} mL per device."}
            )
        units = int(devices)
        if units > lot.sealed_units:
            raise ValidationError({"quantity_ml": f"Only {lot.sealed_units} device(s) left in lot {lot.lot_number}."})
        fields.update(sealed_delta=-units, quantity_units=units)
    entry = _new_entry(actor, lot, EntryKind.ADMINISTRATION, **fields)
    _audit(actor, entry)
    return entry


@transaction.atomic
def waste(
    actor: Actor,
    container: Container,
    *,
    quantity_mg: Decimal,
    quantity_ml: Decimal,
    witness: WitnessSignature,
    reason: str = "",
) -> LedgerEntry:
    """Record the wasted remainder of a dose from an opened vial, signed by a witness with their own
    password (clinic policy; clinical.md section 5: wastage must be recorded, not on Form 41)."""
    _require(actor, Perm.INVENTORY_ADMINISTER)
    _same_clinic(actor, container, "vial")
    lot = _locked_lot(actor, container.lot)
    opened = _locked_container(lot, container)
    ml = _quantity(quantity_ml, "quantity_ml", unit="mL")
    mg = _quantity(quantity_mg, "quantity_mg", unit="mg")
    check_concentration(lot.product, mg, ml)
    if ml > opened.remaining_ml:
        raise ValidationError({"quantity_ml": f"Only {opened.remaining_ml} mL is left in vial {opened.number}."})
    signer = verify_witness(actor, witness)
    last_dose = (
        LedgerEntry.objects.filter(container=opened, kind=EntryKind.ADMINISTRATION, corrects__isnull=True)
        .order_by("-id")
        .values_list("patient_id", flat=True)
        .first()
    )
    entry = _new_entry(
        actor,
        lot,
        EntryKind.WASTE,
        container=opened,
        ml_delta=-ml,
        quantity_ml=ml,
        quantity_mg=mg,
        witness=signer,
        patient_id=last_dose,
        reason=reason.strip(),
    )
    _audit(actor, entry)
    return entry


@transaction.atomic
def dispose(
    actor: Actor,
    lot: Lot,
    *,
    method: str,
    witnesses: Sequence[WitnessSignature],
    units: int = 0,
    container: Container | None = None,
    counterparty_name: str = "",
    counterparty_address: str = "",
    counterparty_dea: str = "",
    document_number: str = "",
    reason: str = "",
) -> LedgerEntry:
    """Dispose of sealed containers (`units`) or of what is left in an opened vial (`container`):
    to a reverse distributor (name, address, DEA number; one witness) or by destruction on site
    (DEA Form 41, two witnesses). clinical.md section 5."""
    _require(actor, Perm.INVENTORY_RECEIVE)
    lot = _locked_lot(actor, lot)
    product = lot.product
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {
        "disposal_method": method,
        "reason": reason.strip(),
        "document_number": document_number.strip(),
    }
    if method == DisposalMethod.REVERSE_DISTRIBUTOR:
        if not counterparty_name.strip():
            errors["counterparty_name"] = "Enter the reverse distributor's name."
        if not counterparty_address.strip():
            errors["counterparty_address"] = "Enter the reverse distributor's address."
        try:
            fields["counterparty_dea"] = _dea(counterparty_dea, "counterparty_dea")
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
        fields.update(counterparty_name=counterparty_name.strip(), counterparty_address=counterparty_address.strip())
        needed = 1
    elif method == DisposalMethod.DESTRUCTION:
        needed = 2
    else:
        raise ValidationError({"method": "Choose a reverse distributor or destruction."})
    if container is not None:
        opened = _locked_container(lot, container)
        if opened.remaining_ml <= 0:
            errors["container"] = f"Vial {opened.number} is already empty."
        ml = opened.remaining_ml
        fields.update(container=opened, ml_delta=-ml, quantity_ml=ml)
    else:
        if units < 1:
            errors["units"] = "Enter how many containers (at least 1)."
        elif units > lot.sealed_units:
            errors["units"] = f"Only {lot.sealed_units} sealed {product.unit_label}(s) in lot {lot.lot_number}."
        ml = Decimal(units) * product.container_volume_ml
        fields.update(sealed_delta=-units, quantity_units=units, quantity_ml=ml)
    if errors:
        raise ValidationError(errors)
    fields["quantity_mg"] = (ml * product.concentration_mg_per_ml).quantize(CENT)
    if len(witnesses) < needed:
        key = "witness_email" if not witnesses else "second_witness_email"
        raise ValidationError({key: f"This disposal needs {needed} witness(es), each with their own password."})
    first = verify_witness(actor, witnesses[0])
    fields["witness"] = first
    if needed == 2:
        fields["second_witness"] = verify_witness(actor, witnesses[1], field="second_witness", other=first)
    entry = _new_entry(actor, lot, EntryKind.DISPOSAL, **fields)
    _audit(actor, entry)
    return entry


@transaction.atomic
def transfer(
    actor: Actor, lot: Lot, to_location: Location, *, units: int, reason: str = ""
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move sealed containers to another registrant location of the clinic: two linked entries, one
    in each location's record (the transfer-in points at the transfer-out)."""
    _require(actor, Perm.INVENTORY_RECEIVE)
    _same_clinic(actor, lot, "lot")
    _same_clinic(actor, to_location, "location")
    source = lot
    if to_location.pk == source.location_id:
        raise ValidationError({"to_location": "Choose another location."})
    _registrant(to_location)
    if not source.product.locations.filter(pk=to_location.pk).exists():
        raise ValidationError({"to_location": f"{source.product.name} is not stocked at {to_location.name}."})
    target = Lot.objects.filter(location=to_location, product=source.product, lot_number=source.lot_number).first()
    if target is None:
        try:
            with transaction.atomic():
                target = Lot.objects.create(
                    clinic=actor.clinic,
                    location=to_location,
                    product=source.product,
                    lot_number=source.lot_number,
                    expiry_date=source.expiry_date,
                )
        except IntegrityError:
            target = Lot.objects.get(location=to_location, product=source.product, lot_number=source.lot_number)
    locked = lock_lots([source.pk, target.pk])
    source, target = locked[source.pk], locked[target.pk]
    if target.expiry_date != source.expiry_date:
        raise ValidationError({"to_location": "That location holds this lot number with another expiry date."})
    if units < 1:
        raise ValidationError({"units": "Enter how many containers (at least 1)."})
    if units > source.sealed_units:
        raise ValidationError({"units": f"Only {source.sealed_units} sealed container(s) in lot {source.lot_number}."})
    product = source.product
    quantities = {
        "quantity_units": units,
        "quantity_ml": Decimal(units) * product.container_volume_ml,
        "quantity_mg": Decimal(units) * product.content_mg,
        "reason": reason.strip(),
    }
    out = _new_entry(
        actor, source, EntryKind.TRANSFER_OUT, sealed_delta=-units, peer_location=to_location, **quantities
    )
    into = _new_entry(
        actor,
        target,
        EntryKind.TRANSFER_IN,
        sealed_delta=units,
        peer_location=source.location,
        transfer_peer=out,
        **quantities,
    )
    _audit(actor, out)
    _audit(actor, into)
    return out, into


@transaction.atomic
def adjust(
    actor: Actor,
    lot: Lot,
    *,
    reason: str,
    units_delta: int = 0,
    container: Container | None = None,
    ml_delta: Decimal = Decimal("0"),
) -> LedgerEntry:
    """Change a balance for a stated reason (e.g. after a count): sealed containers by `units_delta`,
    or an opened vial by `ml_delta`. Never below zero, never a vial above its content."""
    _require(actor, Perm.INVENTORY_COUNT)
    lot = _locked_lot(actor, lot)
    product = lot.product
    if not reason.strip():
        raise ValidationError({"reason": "An adjustment needs its reason."})
    fields: dict[str, Any] = {"reason": reason.strip()}
    if container is not None:
        opened = _locked_container(lot, container)
        delta = Decimal(str(ml_delta)).quantize(CENT)
        if not delta:
            raise ValidationError({"ml_delta": "Enter the change in mL (negative to remove)."})
        if opened.remaining_ml + delta < 0:
            raise ValidationError({"ml_delta": f"Only {opened.remaining_ml} mL is left in vial {opened.number}."})
        if opened.remaining_ml + delta > opened.content_ml:
            raise ValidationError({"ml_delta": f"Vial {opened.number} holds at most {opened.content_ml} mL."})
        fields.update(container=opened, ml_delta=delta, quantity_ml=delta)
        fields["quantity_mg"] = (delta * product.concentration_mg_per_ml).quantize(CENT)
    else:
        if not units_delta:
            raise ValidationError({"units_delta": "Enter the change in sealed containers (negative to remove)."})
        if lot.sealed_units + units_delta < 0:
            raise ValidationError({"units_delta": f"Only {lot.sealed_units} sealed container(s) in this lot."})
        fields.update(
            sealed_delta=units_delta,
            quantity_units=units_delta,
            quantity_ml=Decimal(units_delta) * product.container_volume_ml,
            quantity_mg=Decimal(units_delta) * product.content_mg,
        )
    entry = _new_entry(actor, lot, EntryKind.ADJUSTMENT, **fields)
    _audit(actor, entry)
    return entry


def may_correct(actor: Actor, entry: LedgerEntry) -> bool:
    """Whether `actor` may correct `entry`: who recorded it, or a role that investigates."""
    if actor.can(Perm.INVENTORY_INVESTIGATE):
        return True
    return actor.can(Perm.INVENTORY_VIEW) and entry.actor_id == actor.user.pk


@transaction.atomic
def correct(actor: Actor, entry: LedgerEntry, *, reason: str) -> LedgerEntry:
    """Reverse a mistaken entry with a new one that points at it (the original stays as it was).

    The correction undoes the entry's effect on the balances: stock returns, or leaves again. A vial
    the entry opened stays opened (its seal is broken); the drawn mL return to it. Then record the
    right entry. Transfers are corrected by a transfer back. Who: the person who recorded the entry,
    or a role that investigates discrepancies.
    """
    _same_clinic(actor, entry, "entry")
    if not may_correct(actor, entry):
        raise PermissionDenied("Only the person who recorded the entry, or an investigator, may correct it.")
    if not reason.strip():
        raise ValidationError({"reason": "A correction needs its reason."})
    if entry.corrects_id is not None:
        raise ValidationError({"entry": "This entry is itself a correction."})
    if entry.kind in (EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT):
        raise ValidationError({"entry": "Correct a transfer with a transfer back."})
    lot = _locked_lot(actor, entry.lot)
    if LedgerEntry.objects.filter(corrects=entry).exists():
        raise ValidationError({"entry": "This entry has already been corrected."})
    fields: dict[str, Any] = {
        "corrects": entry,
        "reason": reason.strip(),
        "patient_id": entry.patient_id,
        "session_ref": entry.session_ref,
        "quantity_units": -entry.quantity_units,
        "quantity_ml": -entry.quantity_ml,
        "quantity_mg": -entry.quantity_mg,
        "disposal_method": entry.disposal_method,
    }
    opened_here = entry.container_id is not None and entry.sealed_delta < 0
    if entry.container_id is not None:
        opened = _locked_container(lot, entry.container)  # type: ignore[arg-type]
        # An opening entry put (content - dose) in the vial: its reversal returns the dose only.
        ml_back = (opened.content_ml - entry.ml_delta) if opened_here else -entry.ml_delta
        if opened.remaining_ml + ml_back < 0:
            raise ValidationError({"entry": f"Vial {opened.number} no longer holds what this entry put in it."})
        if opened.remaining_ml + ml_back > opened.content_ml:
            raise ValidationError({"entry": f"Vial {opened.number} cannot take that much back."})
        fields.update(container=opened, ml_delta=ml_back)
    sealed_back = 0 if opened_here else -entry.sealed_delta
    if lot.sealed_units + sealed_back < 0:
        raise ValidationError({"entry": "The stock this entry added has been used since: it cannot be reversed."})
    fields["sealed_delta"] = sealed_back
    reversal = _new_entry(actor, lot, entry.kind, **fields)
    _audit(actor, reversal, "ledger_entry.corrected")
    return reversal
