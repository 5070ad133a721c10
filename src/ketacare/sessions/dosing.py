"""Dosing: each dose drawn from the controlled-substance ledger (issue #7 item 3).

`give_dose` records one dose (an IV infusion with its rate, an IM injection, one Spravato device) and,
in the same transaction, the ledger's administration entry (`inventory.actions.administer`) whose
`session_ref` is the session's `ref`; the dose row keeps the entry, so each points to the other. The
first dose moves the session from pre-dose checks to dosing and is refused while
`checks.dosing_blockers` names anything.

Spravato (clinical.md §1.1, §1.5 [OPENFDA-NDC-SPR, SPRHCP-DOSE]): one 28 mg device per call
(`protocol.administration.device_mg`), devices 1, 2, 3 in order, at least
`protocol.administration.rest_between_devices_minutes` (5) after the previous one; 56 mg = 2 devices,
84 mg = 3. A total different from the planned dose needs a prescriber and a reason: the actor is a
prescriber, or a prescriber signs with their own password on the same device (`approver`).
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Perm, can
from ketacare.audit.models import AuditAction, AuditEvent, AuditOutcome
from ketacare.audit.record import record
from ketacare.inventory import actions as ledger
from ketacare.inventory.actions import WitnessSignature
from ketacare.inventory.models import Container, DosageForm, LedgerEntry, Lot, Substance
from ketacare.plans.models import PlanRoute
from ketacare.sessions import checks, core, pmf
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import DoseAdministration, TreatmentSession

CENT = Decimal("0.01")
APPROVER_REFUSED = "session_dose_approver.refused"
__all__ = [
    "WitnessSignature",
    "audit_signature_refusal",
    "device_plan",
    "dose_total_mg",
    "doses",
    "end_dosing",
    "give_dose",
    "lots_for",
    "stop_infusion",
    "verify_prescriber",
    "waste_remainder",
]


class ApproverRefused(ValidationError):
    """The approving prescriber's email or password was wrong (audited after the rollback)."""

    def __init__(self, message: dict[str, str], email: str) -> None:
        super().__init__(message)
        self.approver_email = email


def audit_signature_refusal(actor: Actor, exc: BaseException) -> None:
    """After a failed request: audit a refused approver or witness signature (feeds the throttles)."""
    if isinstance(exc, ApproverRefused):
        record(
            actor,
            AuditAction.EXECUTE,
            APPROVER_REFUSED,
            outcome=AuditOutcome.MINOR_FAILURE,
            detail={"approver_email": exc.approver_email},
        )
    else:
        ledger.audit_witness_refusal(actor, exc)


def verify_prescriber(actor: Actor, signature: WitnessSignature, *, field: str = "approver") -> User:
    """A prescriber of this clinic (SESSION_ORDER) signing with their own password (verify_witness's pattern)."""
    email = signature.email.strip().lower()
    if not email:
        raise ValidationError({f"{field}_email": "Enter the approving prescriber's sign-in email."})
    if not signature.password:
        raise ValidationError({f"{field}_password": "The prescriber must type their own password."})
    since = timezone.now() - datetime.timedelta(minutes=ledger.WITNESS_WINDOW_MINUTES)
    failures = AuditEvent.objects.filter(
        clinic=actor.clinic, event_type=APPROVER_REFUSED, occurred_at__gte=since, detail__approver_email=email
    ).count()
    if failures >= ledger.WITNESS_FAILURES_ALLOWED:
        raise ValidationError(
            {f"{field}_password": "Too many wrong passwords for this prescriber: ask another, or try again later."}
        )
    user = User.objects.filter(email=email, is_active=True).first()
    membership = Membership.objects.filter(user=user, clinic=actor.clinic, is_active=True).first() if user else None
    if user is None or membership is None or not user.check_password(signature.password):
        raise ApproverRefused({f"{field}_password": "The prescriber's email or password is wrong."}, email)
    if not can(membership.role, Perm.SESSION_ORDER):
        raise ValidationError(
            {f"{field}_email": f"{user.full_name} ({membership.get_role_display()}) is not a prescriber."}
        )
    return user


