"""The Spravato REMS Patient Monitoring Form (PMF) of one session: filled from the record, completed
by staff, gating signature, frozen with its PDF at signing, submitted within 7 calendar days.

Sources (../shared/reference/clinical.md):
- §1.4 [REMS-PMF, REMS-PMF-2021, REMS-JNJ] (P): the form's fields (versioned data, `rems_forms/`),
  "the session note should be a superset of the PMF. Hard stops for: setting certified, patient
  enrolled, pre-dose BP, 40-min BP, discharge BP, SpO2 monitoring recorded, elapsed time ≥ 120 min,
  lot number. Then a queue item due at session date + 7 days."
- §1.3 [REMS-FDA, REMS-OUT, REMS-ENROLL] (P): a PMF for every patient within 7 days of every dose;
  certified setting; patient enrolment before the first treatment.
- §0, §1.5 [SPRHCP-DOSE, REMS-PMF] (P): BP before dosing, ~40 min after dosing, before discharge;
  pulse oximetry at each session; ≥ 2 h from the first device [LABEL-120TY, REMS-FDA].
- §3.10 (MOAA/S): 5 = responds readily to name in a normal tone (awake); below 5 is sedation.

Flow: `ensure_form` creates the form once dosing has begun (the lead calls it when dosing starts;
`update_values` and `freeze_for_signature` call it too). `values_for` = what the record gives
(`fill_from_record`) overlaid by what staff entered (`form.values`) until the form is frozen; then
the frozen values. Fields the record gives are read-only on the page (correct the chart instead).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership
from ketacare.accounts.roles import Perm, Role
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record, record_system
from ketacare.plans.models import PlanRoute
from ketacare.sessions import core, rems
from ketacare.sessions.gates import SPRAVATO_MINIMUM_MINUTES
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import (
    Assessment,
    CheckStatus,
    DoseAdministration,
    PreDoseCheck,
    RemsMonitoringForm,
    SideEffect,
    SideEffectKind,
    SubmissionMethod,
    TreatmentSession,
    VitalPhase,
    VitalSigns,
)

log = logging.getLogger(__name__)

ENROLMENT_DOCUMENT = "spravato_rems_enrolment"  # consents/documents (clinical.md §1.3 [REMS-PAT])
BP_40_MINUTES = 40  # clinical.md §0, §1.4, §1.5 [SPRHCP-DOSE, REMS-PMF]: BP ~40 min after dosing
MOAAS_AWAKE = 5  # clinical.md §3.10: 5 = responds readily to name (awake); lower = sedated
# The concomitant-medication questions of the form and the words a pre-dose check may use for them.
MEDICATION_FIELDS = {
    "med_benzodiazepines": ("benzodiazepines", "benzodiazepine"),
    "med_non_benzodiazepine_sedative_hypnotics": (
        "non_benzodiazepine_sedative_hypnotics",
        "non_benzodiazepine_sedative_hypnotic",
        "sedative_hypnotics",
        "z_drugs",
    ),
    "med_psychostimulants": ("psychostimulants", "psychostimulant", "stimulants"),
    "med_maois": ("maois", "maoi"),
}
# Facts of the record a later edition of the form asks for (clinical.md §1.4 [REMS-JNJ, OSM-REMS]);
# not fields of pmf-v1: shown with it on the page and in the PDF.
EXTRA_LABELS = {
    "first_treatment": "First Spravato treatment",
    "enrolled": "Patient enrolled in the REMS (enrolment consent in force)",
    "rems_setting_id": "REMS healthcare-setting id",
    "setting_certified_on": "Setting REMS-certified on",
    "spo2_monitored": "Pulse oximetry (SpO2) recorded after the first device",
    "lowest_spo2": "Lowest SpO2 after the first device (%)",
    "adverse_dissociation": "Dissociation recorded",
    "adverse_respiratory_depression": "Respiratory depression recorded",
}


# --- the form row --------------------------------------------------------------------------


def _zone(session: TreatmentSession) -> Any:
    return session.clinic.zone


def form_for(session: TreatmentSession) -> RemsMonitoringForm | None:
    """The session's form if it exists (reads only; GET views use this)."""
    return RemsMonitoringForm.objects.filter(session_id=session.pk).first()


