"""Count pages (tablet first): counts and inventories of a registrant location, a new count signed by
a witness, a count with its variance per line, a discrepancy and its closing, and the location's
inventory and record policy.

Form -> access -> action (`inventory.reconciliation`, `inventory.policy`) -> render. POSTs carry a
one-time form token (`accounts.idempotency.run_once`), so a double tap records one count.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.inventory import actions
from ketacare.inventory.access import access_location, locations_of
from ketacare.inventory.models import (
    CountKind,
    Discrepancy,
    InventoryInterval,
    LossKind,
    OpenedContainerRule,
    RootCause,
    StockCount,
)
from ketacare.inventory.policy import next_inventory_due, policy_for, save_policy
from ketacare.inventory.reconciliation import (
    SheetLine,
    close_discrepancy,
    count_sheet,
    record_count,
    variance_label,
)
from ketacare.lib.forms import StyledFormMixin
from ketacare.lib.http import form_token

RECENT_COUNTS = 30


# --- shared helpers (also used by loss_views) ------------------------------------------------------


def location_context(request: HttpRequest, actor: Actor, perm: str = Perm.INVENTORY_VIEW) -> dict[str, Any]:
    """The chosen registrant location (?location=, else the first) and all of them, in one query."""
    locations = list(locations_of(actor, perm).order_by("name", "pk"))
    wanted = request.GET.get("location") or request.POST.get("location")
    location = next((loc for loc in locations if str(loc.pk) == str(wanted)), None) if wanted else None
    if location is None and not wanted and locations:
        location = locations[0]
    if location is None:
        raise Http404("No such location.")
    return {"location": location, "locations": locations}


def apply_errors(form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    for key, errors in exc.message_dict.items():
        name = (aliases or {}).get(key, key)
        form.add_error(name if name in form.fields else None, errors)


def once(request: HttpRequest, actor: Actor, name: str, effect: Callable[[], tuple[int, Any]]) -> Any:
    """Run a page's effect once per rendered form (its hidden one-time token)."""
    token = form_token(request)
    post = {k: v for k, v in request.POST.items() if "password" not in k}
    if token:
        return run_once(actor, f"form:inventory-{name}:{token}", fingerprint(post), effect).body
    with transaction.atomic():
        return effect()[1]


def new_token(request: HttpRequest) -> str:
    return request.POST.get("form_token") or str(uuid.uuid4())


# --- forms ----------------------------------------------------------------------------------------


class WitnessFields(forms.Form):
    witness_email = forms.EmailField(
        label="Witness's email", help_text="The second person signs with their own sign-in email and password."
    )
    witness_password = forms.CharField(label="Witness's password", widget=forms.PasswordInput, strip=False)


class CountForm(StyledFormMixin, WitnessFields):
    kind = forms.ChoiceField(label="Kind of count", choices=CountKind.choices, initial=CountKind.SHIFT)
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, sheet: list[SheetLine], may_estimate: bool, quarter: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sheet = sheet
        self.lines: list[tuple[SheetLine, str, str | None]] = []
        for line in sheet:
            product = line.lot.product
            if line.container is None:
                self.fields[line.key] = forms.IntegerField(
                    label=f"Lot {line.lot.lot_number}: sealed {product.unit_label}s",
                    min_value=0,
                    max_value=100_000,
                    widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "form-control"}),
                )
                self.lines.append((line, line.key, None))
            else:
                vial = line.container
                step = (vial.content_ml / 4).quantize(Decimal("0.01")) if quarter else Decimal("0.01")
                self.fields[line.key] = forms.DecimalField(
                    label=f"Lot {line.lot.lot_number}, opened vial {vial.number}: mL left",
                    min_value=Decimal("0"),
                    max_value=vial.content_ml,
                    decimal_places=2,
                    help_text=f"Of {vial.content_ml} mL."
                    + (f" An estimate is to the nearest quarter vial ({step} mL)." if quarter else ""),
                    widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal", "class": "form-control"}),
                )
                estimated = None
                if may_estimate:
                    estimated = f"{line.key}_estimated"
                    self.fields[estimated] = forms.BooleanField(
                        label="Estimated",
                        required=False,
                        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
                    )
                self.lines.append((line, line.key, estimated))

    def rows(self) -> list[tuple[SheetLine, forms.BoundField, forms.BoundField | None]]:
        return [(line, self[key], self[est] if est else None) for line, key, est in self.lines]


class CloseForm(StyledFormMixin, forms.Form):
    finding = forms.CharField(
        label="Finding",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        help_text="What the investigation found.",
    )
    root_cause = forms.ChoiceField(label="Root cause", choices=[("", "Choose a root cause"), *RootCause.choices])
    adjust = forms.BooleanField(
        label="Record an adjustment of the variance, so the ledger agrees with the count",
        required=False,
        help_text="Only the inventory manager records adjustments.",
    )
    loss_kind = forms.ChoiceField(
        label="If theft or loss: which",
        choices=[(LossKind.SIGNIFICANT_LOSS, LossKind.SIGNIFICANT_LOSS.label), (LossKind.THEFT, LossKind.THEFT.label)],
        required=False,
        help_text="Opens a loss case: written notice to the DEA within 1 business day, Form 106 within 45 days.",
    )


