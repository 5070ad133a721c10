"""Scheduling settings pages (issue #8), administrators only (`Perm.SCHEDULE_MANAGE`):

- `/schedule/settings/`: the clinic's rules (patients per nurse, slot grid, late-cancel window,
  no-show grace, reminder times, email and SMS switches);
- `/schedule/settings/types/` and `/schedule/settings/types/<id>/`: appointment types, and "add the
  default types";
- `/schedule/settings/hours/`: opening hours per location and staff hours (add, remove);
- `/schedule/settings/closures/`: closures (a holiday for the clinic or a location, a chair or room
  out of service) and staff time off (add, remove; future ones listed).

Form -> access (the admin's clinic; another clinic's row is 404) -> action (below: one transaction,
its audit row with the values before and after) -> redirect. Every POST form carries a one-time
`form_token` (`run_once`), so a double click changes nothing twice. These are configuration rows,
not clinical records: a removal deletes the row and the audit row keeps what it was.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model
from django.forms.models import model_to_dict
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import diff, record
from ketacare.clinics.models import Clinic
from ketacare.lib.http import form_token
from ketacare.scheduling.defaults import ensure_default_types
from ketacare.scheduling.models import (
    AppointmentType,
    Closure,
    OpeningHours,
    StaffHours,
    TimeOff,
    settings_for,
)
from ketacare.scheduling.settings_forms import (
    ClosureForm,
    OpeningHoursForm,
    RulesForm,
    StaffHoursForm,
    TimeOffForm,
    TypeForm,
)

# --- actions: the only writers of these rows ------------------------------------------------------


def _snapshot(row: Model) -> dict[str, Any]:
    values = model_to_dict(row)
    for key, value in list(values.items()):
        if hasattr(value, "isoformat"):
            values[key] = value.isoformat()
        elif isinstance(value, list) and value and hasattr(value[0], "pk"):  # many-to-many: ids
            values[key] = sorted(v.pk for v in value)
    return values


def _require(actor: Actor) -> None:
    if not actor.can(Perm.SCHEDULE_MANAGE):
        raise PermissionDenied(f"Your role does not allow {Perm.SCHEDULE_MANAGE}.")


@transaction.atomic
def update_rules(actor: Actor, form: RulesForm) -> int:
    _require(actor)
    row = settings_for(actor.clinic)
    if form.instance.pk != row.pk:
        raise Http404("No such settings.")
    before = _snapshot(type(row).objects.get(pk=row.pk))
    saved = form.save()
    record(
        actor,
        AuditAction.UPDATE,
        "schedule_settings.updated",
        subject=saved,
        detail={"changes": diff(before, _snapshot(saved))},
    )
    return int(saved.pk)


@transaction.atomic
def update_type(actor: Actor, form: TypeForm) -> int:
    _require(actor)
    if form.instance.clinic_id != actor.clinic.pk:
        raise Http404("No such appointment type.")
    before = _snapshot(AppointmentType.objects.get(pk=form.instance.pk))
    saved = form.save()
    record(
        actor,
        AuditAction.UPDATE,
        "appointment_type.updated",
        subject=saved,
        detail={"code": saved.code, "changes": diff(before, _snapshot(saved))},
    )
    return int(saved.pk)


@transaction.atomic
def add_default_types(actor: Actor) -> list[str]:
    _require(actor)
    before = set(AppointmentType.objects.filter(clinic=actor.clinic).values_list("code", flat=True))
    after = ensure_default_types(actor.clinic)
    added = sorted(t.code for t in after if t.code not in before)
    record(actor, AuditAction.CREATE, "appointment_type.defaults_added", detail={"added": added})
    return added


def _create(actor: Actor, model: type[Model], event: str, values: dict[str, Any]) -> int:
    _require(actor)
    row = model._default_manager.create(clinic=actor.clinic, **values)
    record(actor, AuditAction.CREATE, event, subject=row, detail={"new": _snapshot(row)})
    return int(row.pk)


def _remove(actor: Actor, model: type[Model], event: str, pk: Any) -> None:
    _require(actor)
    try:
        key = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such row.") from None
    row = model._default_manager.select_for_update().filter(clinic=actor.clinic, pk=key).first()
    if row is None:
        raise Http404("No such row.")
    record(actor, AuditAction.DELETE, event, subject=row, detail={"old": _snapshot(row)})
    row.delete()


@transaction.atomic
def add_opening_hours(actor: Actor, data: dict[str, Any]) -> int:
    return _create(actor, OpeningHours, "opening_hours.created", _pick(data, "location", "weekday", "opens", "closes"))


@transaction.atomic
def remove_opening_hours(actor: Actor, pk: Any) -> None:
    _remove(actor, OpeningHours, "opening_hours.deleted", pk)


@transaction.atomic
def add_staff_hours(actor: Actor, data: dict[str, Any]) -> int:
    return _create(
        actor, StaffHours, "staff_hours.created", _pick(data, "user", "location", "weekday", "starts", "ends")
    )


@transaction.atomic
def remove_staff_hours(actor: Actor, pk: Any) -> None:
    _remove(actor, StaffHours, "staff_hours.deleted", pk)


@transaction.atomic
def add_closure(actor: Actor, data: dict[str, Any]) -> int:
    values = _pick(data, "location", "resource", "starts_at", "ends_at", "reason")
    return _create(actor, Closure, "closure.created", {**values, "created_by": actor.user})


@transaction.atomic
def remove_closure(actor: Actor, pk: Any) -> None:
    _remove(actor, Closure, "closure.deleted", pk)


@transaction.atomic
def add_time_off(actor: Actor, data: dict[str, Any]) -> int:
    values = _pick(data, "user", "starts_at", "ends_at", "reason")
    return _create(actor, TimeOff, "time_off.created", {**values, "created_by": actor.user})


@transaction.atomic
def remove_time_off(actor: Actor, pk: Any) -> None:
    _remove(actor, TimeOff, "time_off.deleted", pk)


def _pick(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: data.get(name) for name in names}


# --- pages --------------------------------------------------------------------------------------


def _once(actor: Actor, request: HttpRequest, key: str, do: Callable[[], Any]) -> Any:
    """Run `do` once per form token (a double click or a resubmitted page changes nothing twice)."""

    def effect() -> tuple[int, Any]:
        return 200, do()

    token = form_token(request)
    if token:
        payload = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
        return run_once(actor, f"form:scheduling-settings-{key}:{token}", fingerprint(payload), effect).body
    return effect()[1]


def _submit(request: HttpRequest, actor: Actor, key: str, do: Callable[[], Any], done: str) -> bool:
    """Run the action; a message says what happened. False when it was refused."""
    try:
        _once(actor, request, key, do)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return False
    except IdempotencyConflict:
        messages.error(request, "This form was already submitted with other values; reload the page.")
        return False
    messages.success(request, done)
    return True


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context.setdefault("form_token", str(uuid.uuid4()))
    context.setdefault("section", template)
    return render(request, f"scheduling/{template}.html", context, status=status)


@clinic_view(Perm.SCHEDULE_MANAGE)
@require_http_methods(["GET", "POST"])
def rules(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    row = settings_for(actor.clinic)
    form = RulesForm(request.POST if request.method == "POST" else None, instance=row)
    if request.method == "POST":
        if form.is_valid() and _submit(
            request, actor, "rules", lambda: update_rules(actor, form), "Scheduling rules saved."
        ):
            return HttpResponseRedirect(reverse("scheduling-settings"))
        return _page(request, "settings", {"form": form}, status=422)
    return _page(request, "settings", {"form": form})


@clinic_view(Perm.SCHEDULE_MANAGE)
@require_http_methods(["GET", "POST"])
def types(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    if request.method == "POST":
        if request.POST.get("action") != "defaults":
            return HttpResponse("Unknown action.", status=400)

        try:
            added = _once(actor, request, "defaults", lambda: add_default_types(actor))
        except IdempotencyConflict:
            messages.error(request, "This form was already submitted with other values; reload the page.")
        else:
            messages.success(
                request,
                f"Added {len(added)} default types: {', '.join(added)}." if added else "Every default type is there.",
            )
        return HttpResponseRedirect(reverse("scheduling-settings-types"))
    rows = list(AppointmentType.objects.filter(clinic=actor.clinic).order_by("sort_order", "name"))
    return _page(request, "settings_types", {"types": rows})


@clinic_view(Perm.SCHEDULE_MANAGE)
@require_http_methods(["GET", "POST"])
def type_edit(request: HttpRequest, type_id: int) -> HttpResponse:
    actor = actor_of(request)
    row = AppointmentType.objects.filter(clinic=actor.clinic, pk=type_id).first()
    if row is None:
        raise Http404("No such appointment type.")
    form = TypeForm(request.POST if request.method == "POST" else None, instance=row)
    if request.method == "POST":
        if form.is_valid() and _submit(
            request, actor, f"type-{row.pk}", lambda: update_type(actor, form), f"{row.name} saved."
        ):
            return HttpResponseRedirect(reverse("scheduling-settings-types"))
        return _page(request, "settings_type", {"form": form, "type": row}, status=422)
    return _page(request, "settings_type", {"form": form, "type": row})


@dataclasses.dataclass(frozen=True)
class RowKind:
    """One kind of row a settings page lists, adds and removes (opening hours, closures, ...).

    The page's POST `action` is `add-<action>` or `remove-<action>`; the add form renders as
    `<prefix>_form` with that prefix."""

    action: str
    prefix: str
    form: Any
    add: Callable[[Actor, dict[str, Any]], Any]
    remove: Callable[[Actor, Any], Any]
    added: str
    removed: str


def _rows_page(
    request: HttpRequest,
    template: str,
    here: str,
    kinds: list[RowKind],
    listed: Callable[[Clinic], dict[str, Any]],
) -> HttpResponse:
    """List, add and remove rows of each kind; an add refused names its field (422)."""
    actor = actor_of(request)
    clinic = actor.clinic
    forms = {k.prefix: k.form(clinic=clinic, prefix=k.prefix) for k in kinds}
    status = 200
    if request.method == "POST":
        verb, _, name = request.POST.get("action", "").partition("-")
        kind = next((k for k in kinds if k.action == name), None)
        if kind is None or verb not in ("add", "remove"):
            return HttpResponse("Unknown action.", status=400)
        if verb == "remove":
            pk = request.POST.get("id")
            _submit(request, actor, f"{kind.action}-remove", lambda: kind.remove(actor, pk), kind.removed)
            return HttpResponseRedirect(reverse(here))
        form = kind.form(request.POST, clinic=clinic, prefix=kind.prefix)
        if form.is_valid():
            data = form.cleaned_data
            _submit(request, actor, kind.action, lambda: kind.add(actor, data), kind.added)
            return HttpResponseRedirect(reverse(here))
        forms[kind.prefix] = form
        status = 422
    context = {f"{prefix}_form": form for prefix, form in forms.items()} | listed(clinic)
    return _page(request, template, context, status=status)


HOURS = [
    RowKind(
        "opening",
        "opening",
        OpeningHoursForm,
        add_opening_hours,
        remove_opening_hours,
        "Opening hours added.",
        "Opening hours removed.",
    ),
    RowKind(
        "staff",
        "staff",
        StaffHoursForm,
        add_staff_hours,
        remove_staff_hours,
        "Staff hours added.",
        "Staff hours removed.",
    ),
]
CLOSURES = [
    RowKind("closure", "closure", ClosureForm, add_closure, remove_closure, "Closure added.", "Closure removed."),
    RowKind("timeoff", "off", TimeOffForm, add_time_off, remove_time_off, "Time off added.", "Time off removed."),
]


@clinic_view(Perm.SCHEDULE_MANAGE)
@require_http_methods(["GET", "POST"])
def hours(request: HttpRequest) -> HttpResponse:
    def listed(clinic: Clinic) -> dict[str, Any]:
        return {
            "opening_hours": OpeningHours.objects.filter(clinic=clinic)
            .select_related("location")
            .order_by("location__name", "weekday", "opens"),
            "staff_hours": StaffHours.objects.filter(clinic=clinic)
            .select_related("user", "location")
            .order_by("user__full_name", "weekday", "starts"),
        }

    return _rows_page(request, "settings_hours", "scheduling-settings-hours", HOURS, listed)


@clinic_view(Perm.SCHEDULE_MANAGE)
@require_http_methods(["GET", "POST"])
def closures(request: HttpRequest) -> HttpResponse:
    def listed(clinic: Clinic) -> dict[str, Any]:
        now = timezone.now()
        return {
            "closures": Closure.objects.filter(clinic=clinic, ends_at__gt=now)
            .select_related("location", "resource__location")
            .order_by("starts_at"),
            "time_off": TimeOff.objects.filter(clinic=clinic, ends_at__gt=now)
            .select_related("user")
            .order_by("starts_at"),
        }

    return _rows_page(request, "settings_closures", "scheduling-settings-closures", CLOSURES, listed)
