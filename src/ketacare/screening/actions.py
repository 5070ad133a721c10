"""The only writers of intakes: each is one transaction that writes its audit row.

- `start_intake(actor, patient, data=None)`: staff start an intake (draft), optionally with answers.
- `send_intake_link(actor, patient)`: reuse the open intake (draft/sent) or start one, issue a secure
  link (patients.links, 7 days, date-of-birth check) and e-mail it after commit: the message holds
  only the clinic's name and the link, no PHI.
- `submit_by_patient(link, data, origin)`: the patient's answers through the link, once.
- `update_intake(actor, intake, data)`: staff change it. After submission every change bumps
  `version` and sends `signals.intake_changed` in the transaction (eligibility flags its decisions).
- `mark_reviewed(actor, intake)`: staff confirm it is complete; refused with the missing items named.

Height, weight and blood pressure given or changed are appended to `patients.BodyMeasurement`
(source "intake" from the patient, "staff" from staff), so the latest weight has its date and origin.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor, Origin
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record, record_patient
from ketacare.patients import links
from ketacare.patients.measurements import add_measurement
from ketacare.patients.models import LinkPurpose, MeasurementSource, Patient, PatientLink
from ketacare.screening.intake_data import MEASUREMENT_FIELDS, PATIENT_FACTS, TEXT_FIELDS, IntakeData
from ketacare.screening.models import Intake, IntakeStatus, IntakeVia, PriorTrial
from ketacare.screening.queries import intake_data, missing_for_review
from ketacare.screening.signals import intake_changed

logger = logging.getLogger(__name__)

OPEN = (IntakeStatus.DRAFT, IntakeStatus.SENT)
AFTER_SUBMISSION = (IntakeStatus.SUBMITTED, IntakeStatus.REVIEWED)


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def _own(actor: Actor, patient: Patient) -> None:
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")


def _latest_locked(patient: Patient) -> Intake | None:
    """The patient's latest intake. The patient row is locked first, so two requests cannot both
    start an intake when there is none yet (a lock on no rows would hold nothing)."""
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    return Intake.objects.select_for_update().filter(patient=patient).order_by("-created_at", "-id").first()


# --- snapshot and apply ---------------------------------------------------------------------------


def _snapshot(data: IntakeData) -> dict[str, Any]:
    """Flat {name: value} of everything that can change: fields, each fact, and the trials."""
    flat: dict[str, Any] = {name: getattr(data, name) for name in (*TEXT_FIELDS, *MEASUREMENT_FIELDS)}
    for key in ("height_cm", "weight_kg"):
        if flat[key] is not None:
            flat[key] = Decimal(flat[key]).quantize(Decimal("0.1"))
    for name, value in data.known_facts().items():
        flat[name] = value
    flat["prior_trials"] = [t.model_dump(mode="json") for t in data.trials]
    return flat


def _changes(old: IntakeData, new: IntakeData) -> dict[str, dict[str, Any]]:
    before, after = _snapshot(old), _snapshot(new)
    return {
        name: {"old": before.get(name), "new": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def _apply(intake: Intake, data: IntakeData) -> None:
    for name in TEXT_FIELDS:
        setattr(intake, name, getattr(data, name))
    for name in MEASUREMENT_FIELDS:
        setattr(intake, name, getattr(data, name))
    intake.facts = data.known_facts()
    intake.save()
    PriorTrial.objects.filter(intake=intake).delete()
    PriorTrial.objects.bulk_create(
        PriorTrial(
            intake=intake,
            position=i,
            drug=t.drug,
            dose=t.dose,
            dose_adequate=t.dose_adequate,
            duration_weeks=t.duration_weeks,
            adherence=t.adherence or "",
            response=t.response or "",
            reason_stopped=t.reason_stopped,
        )
        for i, t in enumerate(data.trials)
    )


def _measure(intake: Intake, data: IntakeData, source: MeasurementSource, actor: Actor | None) -> bool:
    if data.measured_on is None:
        return False
    row = add_measurement(
        intake.patient,
        measured_on=data.measured_on,
        source=source,
        recorded_by=actor.user if actor else None,
        weight_kg=data.weight_kg,
        height_cm=data.height_cm,
        systolic_mmhg=data.systolic_mmhg,
        diastolic_mmhg=data.diastolic_mmhg,
    )
    return row is not None


def _lock(intake: Intake) -> Intake:
    return Intake.objects.select_for_update().select_related("patient", "clinic").get(pk=intake.pk)


# --- actions ----------------------------------------------------------------------------------------


@transaction.atomic
def start_intake(actor: Actor, patient: Patient, data: IntakeData | None = None) -> Intake:
    """Staff start an intake for `patient` (status draft), with answers when `data` is given.

    Refused (ValidationError on `patient_id`) while the patient has an intake not yet reviewed:
    staff complete that one instead."""
    _require(actor, Perm.INTAKE_EDIT)
    _own(actor, patient)
    latest = _latest_locked(patient)
    if latest is not None and latest.status != IntakeStatus.REVIEWED:
        raise ValidationError(
            {
                "patient_id": "This patient already has an intake in progress "
                f"(#{latest.pk}, {latest.get_status_display().lower()}): complete that one."
            }
        )
    intake = Intake.objects.create(
        clinic=actor.clinic, patient=patient, status=IntakeStatus.DRAFT, created_by=actor.user
    )
    detail: dict[str, Any] = {"status": intake.status}
    if data is not None:
        _apply(intake, data)
        detail["fields"] = sorted(_changes(IntakeData(), data))
        detail["measurement_added"] = _measure(intake, data, MeasurementSource.STAFF, actor)
    record(actor, AuditAction.CREATE, "intake.created", subject=intake, patient=patient, detail=detail)
    return intake


def _email_link(patient: Patient, clinic_name: str, url: str) -> None:
    """Send after commit; no PHI: the clinic's name and the link only."""
    to = patient.email

    def send() -> None:
        try:
            send_mail(
                subject=f"{clinic_name}: your intake form",
                message=(
                    f"{clinic_name} has sent you a secure link to complete your intake form before your visit.\n\n"
                    f"{url}\n\n"
                    "You will be asked for your date of birth. The link works once and expires in 7 days.\n"
                    "If you did not expect this message, please contact the clinic."
                ),
                from_email=None,
                recipient_list=[to],
            )
        except Exception:  # a failed e-mail must not undo the link: staff can copy it or resend
            logger.exception("intake link e-mail failed")

    transaction.on_commit(send)


