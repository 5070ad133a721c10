"""The Spravato REMS Patient Monitoring Form as a PDF, made once with WeasyPrint when the session is
signed (`pmf.freeze_for_signature`), laid out in the form's sections (clinical.md §1.4 [REMS-PMF]).

As in consents/pdf.py: no base URL and a fetcher that refuses everything, so nothing outside the
template and its inline style reaches the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NoReturn

from django.template.loader import render_to_string
from django.utils import timezone

from ketacare.sessions.models import RemsMonitoringForm, TreatmentSession


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ValueError(f"The PMF PDF loads nothing from outside ({url}).")


def pdf_html(session: TreatmentSession, form: RemsMonitoringForm, values: Mapping[str, Any]) -> str:
    """The HTML the PDF is made from (tests read it; the PDF is made from exactly this)."""
    from ketacare.sessions.pmf import pdf_context

    context = pdf_context(session, form, values)
    zone = session.clinic.zone
    context["frozen_at"] = timezone.localtime(form.frozen_at or timezone.now(), zone).strftime("%Y-%m-%d %H:%M %Z")
    context["due_date"] = form.due_date
    return render_to_string("sessions/pmf_pdf.html", context)


def render(session: TreatmentSession, form: RemsMonitoringForm, values: Mapping[str, Any]) -> tuple[bytes, str]:
    """(PDF bytes, their SHA-256)."""
    # Imported here: WeasyPrint (Pango, fonts) takes seconds to load, and only signing needs it.
    from weasyprint import HTML  # type: ignore[import-untyped]

    html = pdf_html(session, form, values)
    data: bytes = HTML(string=html, base_url=None, url_fetcher=_no_fetch).write_pdf()
    return data, hashlib.sha256(data).hexdigest()
