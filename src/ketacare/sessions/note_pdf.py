"""The session note as a PDF (WeasyPrint, like `consents/pdf.py`): patient, protocol, pre-dose checks,
doses with their lot and ledger entry, vitals, ratings, side effects, alerts and what was done,
discharge gates, signatures and addenda. Times in the clinic's zone.

WeasyPrint gets no base URL and a fetcher that refuses everything: nothing outside the template
reaches the file.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.template.loader import render_to_string
from django.utils import timezone

from ketacare.sessions import checks, discharge, monitoring
from ketacare.sessions.models import TreatmentSession


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ValueError(f"The session note PDF loads nothing from outside ({url}).")


def note_context(session: TreatmentSession) -> dict[str, Any]:
    vitals = list(session.vitals.select_related("recorded_by").order_by("taken_at", "id"))
    # The gates as they stood at discharge (a session stopped early was not discharged through them).
    now = session.discharged_at or timezone.now()
    try:
        gates = (
            discharge.discharge_status(session, now, vitals)
            if session.first_dose_at and not session.ended_early_at
            else []
        )
    except ValueError:
        gates = []
    return {
        "session": session,
        "patient": session.patient,
        "clinic": session.clinic,
        "protocol": session.protocol,
        "checks": [
            {"row": c, "label": checks.LABELS_BY_ITEM.get(c.item, c.item)}
            for c in session.checks.select_related("recorded_by").order_by("recorded_at", "id")
        ],
        "doses": list(
            session.doses.select_related("ledger_entry", "ledger_entry__lot", "given_by", "deviation_approved_by")
        ),
        "vitals": [{"row": v, "text": monitoring.describe_vitals(v)} for v in vitals],
        "assessments": list(session.assessments.select_related("recorded_by")),
        "side_effects": list(session.side_effects.select_related("recorded_by")),
        "alerts": list(session.alerts.select_related("acknowledged_by", "resolved_by").order_by("raised_at", "id")),
        "gates": gates,
        "gates_at": now,
        "signatures": list(session.signatures.all()),
        "addenda": list(session.addenda.all()),
        "timeline": list(session.events.select_related("actor").order_by("at", "id")),
        "generated_at": timezone.now(),
    }


def note_html(session: TreatmentSession) -> str:
    """The HTML the PDF is made from (tests may read it)."""
    with timezone.override(session.clinic.zone):
        return render_to_string("sessions/note_pdf.html", note_context(session))


def render(session: TreatmentSession) -> bytes:
    """The session note as PDF bytes."""
    # Imported here: WeasyPrint takes seconds to load and only this export needs it.
    from weasyprint import HTML  # type: ignore[import-untyped]

    data: bytes = HTML(string=note_html(session), base_url=None, url_fetcher=_no_fetch).write_pdf()
    return data