@transaction.atomic
def send_intake_link(actor: Actor, patient: Patient) -> tuple[Intake, PatientLink]:
    """Issue (or re-issue) the intake link: reuses the open intake or starts one; status "sent".
    Earlier open links of that intake stop working. E-mailed after commit when the patient has an
    e-mail address. Refused while a submitted intake awaits review."""
    _require(actor, Perm.INTAKE_SEND)
    _own(actor, patient)
    intake = _latest_locked(patient)
    if intake is not None and intake.status == IntakeStatus.SUBMITTED:
        raise ValidationError(
            {"__all__": "The patient already sent this intake; it is awaiting staff review, so no new link is needed."}
        )
    if intake is None or intake.status == IntakeStatus.REVIEWED:
        intake = Intake.objects.create(clinic=actor.clinic, patient=patient, created_by=actor.user)
        record(actor, AuditAction.CREATE, "intake.created", subject=intake, patient=patient, detail={"status": "draft"})
    intake.status = IntakeStatus.SENT
    intake.save(update_fields=["status", "updated_at"])
    link = links.create_link(actor, patient, LinkPurpose.INTAKE, subject_id=intake.pk, perm=Perm.INTAKE_SEND)
    emailed = bool(patient.email)
    record(
        actor,
        AuditAction.UPDATE,
        "intake.link_sent",
        subject=intake,
        patient=patient,
        detail={"link": link.pk, "expires_at": link.expires_at, "emailed": emailed},
    )
    if emailed:
        _email_link(patient, actor.clinic.name, links.link_url(link))
    return intake, link