# --- reads -------------------------------------------------------------------------------------


def doses(session: TreatmentSession) -> list[DoseAdministration]:
    return list(
        session.doses.select_related(
            "ledger_entry",
            "ledger_entry__lot",
            "ledger_entry__lot__product",
            "ledger_entry__container",
            "given_by",
            "deviation_approved_by",
        ).order_by("started_at", "id")
    )


def dose_total_mg(session: TreatmentSession) -> Decimal:
    total = sum((d.dose_mg for d in session.doses.all()), Decimal("0"))
    return Decimal(total)


def _wanted_form(session: TreatmentSession) -> tuple[str, str] | None:
    if session.route == PlanRoute.INTRANASAL_ESKETAMINE:
        return DosageForm.NASAL_DEVICE, Substance.ESKETAMINE
    if session.route in (PlanRoute.IV, PlanRoute.IM):
        return DosageForm.VIAL, Substance.KETAMINE
    return None


def lots_for(session: TreatmentSession) -> list[Lot]:
    """Unexpired lots at the session's location of products matching the route, with stock."""
    wanted = _wanted_form(session)
    if wanted is None:
        return []
    form, substance = wanted
    today = timezone.localdate(timezone=session.clinic.zone)
    lots = (
        Lot.objects.filter(
            clinic=session.clinic,
            location=session.location,
            product__form=form,
            product__substance=substance,
            product__is_active=True,
            expiry_date__gte=today,
        )
        .select_related("product")
        .order_by("expiry_date", "lot_number", "id")
    )
    opened = {c.lot_id for c in Container.objects.filter(lot__in=lots, remaining_ml__gt=0).only("lot_id")}
    return [lot for lot in lots if lot.sealed_units > 0 or lot.pk in opened]


def open_containers(session: TreatmentSession) -> list[Container]:
    """Opened vials at the location with something left, used by this session first."""
    used = {d.ledger_entry.container_id for d in doses(session) if d.ledger_entry.container_id}
    found = list(
        Container.objects.filter(lot__location=session.location, clinic=session.clinic, remaining_ml__gt=0)
        .select_related("lot", "lot__product")
        .order_by("lot__lot_number", "number")
    )
    return sorted(found, key=lambda c: (c.pk not in used, c.lot.lot_number, c.number))


