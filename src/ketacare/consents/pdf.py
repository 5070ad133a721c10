"""The signed consent as a PDF, made once with WeasyPrint when the consent is fully signed.

The HTML comes from `consents/pdf.html` (document text, the patient's signature block with typed
name, typed date, times in the clinic's zone, device and address, the countersignature, the document
version and the SHA-256 of the text signed). WeasyPrint is given no base URL and a fetcher that
refuses everything, so nothing outside the template and its inline style can reach the file.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any, NoReturn

from django.template.loader import render_to_string

from ketacare.consents.definitions import Document
from ketacare.consents.models import Consent


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ValueError(f"The consent PDF loads nothing from outside ({url}).")


def _local(value: datetime.datetime | None, consent: Consent) -> str:
    if value is None:
        return ""
    return value.astimezone(consent.patient.clinic.zone).strftime("%Y-%m-%d %H:%M %Z")


def pdf_html(consent: Consent, document: Document) -> str:
    """The HTML the PDF is made from (tests read it; the PDF is made from exactly this)."""
    context = {
        "consent": consent,
        "document": document,
        "patient": consent.patient,
        "clinic": consent.patient.clinic,
        "signed_at": _local(consent.signed_at, consent),
        "countersigned_at": _local(consent.countersigned_at, consent),
        "countersigner": consent.countersigned_by.full_name if consent.countersigned_by else "",
        "presenter": consent.presented_by.full_name if consent.presented_by else "",
    }
    return render_to_string("consents/pdf.html", context)


def render_pdf(consent: Consent, document: Document) -> tuple[bytes, str]:
    """(PDF bytes, their SHA-256)."""
    # Imported here: WeasyPrint (Pango, fonts) takes seconds to load, and only signing needs it.
    from weasyprint import HTML  # type: ignore[import-untyped]

    html = pdf_html(consent, document)
    data: bytes = HTML(string=html, base_url=None, url_fetcher=_no_fetch).write_pdf()
    return data, hashlib.sha256(data).hexdigest()