def definition_for(session: TreatmentSession, form: RemsMonitoringForm | None = None) -> rems.RemsForm:
    """The form version of the session: the stored one, else the one in effect on the session's date."""
    if form is not None:
        return rems.get_form(form.form_code, form.form_version)
    when = session.first_dose_at or session.checked_in_at or session.scheduled_at
    return rems.get_form("pmf", on=rems.session_local_date(when, _zone(session)))


def due_date_of(session: TreatmentSession) -> datetime.date | None:
    if session.first_dose_at is None:
        return None
    return rems.pmf_due_date(session.first_dose_at, _zone(session))


def ensure_form(session: TreatmentSession) -> RemsMonitoringForm | None:
    """The session's PMF, created once dosing has begun (Spravato only; race-safe; None otherwise)."""
    if not session.is_spravato or session.first_dose_at is None:
        return None
    existing = form_for(session)
    if existing is not None:
        return existing
    day = rems.session_local_date(session.first_dose_at, _zone(session))
    definition = rems.get_form("pmf", on=day)
    try:
        with transaction.atomic():
            form, _ = RemsMonitoringForm.objects.get_or_create(
                session=session,
                defaults={
                    "clinic_id": session.clinic_id,
                    "form_code": definition.code,
                    "form_version": definition.version,
                    "due_date": rems.pmf_due_date(session.first_dose_at, _zone(session)),
                },
            )
    except IntegrityError:
        form = RemsMonitoringForm.objects.get(session=session)
    return form


# --- what the record gives -----------------------------------------------------------------


def _local(value: datetime.datetime, session: TreatmentSession) -> datetime.datetime:
    return value.astimezone(_zone(session))


def _address(session: TreatmentSession) -> str:
    place = session.location
    city = " ".join(p for p in (place.state, place.postal_code) if p)
    parts = [place.address_line1, place.address_line2, ", ".join(p for p in (place.city, city) if p)]
    return ", ".join(p for p in parts if p)


def _latest_check(session: TreatmentSession, item: str) -> PreDoseCheck | None:
    return session.checks.filter(item=item).order_by("-recorded_at", "-id").first()


def _medications(check: PreDoseCheck | None) -> dict[str, bool]:
    """The four Y/N answers from the `concomitant_meds` check's value (a list of drug classes, or flags)."""
    if check is None:
        return {}
    value = check.value if isinstance(check.value, dict) else {}
    named: set[str] = set()
    flags: dict[str, bool] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            flags[str(key).lower()] = item
        elif isinstance(item, list | tuple):
            named.update(str(x).strip().lower().replace(" ", "_").replace("-", "_") for x in item)
        elif isinstance(item, str) and key in ("taken", "drugs", "medications", "classes"):
            named.update(x.strip().lower().replace(" ", "_").replace("-", "_") for x in item.split(","))
    answers: dict[str, bool] = {}
    for field, words in MEDICATION_FIELDS.items():
        flagged = [flags[w] for w in words if w in flags]
        answers[field] = any(flagged) or any(w in named for w in words)
    return answers


def _bp(vitals: VitalSigns | None) -> tuple[int, int] | None:
    if vitals is None or vitals.systolic_bp is None or vitals.diastolic_bp is None:
        return None
    return vitals.systolic_bp, vitals.diastolic_bp


def _forty_minute_checkpoints(session: TreatmentSession) -> set[str]:
    ids = {"bp_40_min"}
    for cp in session.protocol.vital_checkpoints:
        if cp.when == "after_start" and cp.minutes == BP_40_MINUTES:
            ids.add(cp.id)
    return ids


@dataclass(frozen=True)
class Readings:
    before: VitalSigns | None
    forty: VitalSigns | None
    completion: VitalSigns | None
    spo2: list[int]


