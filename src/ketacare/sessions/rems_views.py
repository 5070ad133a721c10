"""Spravato REMS pages: the chairside Patient Monitoring Form section, staff answers, the submission
record, the frozen PDF, and the clinic's queue of forms due (clinical.md §1.3–1.4 [REMS-PMF]).

Form -> access -> action -> render. GET pages never write (the form row is created by the actions).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.sessions import core, pmf, rems
from ketacare.sessions.models import SubmissionMethod, TreatmentSession

ERRORS_ATTR = "_kc_pmf_errors"  # a refused POST's errors per field, for the re-rendered section


def _field_rows(
    definition: rems.RemsForm,
    values: dict[str, Any],
    from_record: dict[str, Any],
    missing: set[str],
    request: HttpRequest,
) -> list[dict[str, Any]]:
    errors: dict[str, list[str]] = getattr(request, ERRORS_ATTR, {})
    posted = request.method == "POST" and bool(errors)
    sections = []
    for section in definition.sections:
        rows = []
        for field in definition.section_fields(section.id):
            value = values.get(field.id)
            shown_input = "" if value is None else ("yes" if value is True else "no" if value is False else value)
            if posted and f"pmf_{field.id}" in request.POST:
                shown_input = request.POST[f"pmf_{field.id}"]
            rows.append(
                {
                    "field": field,
                    "value": value,
                    "shown": pmf.display(field, value),
                    "input": shown_input,
                    "errors": errors.get(field.id, []),
                    "from_record": field.id in from_record,
                    "required": rems.is_required(field, values),
                    "missing": field.id in missing,
                }
            )
        sections.append({"section": section, "rows": rows})
    return sections


def section_context(request: HttpRequest, actor: Actor, session: TreatmentSession) -> dict[str, Any]:
    """Context the chairside page passes to `_rems.html` (Spravato sessions only; reads only)."""
    if not session.is_spravato:
        return {"pmf": None}
    snap = pmf.snapshot(session)
    form, definition, values, missing = snap.form, snap.definition, snap.values, snap.missing
    frozen = form is not None and form.frozen_at is not None
    from_record = {} if frozen else snap.from_record
    now = timezone.now()
    zone = session.clinic.zone
    due = form.due_date if form is not None else pmf.due_date_of(session)
    dosed = session.first_dose_at is not None
    return {
        "pmf": {
            "form": form,
            "definition": definition,
            "frozen": frozen,
            "started": dosed,
            "sections": _field_rows(definition, values, from_record, set(missing), request),
            "missing": [definition.field(i) for i in missing],
            "blockers": pmf.signing_blockers(session, snap) if dosed and not frozen else [],
            "extras": [{**e, "shown": pmf.display_extra(e["value"])} for e in pmf.record_extras(session, snap)],
            "due_date": due,
            "days_left": rems.days_left(due, now, zone) if due else None,
            "days_overdue": -rems.days_left(due, now, zone) if due else None,
            "overdue": due is not None and rems.is_overdue(due, now, zone) and not (form and form.submitted_on),
            "can_edit": actor.can(Perm.SESSION_CHART) and not session.is_locked and dosed and not frozen,
            "can_submit": actor.can(Perm.REMS_SUBMIT) and frozen and form is not None and not form.submitted_on,
            "methods": SubmissionMethod.choices,
            "today": timezone.localdate(timezone=zone),
        },
        "pmf_errors": getattr(request, ERRORS_ATTR, {}),
        "stylesheets": ["ketacare/sessions-rems.css"],
    }


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return dict(exc.message_dict) if hasattr(exc, "error_dict") else {"pmf": list(exc.messages)}


@clinic_view(Perm.SESSION_CHART)
@require_POST
def pmf_update(request: HttpRequest, session_id: int) -> HttpResponse:
    """Staff answers to the PMF fields the record does not give."""
    from ketacare.sessions.views import chair_url, errors_text, refused, render_chair

    actor = actor_of(request)
    session = core.access_session(actor, session_id, Perm.SESSION_CHART)
    definition = pmf.definition_for(session, pmf.form_for(session))
    values = {f.id: request.POST[f"pmf_{f.id}"] for f in definition.fields if f"pmf_{f.id}" in request.POST}
    try:
        pmf.update_values(actor, session, values)
    except core.SessionLocked as exc:
        return refused(request, session, str(exc), 409)
    except ValidationError as exc:
        session.refresh_from_db()
        setattr(request, ERRORS_ATTR, _errors(exc))
        return render_chair(request, session, refusal=errors_text(exc), status=422)
    messages.success(request, "REMS monitoring form saved.")
    return HttpResponseRedirect(chair_url(session, "rems"))


@clinic_view(Perm.REMS_SUBMIT)
@require_POST
def pmf_submission(request: HttpRequest, session_id: int) -> HttpResponse:
    """Record the form's submission to the REMS (date, method, confirmation number)."""
    from ketacare.sessions.views import chair_url, errors_text, render_chair, run_form

    actor = actor_of(request)
    session = core.access_session(actor, session_id, Perm.SESSION_VIEW)
    form = pmf.access_form(actor, session)
    raw_day = (request.POST.get("submitted_on") or "").strip()
    try:
        day: datetime.date | None = datetime.date.fromisoformat(raw_day) if raw_day else None
    except ValueError:
        return render_chair(
            request,
            session,
            refusal="Submitted on: enter a date (YYYY-MM-DD).",
            status=422,
        )

    def effect() -> tuple[int, Any]:
        pmf.record_submission(
            actor,
            form,
            submitted_on=day,
            method=request.POST.get("method", ""),
            confirmation_number=request.POST.get("confirmation_number", ""),
        )
        return 200, form.pk

    try:
        run_form(actor, request, f"pmf-submission-{session.pk}", effect)
    except ValidationError as exc:
        setattr(request, ERRORS_ATTR, _errors(exc))
        return render_chair(request, session, refusal=errors_text(exc), status=422)
    except IdempotencyConflict:
        return render_chair(
            request, session, refusal="This form was already submitted with other values; reload the page.", status=422
        )
    messages.success(request, "REMS submission recorded.")
    return HttpResponseRedirect(chair_url(session, "rems"))


@clinic_view(Perm.SESSION_VIEW)
@require_GET
def pmf_pdf(request: HttpRequest, session_id: int) -> HttpResponse:
    """The frozen PMF as signed (audited as a PHI export)."""
    actor = actor_of(request)
    session = core.access_session(actor, session_id)
    form = pmf.access_form(actor, session)
    if form.frozen_at is None or form.pdf is None:
        raise Http404("The Patient Monitoring Form PDF is made when the session is signed.")
    record(
        actor,
        AuditAction.EXECUTE,
        "pmf_pdf.downloaded",
        subject=form,
        patient=session.patient,
        detail={"pdf_sha256": form.pdf_sha256},
    )
    response = HttpResponse(bytes(form.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="rems-pmf-session-{session.pk}.pdf"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@clinic_view(Perm.SESSION_VIEW)
@require_GET
def rems_queue(request: HttpRequest) -> HttpResponse:
    """The clinic's Patient Monitoring Forms to submit within 7 calendar days (clinical.md §1.4)."""
    actor = actor_of(request)
    rows = pmf.due_queue(actor)
    record(actor, AuditAction.READ, "pmf.queue_viewed", detail={"rows": len(rows)})
    return render(
        request,
        "sessions/rems_queue.html",
        {
            "rows": rows,
            "overdue": sum(1 for r in rows if r["overdue"]),
            "today": timezone.localdate(timezone=actor.clinic.zone),
            "due_days": rems.PMF_DUE_DAYS,
        },
    )