def device_plan(session: TreatmentSession, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Spravato: how many devices the plan needs, which is next and from when (clinical.md §1.5)."""
    protocol = session.protocol
    device_mg = protocol.administration.device_mg or Decimal("28")
    rest = protocol.administration.rest_between_devices_minutes or 0
    planned = int((Decimal(session.planned_dose_mg) / Decimal(device_mg)).to_integral_value(ROUND_HALF_UP))
    given = [d for d in session.doses.order_by("started_at", "id") if d.device_number]
    next_number = len(given) + 1
    next_at = given[-1].started_at + datetime.timedelta(minutes=rest) if given and rest else None
    now = now or timezone.now()
    wait_seconds = max(0, int((next_at - now).total_seconds())) if next_at else 0
    return {
        "device_mg": Decimal(device_mg),
        "rest_minutes": rest,
        "planned_devices": planned,
        "given": given,
        "next_number": next_number,
        "next_at": next_at,
        "wait_seconds": wait_seconds,
        "complete": len(given) >= planned,
        "source": protocol.administration.source,
    }


# --- helpers -------------------------------------------------------------------------------


def _decimal(value: Any, field: str, unit: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"Enter a number of {unit}."}) from None
    if not number.is_finite() or number <= 0:
        raise ValidationError({field: f"Enter a quantity above 0 {unit}."})
    return number


def _when(value: datetime.datetime | None, field: str) -> datetime.datetime:
    if value is None:
        return timezone.now()
    core.aware(value, field)
    return core.not_future(value, field)


def _deviation_approval(actor: Actor, *, reason: str, approver: WitnessSignature | None, what: str) -> tuple[str, User]:
    reason = reason.strip()
    if not reason:
        raise ValidationError({"deviation_reason": f"{what}: a prescriber must give the reason."})
    if actor.can(Perm.SESSION_ORDER):
        return reason, actor.user
    if approver is None or not approver.email.strip():
        raise ValidationError(
            {"approver_email": f"{what}: a prescriber must approve with their own email and password."}
        )
    return reason, verify_prescriber(actor, approver)


# --- actions -------------------------------------------------------------------------------


@transaction.atomic
def give_dose(
    actor: Actor,
    session: TreatmentSession,
    *,
    lot: Lot,
    quantity_mg: Any,
    quantity_ml: Any,
    container: Container | None = None,
    started_at: datetime.datetime | None = None,
    rate_ml_per_hour: Any = None,
    device_number: int | None = None,
    deviation_reason: str = "",
    approver: WitnessSignature | None = None,
) -> DoseAdministration:
    """Give one dose and record it in the ledger in the same transaction (see the module note)."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    core.require(actor, Perm.INVENTORY_ADMINISTER)
    if lot.clinic_id != actor.clinic.pk:
        raise Http404("No such lot.")
    state = State(session.state)
    if state is State.PRE_DOSE_CHECKS:
        blockers = checks.dosing_blockers(session)
        if blockers:
            raise ValidationError({"state": "Dosing cannot start yet: " + " ".join(blockers)})
    elif state is not State.DOSING:
        raise ValidationError({"state": f"The session is at {state.label.lower()}: no dose can be given now."})
    wanted = _wanted_form(session)
    if wanted is None:
        raise ValidationError({"route": f"{session.get_route_display()} doses are not drawn from the ledger here."})
    lot = Lot.objects.select_related("product", "location").get(pk=lot.pk)
    if lot.location_id != session.location_id:
        raise ValidationError(
            {"lot": f"Lot {lot.lot_number} is at {lot.location.name}, not at {session.location.name}."}
        )
    product = lot.product
    if (product.form, product.substance) != wanted:
        raise ValidationError({"lot": f"{product.name} does not match the route ({session.get_route_display()})."})
    mg = _decimal(quantity_mg, "quantity_mg", "mg")
    ml = _decimal(quantity_ml, "quantity_ml", "mL")
    started = _when(started_at, "started_at")
    previous = list(session.doses.order_by("started_at", "id"))
    if previous and started < previous[-1].started_at:
        raise ValidationError({"started_at": "A dose cannot start before the previous one."})
    if session.checks_started_at and started < session.checks_started_at:
        raise ValidationError({"started_at": "A dose cannot start before the pre-dose checks."})
    rate: Decimal | None = None
    summary: str
    if session.is_spravato:
        adm = session.protocol.administration
        device_mg = Decimal(adm.device_mg or 0)
        rest = adm.rest_between_devices_minutes or 0
        if device_number is None:
            raise ValidationError({"device_number": "Say which device this is (1, 2 or 3)."})
        if container is not None:
            raise ValidationError({"container": "Nasal devices are used whole: do not choose a vial."})
        used = {d.device_number for d in previous if d.device_number}
        if device_number in used:
            raise ValidationError({"device_number": f"Device {device_number} is already recorded."})
        if device_number != len(used) + 1 or device_number > 3:
            raise ValidationError({"device_number": f"The next device is device {len(used) + 1} (at most 3)."})
        if device_mg and mg != device_mg:
            raise ValidationError({"quantity_mg": f"One device is {device_mg.normalize():f} mg ({adm.source})."})
        if previous and rest:
            ready = previous[-1].started_at + datetime.timedelta(minutes=rest)
            if started < ready:
                waited = int((started - previous[-1].started_at).total_seconds() // 60)
                raise ValidationError(
                    {
                        "device_number": (
                            f"Wait {rest} minutes between devices (clinical.md §1.5 [SPRHCP-DOSE]): device "
                            f"{device_number} may be given from {timezone.localtime(ready, session.clinic.zone):%H:%M}"
                            f" ({waited} min so far)."
                        )
                    }
                )
    else:
        device_number = None
        if session.route == PlanRoute.IV:
            if rate_ml_per_hour in (None, ""):
                raise ValidationError({"rate_ml_per_hour": "Enter the infusion rate in mL/h."})
            rate = _decimal(rate_ml_per_hour, "rate_ml_per_hour", "mL/h")
            running = [d for d in previous if d.rate_ml_per_hour is not None and d.ended_at is None]
            if running:
                raise ValidationError({"lot": "An infusion is still running: stop it before starting another."})
    planned = Decimal(session.planned_dose_mg)
    total = sum((d.dose_mg for d in previous), Decimal("0")) + mg
    reason, approved_by = "", None
    if total > planned:
        reason, approved_by = _deviation_approval(
            actor,
            reason=deviation_reason,
            approver=approver,
            what=f"This brings the total to {total.normalize():f} mg, above the planned {planned.normalize():f} mg",
        )
    # The ledger first: it refuses an expired lot, too little stock, or mg that do not match mL.
    entry = ledger.administer(
        actor, lot, session.patient, quantity_mg=mg, quantity_ml=ml, container=container, session_ref=session.ref
    )
    if state is State.PRE_DOSE_CHECKS:
        session = core.transition(actor, session, State.DOSING, at=started)
        # Spravato: the REMS Patient Monitoring Form is owed from the first device (clinical.md §1.4).
        pmf.ensure_form(session)
    dose = DoseAdministration.objects.create(
        clinic=session.clinic,
        session=session,
        ledger_entry=entry,
        route=session.route,
        dose_mg=entry.quantity_mg,
        volume_ml=entry.quantity_ml,
        device_number=device_number,
        rate_ml_per_hour=rate,
        started_at=started,
        deviation_reason=reason,
        deviation_approved_by=approved_by,
        given_by=actor.user,
    )
    where = f"lot {lot.lot_number}" + (f" vial {entry.container.number}" if entry.container_id else "")  # type: ignore[union-attr]
    if device_number:
        summary = f"Device {device_number}: {entry.quantity_mg.normalize():f} mg from {where}"
    else:
        summary = f"Dose {entry.quantity_mg.normalize():f} mg ({entry.quantity_ml.normalize():f} mL) from {where}"
        if rate is not None:
            summary += f", infusion started at {rate.normalize():f} mL/h"
    summary += f"; ledger entry {entry.pk}"
    if reason:
        summary += f"; differs from the plan — {reason} (approved by {approved_by.full_name})"  # type: ignore[union-attr]
    core.add_event(
        actor,
        session,
        "dose",
        summary,
        detail={"dose": dose.pk, "ledger_entry": entry.pk, "mg": str(entry.quantity_mg), "device": device_number},
        at=started,
    )
    record(
        actor,
        AuditAction.CREATE,
        "session_dose.given",
        subject=session,
        patient=session.patient,
        detail={
            "dose": dose.pk,
            "ledger_entry": entry.pk,
            "lot": lot.pk,
            "mg": str(entry.quantity_mg),
            "ml": str(entry.quantity_ml),
            "device_number": device_number,
            "rate_ml_per_hour": str(rate) if rate is not None else None,
            "deviation_reason": reason,
            "deviation_approved_by": approved_by.pk if approved_by else None,
        },
    )
    return dose


def _stop(actor: Actor, session: TreatmentSession, dose: DoseAdministration, ended: datetime.datetime) -> None:
    if ended < dose.started_at:
        raise ValidationError({"ended_at": "The infusion cannot stop before it started."})
    dose.ended_at = ended
    dose.save()
    minutes = int((ended - dose.started_at).total_seconds() // 60)
    core.add_event(actor, session, "dose", f"Infusion stopped after {minutes} min", detail={"dose": dose.pk}, at=ended)
    record(
        actor,
        AuditAction.UPDATE,
        "session_dose.infusion_stopped",
        subject=session,
        patient=session.patient,
        detail={"dose": dose.pk, "ended_at": ended.isoformat()},
    )


@transaction.atomic
def stop_infusion(
    actor: Actor, session: TreatmentSession, dose: DoseAdministration, *, ended_at: datetime.datetime | None = None
) -> DoseAdministration:
    """Set an infusion's stop time (once)."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    dose = DoseAdministration.objects.filter(pk=dose.pk, session=session).first()  # type: ignore[assignment]
    if dose is None:
        raise Http404("No such dose.")
    if dose.rate_ml_per_hour is None:
        raise ValidationError({"dose": "Only an infusion has a stop time."})
    if dose.ended_at is not None:
        raise ValidationError(
            {
                "dose": (
                    "This infusion was already stopped at "
                    f"{timezone.localtime(dose.ended_at, session.clinic.zone):%H:%M}."
                )
            }
        )
    _stop(actor, session, dose, _when(ended_at, "ended_at"))
    return dose


@transaction.atomic
def end_dosing(
    actor: Actor,
    session: TreatmentSession,
    *,
    ended_at: datetime.datetime | None = None,
    deviation_reason: str = "",
    approver: WitnessSignature | None = None,
) -> TreatmentSession:
    """Dosing → observation (stops a running infusion). The IV observation time counts from here.

    Less than the planned dose in total needs a prescriber and a reason (kept on the timeline step).
    """
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    if session.state != State.DOSING:
        raise ValidationError({"state": "Dosing has not started, or has already ended."})
    ended = _when(ended_at, "ended_at")
    given = list(session.doses.order_by("started_at", "id"))
    if given and ended < given[-1].started_at:
        raise ValidationError({"ended_at": "Dosing cannot end before the last dose started."})
    planned = Decimal(session.planned_dose_mg)
    total = sum((d.dose_mg for d in given), Decimal("0"))
    detail: dict[str, Any] = {"total_mg": str(total), "planned_mg": str(planned)}
    if total < planned:
        reason, approved_by = _deviation_approval(
            actor,
            reason=deviation_reason,
            approver=approver,
            what=f"{total.normalize():f} mg given of the planned {planned.normalize():f} mg",
        )
        detail.update(deviation_reason=reason, deviation_approved_by=approved_by.pk)
    for dose in given:
        if dose.rate_ml_per_hour is not None and dose.ended_at is None:
            _stop(actor, session, dose, ended)
    summary = f"Dosing ended: {total.normalize():f} mg given"
    if "deviation_reason" in detail:
        summary += f" (planned {planned.normalize():f} mg — {detail['deviation_reason']})"
    return core.transition(actor, session, State.OBSERVATION, at=ended, summary=summary, detail=detail)


@transaction.atomic
def waste_remainder(
    actor: Actor, session: TreatmentSession, *, container: Container, quantity_ml: Any, witness: WitnessSignature
) -> LedgerEntry:
    """Waste the rest of a vial this session opened, with a witness's password (clinical.md §5)."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    core.require(actor, Perm.INVENTORY_ADMINISTER)
    if container.clinic_id != actor.clinic.pk:
        raise Http404("No such vial.")
    if not session.doses.filter(ledger_entry__container=container).exists():
        raise ValidationError({"container": "Waste only what is left in a vial this session drew from."})
    container = Container.objects.select_related("lot", "lot__product").get(pk=container.pk)
    ml = _decimal(quantity_ml, "quantity_ml", "mL")
    mg = (ml * container.lot.product.concentration_mg_per_ml).quantize(CENT)
    entry = ledger.waste(
        actor, container, quantity_mg=mg, quantity_ml=ml, witness=witness, reason=f"Remainder after {session.ref}"
    )
    core.add_event(
        actor,
        session,
        "waste",
        f"Wasted {ml.normalize():f} mL ({mg.normalize():f} mg) left in vial {container.number} of lot "
        f"{container.lot.lot_number}, witnessed by {entry.witness.full_name if entry.witness else ''}; "
        f"ledger entry {entry.pk}",
        detail={"ledger_entry": entry.pk, "container": container.pk},
    )
    return entry
