"""/api/v1/protocols: the built-in library (read) and the clinic's copies (adopt, edit, publish).

Schema -> access -> action -> schema. POSTs honour `Idempotency-Key` like the patients API; a refused
value is a 422 naming its dotted path (`dose.max_mg`) or `change_note`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest
from ninja import Header, Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.protocols import actions
from ketacare.protocols.access import access_clinic_protocol, access_protocol_version, protocols_of
from ketacare.protocols.definitions import Protocol, UnknownProtocol, get_protocol, list_protocols
from ketacare.protocols.models import ClinicProtocol, ClinicProtocolVersion, VersionStatus
from ketacare.protocols.schemas import AdoptIn, ClinicProtocolOut, EditIn, LibraryProtocolOut, VersionOut

router = Router()


def _library_out(p: Protocol) -> dict[str, Any]:
    return {
        "code": p.code,
        "version": p.version,
        "name": p.name,
        "route": p.route,
        "effective_from": p.effective_from,
        "missing_clinic_values": list(p.missing_clinic_values()),
        "data": p.model_dump(mode="json"),
    }


def _summary(v: ClinicProtocolVersion) -> dict[str, Any]:
    return {
        "id": v.pk,
        "version": v.version,
        "status": v.status,
        "change_note": v.change_note,
        "created_at": v.created_at.isoformat(),
        "published_at": v.published_at.isoformat() if v.published_at else None,
    }


def _version_out(v: ClinicProtocolVersion) -> dict[str, Any]:
    return {
        **_summary(v),
        "clinic_protocol_id": v.clinic_protocol_id,
        "code": v.clinic_protocol.code,
        "created_by": v.created_by.full_name,
        "published_by": v.published_by.full_name if v.published_by else None,
        "missing_clinic_values": list(v.protocol.missing_clinic_values()),
        "data": v.data,
    }


def _copy_out(c: ClinicProtocol) -> dict[str, Any]:
    versions = sorted(c.versions.all(), key=lambda v: -v.version)
    published = next((v.pk for v in versions if v.status == VersionStatus.PUBLISHED), None)
    return {
        "id": c.pk,
        "code": c.code,
        "name": c.name,
        "route": c.route,
        "based_on_code": c.based_on_code,
        "based_on_version": c.based_on_version,
        "published_version_id": published,
        "versions": [_summary(v) for v in versions],
    }


def _once(
    actor: Actor, key: str | None, name: str, payload: Any, effect: Callable[[], tuple[int, Any]]
) -> tuple[int, Any]:
    if key:
        outcome = run_once(actor, f"api:{name}:{key}", fingerprint(payload), effect)
        return (200 if outcome.replayed else outcome.status_code), outcome.body
    with transaction.atomic():
        return effect()


def _version(pk: int) -> ClinicProtocolVersion:
    return ClinicProtocolVersion.objects.select_related("clinic_protocol", "created_by", "published_by").get(pk=pk)


@router.get("/library", response=list[LibraryProtocolOut], summary="Built-in protocol templates in effect today")
def library(request: HttpRequest) -> list[dict[str, Any]]:
    actor = actor_of(request)
    protocols_of(actor)  # PROTOCOL_VIEW
    return [_library_out(p) for p in list_protocols()]


@router.get("/library/{code}/{version}", response=LibraryProtocolOut, summary="One library protocol version")
def library_detail(request: HttpRequest, code: str, version: str) -> dict[str, Any]:
    actor = actor_of(request)
    protocols_of(actor)
    try:
        return _library_out(get_protocol(code, version))
    except UnknownProtocol:
        raise Http404("No such library protocol.") from None


@router.get("", response=list[ClinicProtocolOut], summary="The clinic's protocol copies and their versions")
def clinic_list(request: HttpRequest) -> list[dict[str, Any]]:
    actor = actor_of(request)
    return [_copy_out(c) for c in protocols_of(actor).prefetch_related("versions").order_by("name", "id")]


@router.post("", response={201: VersionOut, 200: VersionOut}, summary="Copy a library protocol as draft version 1")
def adopt(
    request: HttpRequest,
    payload: AdoptIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)
    protocols_of(actor, Perm.PROTOCOL_MANAGE)

    def effect() -> tuple[int, Any]:
        created = actions.adopt_protocol(
            actor, payload.code, payload.version, new_code=payload.new_code, name=payload.name
        )
        return 201, _version_out(_version(created.pk))

    return _once(actor, idempotency_key, "protocols.adopt", payload.dict(), effect)


@router.get("/{int:clinic_protocol_id}", response=ClinicProtocolOut, summary="One clinic protocol with its versions")
def clinic_detail(request: HttpRequest, clinic_protocol_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    return _copy_out(access_clinic_protocol(actor, clinic_protocol_id))


@router.post(
    "/{int:clinic_protocol_id}/versions",
    response={201: VersionOut, 200: VersionOut},
    summary="Edit: a new draft version from the latest, with `changes` (dotted path -> value)",
)
def edit(
    request: HttpRequest,
    clinic_protocol_id: int,
    payload: EditIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)
    copy = access_clinic_protocol(actor, clinic_protocol_id, Perm.PROTOCOL_MANAGE)

    def effect() -> tuple[int, Any]:
        created = actions.edit_protocol(actor, copy, payload.changes, payload.change_note)
        return 201, _version_out(_version(created.pk))

    return _once(actor, idempotency_key, f"protocols.edit.{copy.pk}", payload.dict(), effect)


@router.get("/versions/{int:version_id}", response=VersionOut, summary="One version with its full protocol data")
def version_detail(request: HttpRequest, version_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    return _version_out(access_protocol_version(actor, version_id))


@router.post(
    "/versions/{int:version_id}/publish",
    response={200: VersionOut},
    summary="Publish a draft for new plans (prescribers); the version published before is retired",
)
def publish(
    request: HttpRequest,
    version_id: int,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)
    version = access_protocol_version(actor, version_id, Perm.PROTOCOL_PUBLISH)

    def effect() -> tuple[int, Any]:
        published = actions.publish_version(actor, version)
        return 200, _version_out(_version(published.pk))

    return _once(actor, idempotency_key, f"protocols.publish.{version.pk}", {}, effect)