def readings(session: TreatmentSession) -> Readings:
    """The three BP readings of the form and the SpO2 values after the first device (one query)."""
    rows = list(session.vitals.select_related("recorded_by").order_by("taken_at", "id"))
    start = session.first_dose_at
    with_bp = [v for v in rows if _bp(v) is not None]
    before = [v for v in with_bp if v.phase == VitalPhase.PRE_DOSE and (start is None or v.taken_at <= start)]
    if not before and start is not None:
        before = [v for v in with_bp if v.taken_at <= start]
    forty: VitalSigns | None = None
    completion: VitalSigns | None = None
    spo2: list[int] = []
    if start is not None:
        after = [v for v in with_bp if v.taken_at > start]
        tagged = [v for v in after if v.checkpoint in _forty_minute_checkpoints(session)]
        target = start + datetime.timedelta(minutes=BP_40_MINUTES)
        pool = tagged or [v for v in after if v.phase != VitalPhase.PRE_DISCHARGE]
        if pool:
            forty = min(pool, key=lambda v: (abs((v.taken_at - target).total_seconds()), v.pk))
        end = session.discharged_at or session.ended_early_at
        closing = [v for v in after if end is None or v.taken_at <= end]
        last = [v for v in closing if v.phase == VitalPhase.PRE_DISCHARGE] or closing
        if last and (end is not None or last[-1].phase == VitalPhase.PRE_DISCHARGE) and last[-1] is not forty:
            completion = last[-1]
        spo2 = [v.spo2 for v in rows if v.spo2 is not None and v.taken_at >= start]
    return Readings(before[-1] if before else None, forty, completion, spo2)


def _enrolled(session: TreatmentSession) -> bool:
    from ketacare.consents.queries import consent_in_force

    check = _latest_check(session, "rems_enrolled")
    if check is not None and check.status == CheckStatus.PASSED:
        return True
    return consent_in_force(session.patient, ENROLMENT_DOCUMENT) is not None


def setting_certified(session: TreatmentSession) -> bool:
    certified = session.location.spravato_rems_certified_on
    when = session.first_dose_at or timezone.now()
    return certified is not None and certified <= rems.session_local_date(when, _zone(session))