class PolicyForm(StyledFormMixin, forms.Form):
    interval = forms.ChoiceField(
        label="Inventory interval",
        choices=InventoryInterval.choices,
        help_text="Federal: initial inventory, then at least every 2 years; a state may require annual "
        "(clinical.md section 5).",
    )
    opened_containers = forms.ChoiceField(
        label="Opened containers",
        choices=OpenedContainerRule.choices,
        help_text="Federal: estimates allowed for opened Schedule III containers (exact above 1,000 tablets or "
        "capsules); Iowa: exact, liquids to the nearest quarter container (clinical.md section 5).",
    )
    retention_years = forms.IntegerField(
        label="Keep records for (years)",
        min_value=2,
        max_value=30,
        help_text="At least 2 years; a state may require longer, e.g. 5 (clinical.md section 5).",
    )


# --- pages ----------------------------------------------------------------------------------------


@clinic_view(Perm.INVENTORY_VIEW)
def counts(request: HttpRequest) -> HttpResponse:
    """Counts and inventories of a location: when the next inventory is due, open discrepancies,
    the recent counts."""
    actor = actor_of(request)
    context = location_context(request, actor)
    location = context["location"]
    policy = policy_for(location)
    today = actions.clinic_today(actor)
    due = next_inventory_due(location, policy)
    recent = list(
        StockCount.objects.filter(location=location)
        .select_related("witness")
        .order_by("-counted_at", "-id")[:RECENT_COUNTS]
    )
    variances: dict[int, int] = {}
    for count_id in Discrepancy.objects.filter(location=location, line__count__in=recent).values_list(
        "line__count_id", flat=True
    ):
        variances[count_id] = variances.get(count_id, 0) + 1
    open_rows = list(
        Discrepancy.objects.filter(location=location, closed_at__isnull=True)
        .select_related("line", "line__lot", "line__lot__product", "line__container", "line__count")
        .order_by("opened_at", "id")
    )
    context.update(
        policy=policy,
        due=due,
        days_left=due.days_left(today),
        overdue_days=max(-(due.days_left(today) or 0), 0),
        today=today,
        counts=[(c, variances.get(c.pk, 0)) for c in recent],
        open_discrepancies=[(d, variance_label(d.line)) for d in open_rows],
    )
    return render(request, "inventory/counts/list.html", context)


