"""/api/v1/consents: documents, a patient's consents, the signed PDF, signing links, countersign, withdraw.

Patients sign only through the link or tablet pages, never through the API. POSTs honour
`Idempotency-Key`; the URL of a new link is in the first response only (never stored with the
idempotency record). A consent of another clinic is a 404.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Header, Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.consents import actions
from ketacare.consents.access import access_consent, consents_of
from ketacare.consents.definitions import Document, list_documents
from ketacare.consents.models import Consent
from ketacare.consents.schemas import ConsentOut, DocumentOut, LinkIn, LinkOut, WithdrawIn
from ketacare.patients import links
from ketacare.patients.access import access_patient

router = Router()

IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=200)  # type: ignore[type-arg]


def _document_out(d: Document) -> dict[str, Any]:
    return {
        "code": d.code,
        "version": d.version,
        "effective_from": d.effective_from,
        "title": d.title,
        "summary": d.summary,
        "covers": list(d.covers),
        "required_for_routes": list(d.required_for_routes),
        "optional": d.optional,
        "requires_countersign": d.requires_countersign,
        "countersign_roles": list(d.countersign_roles),
        "source": d.source,
        "citation": d.citation,
        "body_html": d.body,
        "body_sha256": d.body_sha256,
    }


def _consent_out(consent: Consent) -> dict[str, Any]:
    # JSON values, since an Idempotency-Key stores the body in a JSONField.
    body: dict[str, Any] = ConsentOut.from_orm(consent).model_dump(mode="json")
    return body


def _idempotent(actor: Actor, name: str, key: str | None, payload: Any, effect: Any) -> tuple[int, Any]:
    if key:
        outcome = run_once(actor, f"api:consents.{name}:{key}", fingerprint(payload), effect)
        return (200 if outcome.replayed else outcome.status_code), outcome.body
    with transaction.atomic():
        result: tuple[int, Any] = effect()
        return result


@router.get("/documents", response=list[DocumentOut], summary="Consent documents in effect today")
def documents(request: HttpRequest) -> list[dict[str, Any]]:
    actor_of(request)  # any signed-in token: the documents are reference data, not PHI
    return [_document_out(d) for d in list_documents()]


@router.get("", response=list[ConsentOut], summary="A patient's consents, newest first (withdrawn ones included)")
def list_consents(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.CONSENT_VIEW)
    rows = list(consents_of(actor).filter(patient=patient).defer("pdf").order_by("-signed_at", "-id")[:200])
    actions.record_consents_listed(actor, patient, rows, view="api")
    return [_consent_out(c) for c in rows]


@router.get("/{int:consent_id}", response=ConsentOut, summary="Read one consent")
def get_consent(request: HttpRequest, consent_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    consent = access_consent(actor, consent_id, Perm.CONSENT_VIEW)
    record(actor, AuditAction.READ, "consent.read", subject=consent, patient=consent.patient, detail={"view": "api"})
    return _consent_out(consent)


@router.get("/{int:consent_id}/pdf", summary="The signed PDF (application/pdf, as an attachment)", response={200: None})
def get_pdf(request: HttpRequest, consent_id: int) -> HttpResponse:
    actor = actor_of(request)
    consent = access_consent(actor, consent_id, Perm.CONSENT_VIEW)
    if not consent.has_pdf or consent.pdf is None:
        return HttpResponse(
            b'{"detail": "This consent has no signed PDF yet."}', status=404, content_type="application/json"
        )
    actions.record_pdf_read(actor, consent, view="api")
    response = HttpResponse(bytes(consent.pdf), content_type="application/pdf")
    filename = f"consent-{consent.document_code}-v{consent.document_version}-{consent.patient.mrn}-{consent.pk}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@router.post("/links", response={201: LinkOut, 200: LinkOut}, summary="Make a signing link for the patient")
def make_link(request: HttpRequest, payload: LinkIn, idempotency_key: str | None = IdempotencyKey) -> tuple[int, Any]:
    actor = actor_of(request)
    patient = access_patient(actor, payload.patient_id, Perm.CONSENT_COLLECT)
    url: dict[str, str] = {}

    def effect() -> tuple[int, Any]:
        link = actions.send_consent_link(actor, patient, payload.documents)
        url["url"] = links.link_url(link)
        return 201, {
            "link_id": link.pk,
            "patient_id": patient.pk,
            "documents": link.payload["documents"],
            "expires_at": link.expires_at.isoformat(),
            "url": None,
        }

    status, body = _idempotent(actor, "link", idempotency_key, payload.model_dump(mode="json"), effect)
    return status, {**body, "url": url.get("url")}


@router.post("/{int:consent_id}/countersign", response={200: ConsentOut}, summary="Countersign (document's roles only)")
def countersign(request: HttpRequest, consent_id: int, idempotency_key: str | None = IdempotencyKey) -> tuple[int, Any]:
    actor = actor_of(request)
    access_consent(actor, consent_id, Perm.CONSENT_COUNTERSIGN)

    def effect() -> tuple[int, Any]:
        return 200, _consent_out(actions.countersign_consent(actor, consent_id))

    return _idempotent(actor, f"countersign.{consent_id}", idempotency_key, {"consent": consent_id}, effect)


@router.post(
    "/{int:consent_id}/withdraw", response={200: ConsentOut}, summary="Record that the patient withdrew consent"
)
def withdraw(
    request: HttpRequest, consent_id: int, payload: WithdrawIn, idempotency_key: str | None = IdempotencyKey
) -> tuple[int, Any]:
    actor = actor_of(request)
    access_consent(actor, consent_id, Perm.CONSENT_WITHDRAW)

    def effect() -> tuple[int, Any]:
        consent = actions.withdraw_consent(actor, consent_id, payload.reason, payload.received_via.value)
        return 200, _consent_out(consent)

    return _idempotent(actor, f"withdraw.{consent_id}", idempotency_key, payload.model_dump(mode="json"), effect)