@transaction.atomic
def submit_by_patient(link: PatientLink, data: IntakeData, origin: Origin) -> Intake:
    """Store the patient's answers sent through `link` (status submitted) and use the link up.

    Only what a patient answers is taken (clinician-judgement facts and dose adequacy keep their
    staff values). A second submit, or a link no longer usable, is refused with ValidationError."""
    locked = PatientLink.objects.select_for_update().select_related("clinic", "patient").get(pk=link.pk)
    if locked.purpose != LinkPurpose.INTAKE or not links.is_usable(locked) or locked.subject_id is None:
        raise ValidationError({"__all__": "This link cannot be used any more."})
    intake = (
        Intake.objects.select_for_update()
        .select_related("patient", "clinic")
        .filter(pk=locked.subject_id, patient_id=locked.patient_id)
        .first()
    )
    if intake is None or intake.status not in OPEN:
        raise ValidationError({"__all__": "This intake was already sent."})
    theirs = data.for_patient()
    kept = {k: v for k, v in (intake.facts or {}).items() if k not in PATIENT_FACTS}
    merged = theirs.model_copy(update={"facts": {**kept, **theirs.known_facts()}})
    before = intake_data(intake)
    _apply(intake, merged)
    intake.status = IntakeStatus.SUBMITTED
    intake.submitted_via = IntakeVia.LINK
    intake.submitted_at = timezone.now()
    intake.save(update_fields=["status", "submitted_via", "submitted_at", "updated_at"])
    measured = _measure(intake, merged, MeasurementSource.INTAKE, None)
    try:
        links.complete(locked)
    except ValueError:
        raise ValidationError({"__all__": "This link was already used."}) from None
    record_patient(
        locked.clinic,
        locked.patient,
        AuditAction.UPDATE,
        "intake.submitted",
        via="link",
        subject=intake,
        detail={
            "link": locked.pk,
            "fields": sorted(_changes(before, merged)),
            "trials": len(merged.trials),
            "measurement_added": measured,
        },
        remote_addr=origin.remote_addr,
        user_agent=origin.user_agent,
    )
    return intake


@transaction.atomic
def update_intake(actor: Actor, intake: Intake, data: IntakeData) -> Intake:
    """Staff replace the intake's values with `data` (all of it: facts, fields and trials).

    Audited with the old and new value of each change. When the intake was already submitted or
    reviewed, `version` goes up and `intake_changed` is sent with the changed names. Changed height,
    weight or blood pressure are appended as a new BodyMeasurement (source staff)."""
    _require(actor, Perm.INTAKE_EDIT)
    if intake.clinic_id != actor.clinic.pk:
        raise Http404("No such intake.")
    intake = _lock(intake)
    before = intake_data(intake)
    changes = _changes(before, data)
    if not changes:
        return intake
    _apply(intake, data)
    after_submission = intake.status in AFTER_SUBMISSION
    if after_submission:
        intake.version += 1
        intake.save(update_fields=["version", "updated_at"])
    measured = False
    if any(name in changes for name in MEASUREMENT_FIELDS):
        measured = _measure(intake, data, MeasurementSource.STAFF, actor)
    record(
        actor,
        AuditAction.UPDATE,
        "intake.updated",
        subject=intake,
        patient=intake.patient,
        detail={"changes": changes, "version": intake.version, "measurement_added": measured},
    )
    if after_submission:
        intake_changed.send(sender=Intake, intake=intake, actor=actor, changed=sorted(changes))
    return intake


@transaction.atomic
def mark_reviewed(actor: Actor, intake: Intake) -> Intake:
    """Staff confirm the intake is complete (status reviewed). Refused with one error per missing
    item (`queries.missing_for_review`). The patient's open link stops working."""
    _require(actor, Perm.INTAKE_EDIT)
    if intake.clinic_id != actor.clinic.pk:
        raise Http404("No such intake.")
    intake = _lock(intake)
    if intake.status == IntakeStatus.REVIEWED:
        raise ValidationError({"__all__": "This intake is already reviewed."})
    missing = missing_for_review(intake)
    if missing:
        raise ValidationError({name: f"{label}: not answered yet." for name, label in missing.items()})
    now = timezone.now()
    previous = intake.status
    intake.status = IntakeStatus.REVIEWED
    intake.reviewed_by = actor.user
    intake.reviewed_at = now
    if intake.submitted_at is None:
        intake.submitted_at = now
        intake.submitted_via = IntakeVia.STAFF
    intake.save(update_fields=["status", "reviewed_by", "reviewed_at", "submitted_at", "submitted_via", "updated_at"])
    links.cancel_open_links(intake.patient, LinkPurpose.INTAKE, intake.pk)
    record(
        actor,
        AuditAction.UPDATE,
        "intake.reviewed",
        subject=intake,
        patient=intake.patient,
        detail={"from_status": previous, "version": intake.version},
    )
    return intake


def record_intake_read(actor: Actor, intake: Intake, *, view: str) -> None:
    """One audit row for a read of an intake's answers (page or API)."""
    record(actor, AuditAction.READ, "intake.viewed", subject=intake, patient=intake.patient, detail={"view": view})