@clinic_view(Perm.INVENTORY_COUNT)
@require_http_methods(["GET", "POST"])
def count_new(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    context = location_context(request, actor, Perm.INVENTORY_COUNT)
    location = context["location"]
    policy = policy_for(location)
    sheet = count_sheet(location)
    rule = policy.opened_containers
    form = CountForm(
        request.POST or None,
        sheet=sheet,
        may_estimate=rule != OpenedContainerRule.EXACT,
        quarter=rule == OpenedContainerRule.QUARTER,
        initial={"kind": request.GET.get("kind") or CountKind.SHIFT},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        sealed = {ln.lot.pk: data[key] for ln, key, _ in form.lines if ln.container is None}
        vials = {
            ln.container.pk: (data[key], bool(data.get(est))) if est else (data[key], False)
            for ln, key, est in form.lines
            if ln.container is not None
        }

        def effect() -> tuple[int, Any]:
            result = record_count(
                actor,
                location,
                kind=data["kind"],
                witness=actions.WitnessSignature(data["witness_email"], data["witness_password"]),
                sealed=sealed,
                vials=vials,
                note=data["note"],
            )
            return 201, {"count": result.pk, "variances": result.lines.filter(is_variance=True).count()}

        try:
            body = once(request, actor, "count", effect)
        except ValidationError as exc:
            actions.audit_witness_refusal(actor, exc)
            apply_errors(form, exc)
        except IdempotencyConflict:
            form.add_error(None, "This count was already submitted. Open a new form to count again.")
        else:
            if body["variances"]:
                messages.warning(
                    request, f"Count signed. {body['variances']} line(s) differ from the ledger: a discrepancy is open."
                )
            else:
                messages.success(request, "Count signed: everything agrees with the ledger.")
            return HttpResponseRedirect(reverse("inventory-count", args=[body["count"]]))
    context.update(
        form=form,
        policy=policy,
        form_token=new_token(request),
        title=f"Count stock at {location.name}",
    )
    return render(request, "inventory/counts/new.html", context, status=422 if request.method == "POST" else 200)


def _count_of(actor: Actor, count_id: int) -> StockCount:
    found: StockCount | None = (
        StockCount.objects.filter(clinic=actor.clinic, pk=count_id, location__in=locations_of(actor))
        .select_related("location", "witness", "counted_by")
        .first()
    )
    if found is None:
        raise Http404("No such count.")
    return found


@clinic_view(Perm.INVENTORY_VIEW)
def count_detail(request: HttpRequest, count_id: int) -> HttpResponse:
    actor = actor_of(request)
    count = _count_of(actor, count_id)
    lines = list(
        count.lines.select_related("lot", "lot__product", "container", "discrepancy").order_by(
            "lot__product__name", "lot__expiry_date", "lot_id", F("container__number").asc(nulls_first=True), "id"
        )
    )
    context = {
        "count": count,
        "location": count.location,
        "rows": [(line, variance_label(line), getattr(line, "discrepancy", None)) for line in lines],
        "variances": sum(1 for line in lines if line.is_variance),
    }
    return render(request, "inventory/counts/detail.html", context)


@clinic_view(Perm.INVENTORY_VIEW)
@require_http_methods(["GET", "POST"])
def discrepancy(request: HttpRequest, discrepancy_id: int) -> HttpResponse:
    actor = actor_of(request)
    row = (
        Discrepancy.objects.filter(clinic=actor.clinic, pk=discrepancy_id, location__in=locations_of(actor))
        .select_related(
            "location",
            "line",
            "line__lot",
            "line__lot__product",
            "line__container",
            "line__count",
            "adjustment",
            "loss_case",
        )
        .first()
    )
    if row is None:
        raise Http404("No such discrepancy.")
    may_close = actor.can(Perm.INVENTORY_INVESTIGATE) and row.is_open
    form = CloseForm(request.POST or None) if may_close else None
    if request.method == "POST":
        if form is None:
            if not actor.can(Perm.INVENTORY_INVESTIGATE):
                raise PermissionDenied("Your role does not allow inventory.investigate.")
            messages.info(request, "This discrepancy is already closed.")
            return HttpResponseRedirect(reverse("inventory-discrepancy", args=[row.pk]))
        if form.is_valid():
            data = form.cleaned_data

            def effect() -> tuple[int, Any]:
                closed = close_discrepancy(
                    actor,
                    row,
                    finding=data["finding"],
                    root_cause=data["root_cause"],
                    adjust=data["adjust"],
                    loss_kind=data["loss_kind"] or LossKind.SIGNIFICANT_LOSS,
                )
                return 201, {"loss_case": closed.loss_case_id}

            try:
                body = once(request, actor, "discrepancy-close", effect)
            except ValidationError as exc:
                apply_errors(form, exc)
            except IdempotencyConflict:
                form.add_error(None, "This form was already submitted.")
            else:
                if body["loss_case"]:
                    messages.warning(request, "Discrepancy closed and a loss case opened: see its DEA deadlines.")
                    return HttpResponseRedirect(reverse("inventory-loss", args=[body["loss_case"]]))
                messages.success(request, "Discrepancy closed with its finding.")
                return HttpResponseRedirect(reverse("inventory-discrepancy", args=[row.pk]))
    context = {
        "d": row,
        "line": row.line,
        "variance": variance_label(row.line),
        "location": row.location,
        "form": form,
        "form_token": new_token(request),
        "may_adjust": actor.can(Perm.INVENTORY_COUNT),
    }
    status = 422 if request.method == "POST" else 200
    return render(request, "inventory/counts/discrepancy.html", context, status=status)


@clinic_view(Perm.INVENTORY_VIEW)
@require_http_methods(["GET", "POST"])
def policy(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    context = location_context(request, actor)
    location = context["location"]
    current = policy_for(location)
    may_edit = actor.can(Perm.INVENTORY_COUNT)
    if request.method == "POST" and not may_edit:
        raise PermissionDenied("Your role does not allow inventory.count.")
    form = None
    if may_edit:
        initial = {
            "interval": current.interval,
            "opened_containers": current.opened_containers,
            "retention_years": current.retention_years,
        }
        form = PolicyForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data

            def effect() -> tuple[int, Any]:
                save_policy(actor, access_location(actor, location.pk, Perm.INVENTORY_COUNT), **data)
                return 200, {}

            try:
                once(request, actor, "policy", effect)
            except ValidationError as exc:
                apply_errors(form, exc)
            except IdempotencyConflict:
                form.add_error(None, "This form was already submitted.")
            else:
                messages.success(request, f"Policy of {location.name} saved.")
                return HttpResponseRedirect(reverse("inventory-policy") + f"?location={location.pk}")
    today = actions.clinic_today(actor)
    due = next_inventory_due(location, current)
    context.update(
        policy=current,
        form=form,
        due=due,
        days_left=due.days_left(today),
        form_token=new_token(request),
        title=f"Inventory and record policy: {location.name}",
    )
    return render(request, "inventory/counts/policy.html", context, status=422 if request.method == "POST" else 200)
