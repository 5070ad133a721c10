"""Protocol pages: the built-in library with every block's source, the clinic's copies and their versions.

Form -> access -> action -> render. Adopting and editing need PROTOCOL_MANAGE (admins, prescribers);
publishing needs PROTOCOL_PUBLISH (prescribers). Protocols are not patient data: reading them writes
no audit row; every change does (in the actions).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.lib.http import form_token
from ketacare.protocols import actions
from ketacare.protocols.access import access_clinic_protocol, access_protocol_version, protocols_of
from ketacare.protocols.definitions import UnknownProtocol, get_protocol, list_protocols
from ketacare.protocols.forms import EditProtocolForm
from ketacare.protocols.models import ClinicProtocolVersion, VersionStatus


@clinic_view(Perm.PROTOCOL_VIEW)
@require_GET
def protocol_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    copies = list(
        protocols_of(actor)
        .annotate(version_count=Count("versions"), latest_version=Max("versions__version"))
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=ClinicProtocolVersion.objects.filter(status=VersionStatus.PUBLISHED),
                to_attr="published",
            )
        )
        .order_by("name", "id")
    )
    adopted = {c.based_on_code for c in copies}
    return render(
        request,
        "protocols/list.html",
        {
            "library": [(p, uuid.uuid4()) for p in list_protocols()],  # one token per adopt form
            "copies": copies,
            "adopted": adopted,
            "can_manage": actor.can(Perm.PROTOCOL_MANAGE),
        },
    )


@clinic_view(Perm.PROTOCOL_VIEW)
@require_GET
def library_detail(request: HttpRequest, code: str, version: str) -> HttpResponse:
    actor = actor_of(request)
    try:
        protocol = get_protocol(code, version)
    except UnknownProtocol:
        raise Http404("No such library protocol.") from None
    copies = list(protocols_of(actor).filter(based_on_code=code))
    return render(
        request,
        "protocols/library_detail.html",
        {
            "protocol": protocol,
            "copies": copies,
            "can_manage": actor.can(Perm.PROTOCOL_MANAGE),
            "form_token": uuid.uuid4(),
        },
    )


@clinic_view(Perm.PROTOCOL_MANAGE)
@require_POST
def adopt(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    code = request.POST.get("code", "")
    version = request.POST.get("version", "")
    new_code = request.POST.get("new_code", "").strip()
    name = request.POST.get("name", "").strip()

    def effect() -> tuple[int, Any]:
        created = actions.adopt_protocol(actor, code, version, new_code=new_code, name=name)
        return 201, {"id": created.pk}

    token = form_token(request)
    try:
        if token:
            payload = {"code": code, "version": version, "new_code": new_code, "name": name}
            body = run_once(actor, f"form:protocols-adopt:{token}", fingerprint(payload), effect).body
        else:
            body = effect()[1]
    except ValidationError as exc:
        for errors in exc.message_dict.values():
            for message in errors:
                messages.error(request, message)
        return HttpResponseRedirect(reverse("protocols-list"))
    except IdempotencyConflict:
        messages.error(request, "This form was already submitted.")
        return HttpResponseRedirect(reverse("protocols-list"))
    messages.success(request, "Copied as a draft. Set the values the clinic must set, then a prescriber publishes it.")
    return HttpResponseRedirect(reverse("protocols-version", args=[body["id"]]))


@clinic_view(Perm.PROTOCOL_VIEW)
@require_GET
def copy_detail(request: HttpRequest, clinic_protocol_id: int) -> HttpResponse:
    actor = actor_of(request)
    copy = access_clinic_protocol(actor, clinic_protocol_id)
    latest = copy.versions.order_by("-version").first()
    if latest is None:  # pragma: no cover - adopt always makes version 1
        raise Http404("No version.")
    return HttpResponseRedirect(reverse("protocols-version", args=[latest.pk]))


@clinic_view(Perm.PROTOCOL_VIEW)
@require_GET
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    actor = actor_of(request)
    version = access_protocol_version(actor, version_id)
    history = list(version.clinic_protocol.versions.select_related("created_by", "published_by").order_by("-version"))
    return _render_version(request, version, history)


def _render_version(
    request: HttpRequest,
    version: ClinicProtocolVersion,
    history: list[ClinicProtocolVersion],
    publish_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    actor = actor_of(request)
    return render(
        request,
        "protocols/version_detail.html",
        {
            "version": version,
            "copy": version.clinic_protocol,
            "protocol": version.protocol,
            "missing": version.protocol.missing_clinic_values(),
            "history": history,
            "is_latest": bool(history) and history[0].pk == version.pk,
            "can_manage": actor.can(Perm.PROTOCOL_MANAGE),
            "can_publish": actor.can(Perm.PROTOCOL_PUBLISH),
            "publish_errors": publish_errors or [],
        },
        status=status,
    )


@clinic_view(Perm.PROTOCOL_MANAGE)
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, clinic_protocol_id: int) -> HttpResponse:
    actor = actor_of(request)
    copy = access_clinic_protocol(actor, clinic_protocol_id, Perm.PROTOCOL_MANAGE)
    latest = copy.versions.order_by("-version").first()
    if latest is None:  # pragma: no cover
        raise Http404("No version.")
    adaptable = actions.adaptable_fields(latest.protocol)
    status = 200
    if request.method == "POST":
        form = EditProtocolForm(adaptable, request.POST)
        if form.is_valid():
            changes = form.changes()
            token = form_token(request)

            def effect() -> tuple[int, Any]:
                created = actions.edit_protocol(actor, copy, changes, form.cleaned_data["change_note"])
                return 201, {"id": created.pk}

            try:
                if token:
                    payload = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
                    body = run_once(actor, f"form:protocols-edit:{token}", fingerprint(payload), effect).body
                else:
                    body = effect()[1]
            except ValidationError as exc:
                for path, errors in exc.message_dict.items():
                    name = form.field_name(path) or ("change_note" if path == "change_note" else None)
                    for message in errors:
                        form.add_error(name, message)
            except IdempotencyConflict:
                form.add_error(None, "This form was already submitted. Open the form again to make another change.")
            else:
                messages.success(request, "Saved as a new draft version.")
                return HttpResponseRedirect(reverse("protocols-version", args=[body["id"]]))
        status = 422
    else:
        form = EditProtocolForm(adaptable)
    return render(
        request,
        "protocols/edit.html",
        {
            "copy": copy,
            "latest": latest,
            "protocol": latest.protocol,
            "form": form,
            "form_token": request.POST.get("form_token") or uuid.uuid4(),
        },
        status=status,
    )


@clinic_view(Perm.PROTOCOL_PUBLISH)
@require_POST
def publish(request: HttpRequest, version_id: int) -> HttpResponse:
    actor = actor_of(request)
    version = access_protocol_version(actor, version_id, Perm.PROTOCOL_PUBLISH)
    try:
        published = actions.publish_version(actor, version)
    except ValidationError as exc:
        history = list(
            version.clinic_protocol.versions.select_related("created_by", "published_by").order_by("-version")
        )
        found = [m for errors in exc.message_dict.values() for m in errors]
        return _render_version(request, version, history, publish_errors=found, status=422)
    messages.success(
        request, f"Version {published.version} is published: new plans use it. Plans already made keep their version."
    )
    return HttpResponseRedirect(reverse("protocols-version", args=[published.pk]))