def _record(session: TreatmentSession, read: Readings) -> dict[str, Any]:
    """Everything the record gives, under form field ids and the extra ids (JSON values)."""
    patient = session.patient
    out: dict[str, Any] = {
        "patient_first_name": patient.legal_first_name,
        "patient_last_name": patient.legal_last_name,
        "patient_middle_initial": (patient.legal_middle_name or "")[:1].upper() or None,
        "patient_date_of_birth": patient.date_of_birth.isoformat(),
        "patient_sex": patient.get_sex_at_birth_display(),
        "setting_name": session.location.name,
        "setting_address": _address(session) or None,
        "rems_setting_id": session.location.spravato_rems_setting_id or None,
        "setting_certified_on": (
            session.location.spravato_rems_certified_on.isoformat()
            if session.location.spravato_rems_certified_on
            else None
        ),
        "enrolled": _enrolled(session),
    }
    out["first_treatment"] = not (
        TreatmentSession.objects.filter(
            patient=patient, route=session.route, state=State.SIGNED, first_dose_at__isnull=False
        )
        .exclude(pk=session.pk)
        .filter(first_dose_at__lt=session.first_dose_at or timezone.now())
        .exists()
    )
    out.update(_medications(_latest_check(session, "concomitant_meds")))
    start = session.first_dose_at
    # The monitoring clinician: the session's nurse, else whoever charted the latest vitals.
    hcp = session.nurse
    if hcp is None:
        charted = [v for v in (read.completion, read.forty, read.before) if v is not None]
        hcp = charted[0].recorded_by if charted else None
    if hcp is not None:
        out["hcp_name"] = " ".join(p for p in (hcp.full_name, hcp.credentials) if p)
        out["hcp_email"] = hcp.email
    out["hcp_phone"] = session.location.phone or session.clinic.phone or None
    if start is not None:
        out["treatment_date"] = _local(start, session).date().isoformat()
    doses = list(
        DoseAdministration.objects.filter(session=session).select_related("ledger_entry__lot").order_by("started_at")
    )
    if doses:
        total = sum((d.dose_mg for d in doses), Decimal(0))
        if total == 56:
            out["dose"] = "56 mg"
        elif total == 84:
            out["dose"] = "84 mg"
        else:
            out["dose"] = "other"
            out["dose_other_mg"] = int(total) if total == total.to_integral_value() else float(total)
        lots = sorted({d.ledger_entry.lot.lot_number for d in doses})
        out["lot_number"] = ", ".join(lots)
    end = session.discharged_at or session.ended_early_at
    if start is not None and end is not None:
        out["monitoring_minutes"] = int((end - start).total_seconds() // 60)
    for prefix, reading in (
        ("bp_before_administration", read.before),
        ("bp_40_minutes", read.forty),
        ("bp_before_completion", read.completion),
    ):
        bp = _bp(reading)
        if bp is not None:
            out[f"{prefix}_systolic"], out[f"{prefix}_diastolic"] = bp
    # Acceptable before administration: a baseline on record that raised no alert (else staff answer).
    if read.before is not None and not session.alerts.filter(kind="baseline").exists():
        out["vitals_acceptable_before_administration"] = True
    # Acceptable before completion: discharged through the gates (vitals back within limits, §2.6).
    if session.discharged_at is not None and read.completion is not None:
        out["vitals_acceptable_before_completion"] = True
    out["spo2_monitored"] = bool(read.spo2)
    out["lowest_spo2"] = min(read.spo2) if read.spo2 else None
    effects = set(SideEffect.objects.filter(session=session).values_list("kind", flat=True))
    scored = list(Assessment.objects.filter(session=session).values_list("moaas", "dissociation", "cadss_total"))
    moaas = [m for m, _, _ in scored if m is not None]
    if SideEffectKind.SEDATION in effects or any(m < MOAAS_AWAKE for m in moaas):
        out["adverse_sedation"] = True
    elif moaas:
        out["adverse_sedation"] = False
    dissociated = SideEffectKind.DISSOCIATION in effects or any(d not in ("", "none") for _, d, _ in scored)
    out["adverse_dissociation"] = dissociated
    out["adverse_respiratory_depression"] = SideEffectKind.RESPIRATORY in effects
    return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Snapshot:
    """The session's PMF as it stands, computed once (a page or a signature reads it several ways)."""

    form: RemsMonitoringForm | None
    definition: rems.RemsForm
    readings: Readings
    record: dict[str, Any]  # everything the record gives, form fields and extras
    from_record: dict[str, Any]  # the form fields the record gives
    values: dict[str, Any]  # what the form says: frozen values, else record overlaid by staff answers
    missing: list[str]  # required field ids with no answer


def snapshot(session: TreatmentSession) -> Snapshot:
    form = form_for(session)
    definition = definition_for(session, form)
    read = readings(session)
    found = _record(session, read)
    ids = {f.id for f in definition.fields}
    from_record = {k: v for k, v in found.items() if k in ids}
    if form is not None and form.frozen_at is not None:
        values = dict(form.values)
    else:
        values = dict(from_record)
        if form is not None:
            values.update({k: v for k, v in form.values.items() if k in ids})
    return Snapshot(form, definition, read, found, from_record, values, rems.missing_required(definition, values))


def fill_from_record(session: TreatmentSession) -> dict[str, Any]:
    """Form fields (of the session's form version) the record gives, as JSON values."""
    return snapshot(session).from_record


def record_extras(session: TreatmentSession, snap: Snapshot | None = None) -> list[dict[str, Any]]:
    """The record's facts that the form version does not ask for (label and value)."""
    found = (snap or snapshot(session)).record
    return [{"id": k, "label": label, "value": found.get(k)} for k, label in EXTRA_LABELS.items()]


def values_for(session: TreatmentSession) -> dict[str, Any]:
    """The form's values: frozen ones once signed; else the record overlaid by staff entries."""
    return snapshot(session).values


# --- staff entries -------------------------------------------------------------------------


def _clean(field: rems.FormField, raw: Any) -> Any:
    """One staff answer as a JSON value, or None when blank; ValidationError naming the field."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = raw.strip() if isinstance(raw, str) else raw
    if field.kind == "text":
        value = str(text)
        if len(value) > 500:
            raise ValidationError({field.id: f"{field.label}: at most 500 characters."})
        return value
    if field.kind == "date":
        try:
            day = text if isinstance(text, datetime.date) else datetime.date.fromisoformat(str(text))
        except ValueError:
            raise ValidationError({field.id: f"{field.label}: enter a date (YYYY-MM-DD)."}) from None
        return day.isoformat()
    if field.kind == "datetime":
        try:
            when = text if isinstance(text, datetime.datetime) else datetime.datetime.fromisoformat(str(text))
        except ValueError:
            raise ValidationError({field.id: f"{field.label}: enter a date and time."}) from None
        if when.tzinfo is None:
            raise ValidationError({field.id: f"{field.label}: give a time with its time zone."})
        return when.isoformat()
    if field.kind == "number":
        if isinstance(text, bool):
            raise ValidationError({field.id: f"{field.label}: enter a number."})
        try:
            number = Decimal(str(text))
        except InvalidOperation:
            raise ValidationError({field.id: f"{field.label}: enter a number."}) from None
        if not number.is_finite() or number < 0 or number > 100000:
            raise ValidationError({field.id: f"{field.label}: enter a number of 0 or more."})
        return int(number) if number == number.to_integral_value() else float(number)
    if field.kind == "choice":
        if str(text) not in field.choices:
            raise ValidationError({field.id: f"{field.label}: choose one of {', '.join(field.choices)}."})
        return str(text)
    # bool
    if isinstance(text, bool):
        return text
    word = str(text).lower()
    if word in ("yes", "true", "y", "1"):
        return True
    if word in ("no", "false", "n", "0"):
        return False
    raise ValidationError({field.id: f"{field.label}: answer yes or no."})


@transaction.atomic
def update_values(actor: Actor, session: TreatmentSession, values: Mapping[str, Any]) -> RemsMonitoringForm:
    """Staff answers for the fields the record does not give (blank clears an answer).

    Perm SESSION_CHART; refused once the form is frozen or the session signed (SessionLocked → 409).
    """
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    if not session.is_spravato:
        raise ValidationError({"pmf": "Only Spravato sessions have a REMS Patient Monitoring Form."})
    form = ensure_form(session)
    if form is None:
        raise ValidationError({"pmf": "The Patient Monitoring Form starts when the first device is given."})
    form = RemsMonitoringForm.objects.select_for_update().get(pk=form.pk)
    if form.frozen_at is not None:
        raise core.SessionLocked("This Patient Monitoring Form is final (the session is signed).")
    definition = definition_for(session, form)
    by_id = {f.id: f for f in definition.fields}
    unknown = sorted(set(values) - set(by_id))
    if unknown:
        raise ValidationError({unknown[0]: f"{unknown[0]} is not a field of this form."})
    from_record = fill_from_record(session)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, raw in values.items():
        field = by_id[key]
        try:
            value = _clean(field, raw)
        except ValidationError as exc:
            errors.update(exc.message_dict)
            continue
        if key in from_record and value is not None and value != from_record[key]:
            errors[key] = [f"{field.label} comes from the session record; correct the chart instead."]
            continue
        cleaned[key] = value
    if errors:
        raise ValidationError(errors)
    before = dict(form.values)
    stored = dict(form.values)
    for key, value in cleaned.items():
        if value is None or key in from_record:
            stored.pop(key, None)
        else:
            stored[key] = value
    if stored == before:
        return form
    form.values = stored
    form.save(update_fields=["values"])
    changed = sorted(k for k in set(before) | set(stored) if before.get(k) != stored.get(k))
    core.add_event(actor, session, "pmf", "REMS monitoring form updated", detail={"fields": changed})
    record(
        actor,
        AuditAction.UPDATE,
        "pmf.updated",
        subject=form,
        patient=session.patient,
        detail={"fields": changed},
    )
    return form


# --- the gate and the freeze ---------------------------------------------------------------


def missing_fields(session: TreatmentSession) -> list[rems.FormField]:
    snap = snapshot(session)
    return [snap.definition.field(i) for i in snap.missing]


def _lower_first(label: str) -> str:
    """ "Blood pressure" -> "blood pressure", but "BP ..." stays "BP ..."."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


def signing_blockers(session: TreatmentSession, snap: Snapshot | None = None) -> list[str]:
    """Why the session may not be signed yet because of its PMF (empty: nothing blocks)."""
    if not session.is_spravato:
        return []
    if session.first_dose_at is None:
        return []  # nothing was given: no PMF (clinical.md §1.3: a PMF for every dose)
    snap = snap or snapshot(session)
    reasons = [f"PMF: {_lower_first(snap.definition.field(i).label)} is missing" for i in snap.missing]
    # Hard stops (clinical.md §1.4 implication) checked against the record itself.
    found = snap.record
    read = snap.readings
    if not setting_certified(session):
        reasons.append("REMS: this location is not recorded as a certified Spravato setting on the session date")
    if not found.get("enrolled"):
        reasons.append("REMS: the patient's REMS enrolment is not on record")
    if _bp(read.before) is None:
        reasons.append("REMS: no blood pressure charted before the first device")
    if _bp(read.forty) is None:
        reasons.append("REMS: no blood pressure charted about 40 minutes after the first device")
    if _bp(read.completion) is None:
        reasons.append("REMS: no blood pressure charted before the end of the session")
    if not read.spo2:
        reasons.append("REMS: no pulse oximetry (SpO2) charted after the first device")
    minutes = found.get("monitoring_minutes")
    if minutes is None:
        reasons.append("REMS: the end of monitoring (discharge) is not recorded")
    elif minutes < SPRAVATO_MINIMUM_MINUTES and session.state != State.STOPPED_EARLY:
        # A session stopped early (its reason on record) sends the minutes it lasted; not a block.
        # clinical.md §0, §1.3 [LABEL-120TY, REMS-FDA]: at least 2 hours from the first device.
        reasons.append(f"REMS: monitored {minutes} of the {SPRAVATO_MINIMUM_MINUTES} minutes required")
    if not found.get("lot_number"):
        reasons.append("REMS: no lot number on record (no device given from a lot)")
    return reasons


def pdf_context(session: TreatmentSession, form: RemsMonitoringForm, values: Mapping[str, Any]) -> dict[str, Any]:
    definition = definition_for(session, form)
    snap = snapshot(session)
    sections = []
    for section in definition.sections:
        rows = [{"field": f, "value": display(f, values.get(f.id))} for f in definition.section_fields(section.id)]
        sections.append({"section": section, "rows": rows})
    extras = [{**e, "value": display_extra(e["value"])} for e in record_extras(session, snap)]
    return {
        "definition": definition,
        "form": form,
        "session": session,
        "clinic": session.clinic,
        "sections": sections,
        "extras": extras,
    }


def display(field: rems.FormField, value: Any) -> str:
    if value is None or value == "":
        return ""
    if field.kind == "bool":
        return "Yes" if value else "No"
    if field.unit:
        return f"{value} {field.unit}"
    return str(value)


def display_extra(value: Any) -> str:
    if value is None or value == "":
        return "not on record"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def freeze_for_signature(actor: Actor, session: TreatmentSession) -> None:
    """Called inside the signing transaction when the session becomes signed: final values + PDF.

    Idempotent: a form already frozen is left as it is (its PDF never changes).
    """
    from ketacare.sessions import pmf_pdf

    if not session.is_spravato:
        return
    form = ensure_form(session)
    if form is None:
        return
    form = RemsMonitoringForm.objects.select_for_update().get(pk=form.pk)
    if form.frozen_at is not None:
        return
    values = values_for(session)
    now = timezone.now()
    form.values = values
    form.frozen_at = now
    data, digest = pmf_pdf.render(session, form, values)
    form.pdf = data
    form.pdf_sha256 = digest
    # One save: values, PDF and frozen_at together (the model refuses changes once frozen).
    form.save(update_fields=["values", "pdf", "pdf_sha256", "frozen_at"])
    core.add_event(actor, session, "pmf", "REMS monitoring form finalised", detail={"sha256": digest})
    record(
        actor,
        AuditAction.UPDATE,
        "pmf.frozen",
        subject=form,
        patient=session.patient,
        detail={"sha256": digest, "form_version": form.form_version},
    )


# --- submission ----------------------------------------------------------------------------


@transaction.atomic
def record_submission(
    actor: Actor,
    form: RemsMonitoringForm,
    *,
    submitted_on: datetime.date | None,
    method: str,
    confirmation_number: str,
) -> RemsMonitoringForm:
    """Record that the form was sent to the REMS (date, method, confirmation number): once.

    The same submission again changes nothing; a different one is refused.
    """
    core.require(actor, Perm.REMS_SUBMIT)
    if form.clinic_id != actor.clinic.pk:
        raise Http404("No such form.")
    form = RemsMonitoringForm.objects.select_for_update().select_related("session", "session__clinic").get(pk=form.pk)
    session = form.session
    confirmation = (confirmation_number or "").strip()
    errors: dict[str, str] = {}
    if submitted_on is None:
        errors["submitted_on"] = "Submitted on: enter the date the form was sent."
    if method not in SubmissionMethod.values:
        errors["method"] = "Method: choose online or fax."
    if not confirmation:
        errors["confirmation_number"] = "Confirmation number: enter the REMS confirmation number."
    elif len(confirmation) > 100:
        errors["confirmation_number"] = "Confirmation number: at most 100 characters."
    if errors or submitted_on is None:
        raise ValidationError(errors)
    if form.submitted_on is not None:
        same = (form.submitted_on, form.submission_method, form.confirmation_number) == (
            submitted_on,
            method,
            confirmation,
        )
        if same:
            return form
        raise ValidationError(
            {"submitted_on": f"The submission was already recorded on {form.submitted_on:%Y-%m-%d}; it is final."}
        )
    if form.frozen_at is None:
        raise ValidationError({"submitted_on": "Sign the session first: the form sent is the signed one."})
    today = timezone.localdate(timezone=session.clinic.zone)
    if submitted_on > today:
        raise ValidationError({"submitted_on": "Submitted on: the date is in the future."})
    start = rems.session_local_date(session.first_dose_at or session.scheduled_at, session.clinic.zone)
    if submitted_on < start:
        raise ValidationError({"submitted_on": f"Submitted on: the date is before the session ({start:%Y-%m-%d})."})
    form.submitted_on = submitted_on
    form.submission_method = method
    form.confirmation_number = confirmation
    form.submitted_recorded_by = actor.user
    form.submitted_recorded_at = timezone.now()
    form.save(
        update_fields=[
            "submitted_on",
            "submission_method",
            "confirmation_number",
            "submitted_recorded_by",
            "submitted_recorded_at",
        ]
    )
    late = submitted_on > form.due_date
    core.add_event(
        actor,
        session,
        "pmf",
        f"REMS monitoring form submitted {submitted_on:%Y-%m-%d} ({form.get_submission_method_display()})"
        + (" — late" if late else ""),
        detail={"confirmation_number": confirmation, "late": late},
    )
    record(
        actor,
        AuditAction.UPDATE,
        "pmf.submitted",
        subject=form,
        patient=session.patient,
        detail={"submitted_on": submitted_on, "method": method, "confirmation_number": confirmation, "late": late},
    )
    return form


def access_form(actor: Actor, session: TreatmentSession) -> RemsMonitoringForm:
    form = form_for(session)
    if form is None or form.clinic_id != actor.clinic.pk:
        raise Http404("This session has no Patient Monitoring Form yet.")
    return form


# --- overdue escalation --------------------------------------------------------------------


def _recipients(clinic_id: int) -> list[str]:
    members = Membership.objects.filter(
        clinic_id=clinic_id, is_active=True, user__is_active=True, role__in=[Role.PRESCRIBER, Role.ADMIN]
    ).select_related("user")
    return sorted({m.user.email for m in members})


def escalate_overdue(now: datetime.datetime | None = None) -> int:
    """Escalate PMFs past their due date not yet submitted (once each); returns how many.

    E-mails the clinic's prescribers and administrators (no PHI: where to look) and writes a system
    audit row. A form is claimed and mailed in one transaction: if the mail fails, nothing is kept and
    the next sweep tries again.
    """
    now = now or timezone.now()
    # A dosed Spravato session whose form nobody has opened yet still gets its form (and its escalation).
    unopened = TreatmentSession.objects.filter(
        route=PlanRoute.INTRANASAL_ESKETAMINE, first_dose_at__isnull=False, rems_form__isnull=True
    ).exclude(state=State.CANCELLED)
    for session in unopened.select_related("clinic"):
        ensure_form(session)
    # No zone is more than a day from UTC: anything overdue has due_date < UTC date + 1.
    candidates = (
        RemsMonitoringForm.objects.filter(
            submitted_on__isnull=True, escalated_at__isnull=True, due_date__lt=now.date() + datetime.timedelta(days=1)
        )
        .select_related("clinic", "session")
        .order_by("due_date", "id")
    )
    done = 0
    base = settings.KETACARE_BASE_URL.rstrip("/")
    for form in candidates:
        if not rems.is_overdue(form.due_date, now, form.clinic.zone):
            continue
        try:
            with transaction.atomic():
                claimed = RemsMonitoringForm.objects.filter(pk=form.pk, escalated_at__isnull=True).update(
                    escalated_at=now
                )
                if not claimed:
                    continue
                recipients = _recipients(form.clinic_id)
                if recipients:
                    send_mail(
                        "KetaCare: a Spravato REMS Patient Monitoring Form is overdue",
                        f"A Spravato REMS Patient Monitoring Form in {form.clinic.name} is past its due date and "
                        f"not recorded as submitted.\n\nOpen the REMS queue in KetaCare: {base}/sessions/rems/\n\n"
                        "Sign in to see the details; they are not sent by e-mail.",
                        None,
                        recipients,
                    )
                record_system(
                    form.clinic,
                    AuditAction.EXECUTE,
                    "pmf.escalated",
                    subject=form,
                    patient=form.session.patient,
                    detail={"due_date": form.due_date, "recipients": len(recipients)},
                )
        except Exception:  # a failed mail: nothing kept, the next sweep retries
            log.exception("PMF %s: overdue escalation failed", form.pk)
            continue
        done += 1
    return done


# --- the due queue ------------------------------------------------------------------------


def due_queue(actor: Actor, now: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """The REMS queue (SESSION_VIEW): forms not yet submitted (overdue first, then by due date) and
    dosed Spravato sessions with no form row yet; two queries whatever the number of forms."""
    core.require(actor, Perm.SESSION_VIEW)
    now = now or timezone.now()
    zone = actor.clinic.zone
    forms = (
        RemsMonitoringForm.objects.filter(clinic=actor.clinic, submitted_on__isnull=True)
        .select_related("session", "session__patient", "session__location")
        .defer("pdf", "values", "session__protocol_snapshot")
        .order_by("due_date", "id")
    )
    rows: list[dict[str, Any]] = []
    for form in forms:
        session = form.session
        rows.append(_row(session, form.due_date, form, now, zone))
    pending = (
        TreatmentSession.objects.filter(
            clinic=actor.clinic,
            route=PlanRoute.INTRANASAL_ESKETAMINE,
            first_dose_at__isnull=False,
            rems_form__isnull=True,
        )
        .exclude(state__in=[State.CANCELLED])
        .select_related("patient", "location")
        .defer("protocol_snapshot")
    )
    for session in pending:
        if session.first_dose_at is not None:
            rows.append(_row(session, rems.pmf_due_date(session.first_dose_at, zone), None, now, zone))
    rows.sort(key=lambda r: (not r["overdue"], r["due_date"], r["session"].pk))
    return rows


def _row(
    session: TreatmentSession, due: datetime.date, form: RemsMonitoringForm | None, now: datetime.datetime, zone: Any
) -> dict[str, Any]:
    frozen = form is not None and form.frozen_at is not None
    return {
        "session": session,
        "patient": session.patient,
        "form": form,
        "due_date": due,
        "days_left": rems.days_left(due, now, zone),
        "days_overdue": -rems.days_left(due, now, zone),
        "overdue": rems.is_overdue(due, now, zone),
        "escalated": form is not None and form.escalated_at is not None,
        "status": "Ready to submit" if frozen else "Session not signed yet",
        "frozen": frozen,
    }
