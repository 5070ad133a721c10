"""Theft or loss pages: the deadlines dashboard of a location, a new case, a case with its filings.

A theft or significant loss shows its two DEA deadlines (written notice within 1 business day,
Form 106 within 45 days; clinical.md section 5) with days left or overdue until the filing is
recorded. A non-recoverable breakage or spillage is recorded with its two witnesses and no deadline.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict
from ketacare.accounts.roles import Perm
from ketacare.inventory import actions
from ketacare.inventory.access import locations_of
from ketacare.inventory.count_views import apply_errors, location_context, new_token, once
from ketacare.inventory.losses import deadlines, open_deadlines, open_loss_case, record_filing
from ketacare.inventory.models import FilingKind, FilingMethod, LossCase, LossFiling, LossKind, Lot
from ketacare.lib.forms import StyledFormMixin

RECENT_CASES = 50
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class LossForm(StyledFormMixin, forms.Form):
    kind = forms.ChoiceField(label="What happened", choices=LossKind.choices, widget=forms.RadioSelect)
    discovered_at = forms.DateTimeField(
        label="Discovered at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="The deadlines run from the day of discovery (clinic time).",
    )
    description = forms.CharField(
        label="Description", widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, help_text="What, where, how."
    )
    lot = forms.ModelChoiceField(queryset=Lot.objects.none(), required=False, empty_label="Choose the lot")
    quantity_units = forms.IntegerField(label="Sealed containers", min_value=0, required=False, initial=0)
    quantity_ml = forms.DecimalField(
        label="mL from opened vials", min_value=Decimal("0"), decimal_places=2, required=False, initial=0
    )
    witness_email = forms.EmailField(label="First witness's email", required=False)
    witness_password = forms.CharField(
        label="First witness's password", widget=forms.PasswordInput, required=False, strip=False
    )
    second_witness_email = forms.EmailField(label="Second witness's email", required=False)
    second_witness_password = forms.CharField(
        label="Second witness's password", widget=forms.PasswordInput, required=False, strip=False
    )

    def __init__(self, *args: Any, lots: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["lot"]
        field.queryset = lots
        field.label_from_instance = lambda lot: (
            f"Lot {lot.lot_number}: {lot.product.name}, {lot.product.strength_label}"
        )
        self.fields["kind"].widget.attrs["class"] = "form-check-input"


class FilingForm(StyledFormMixin, forms.Form):
    kind = forms.ChoiceField(label="What was filed", choices=FilingKind.choices)
    filed_on = forms.DateField(label="Filed on", widget=DATE)
    method = forms.ChoiceField(
        label="How", choices=FilingMethod.choices, help_text="Form 106 is filed electronically with the DEA."
    )
    reference = forms.CharField(label="Confirmation or reference number", max_length=100)

    def __init__(self, *args: Any, open_kinds: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["kind"]
        field.choices = [(k, FilingKind(k).label) for k in open_kinds]


def _cases(location: Any) -> Any:
    return LossCase.objects.filter(location=location).prefetch_related(
        Prefetch("filings", queryset=LossFiling.objects.order_by("kind"))
    )


@clinic_view(Perm.INVENTORY_VIEW)
def losses(request: HttpRequest) -> HttpResponse:
    """The location's open DEA deadlines (soonest first) and its recent cases."""
    actor = actor_of(request)
    context = location_context(request, actor)
    location = context["location"]
    today = actions.clinic_today(actor)
    open_cases = list(
        _cases(location)
        .filter(kind__in=[LossKind.THEFT, LossKind.SIGNIFICANT_LOSS])
        .exclude(filings__kind=FilingKind.FORM_106)
    )
    recent = list(_cases(location).order_by("-discovered_at", "-id")[:RECENT_CASES])
    context.update(
        today=today,
        deadlines=open_deadlines(open_cases, today),
        cases=[(case, deadlines(case, today)) for case in recent],
    )
    return render(request, "inventory/losses/list.html", context)


@clinic_view(Perm.INVENTORY_INVESTIGATE)
@require_http_methods(["GET", "POST"])
def loss_new(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    context = location_context(request, actor, Perm.INVENTORY_INVESTIGATE)
    location = context["location"]
    zone = actor.clinic.zone
    lots = Lot.objects.filter(location=location).select_related("product").order_by("-expiry_date", "lot_number")
    initial = {"discovered_at": timezone.localtime(timezone.now(), zone).replace(second=0, microsecond=0, tzinfo=None)}
    form = LossForm(request.POST or None, lots=lots, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        discovered = data["discovered_at"]
        if timezone.is_naive(discovered):
            discovered = timezone.make_aware(discovered, zone)
        else:
            discovered = discovered.replace(tzinfo=None).replace(tzinfo=zone)
        witnesses = [
            actions.WitnessSignature(data[f"{p}email"], data[f"{p}password"])
            for p in ("witness_", "second_witness_")
            if data[f"{p}email"] or data[f"{p}password"]
        ]

        def effect() -> tuple[int, Any]:
            case = open_loss_case(
                actor,
                location,
                kind=data["kind"],
                discovered_at=discovered,
                description=data["description"],
                lot=data["lot"],
                quantity_units=data["quantity_units"] or 0,
                quantity_ml=data["quantity_ml"] or 0,
                witnesses=witnesses if data["kind"] == LossKind.BREAKAGE else (),
            )
            return 201, {"case": case.pk}

        try:
            body = once(request, actor, "loss", effect)
        except ValidationError as exc:
            actions.audit_witness_refusal(actor, exc)
            apply_errors(form, exc)
        except IdempotencyConflict:
            form.add_error(None, "This form was already submitted.")
        else:
            messages.success(request, "Case recorded.")
            return HttpResponseRedirect(reverse("inventory-loss", args=[body["case"]]))
    context.update(form=form, form_token=new_token(request), title=f"Report a theft or loss at {location.name}")
    return render(request, "inventory/losses/new.html", context, status=422 if request.method == "POST" else 200)


@clinic_view(Perm.INVENTORY_VIEW)
@require_http_methods(["GET", "POST"])
def loss_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    actor = actor_of(request)
    case = (
        LossCase.objects.filter(clinic=actor.clinic, pk=case_id, location__in=locations_of(actor))
        .select_related("location", "lot", "lot__product", "witness", "second_witness")
        .prefetch_related(Prefetch("filings", queryset=LossFiling.objects.order_by("kind")))
        .first()
    )
    if case is None:
        raise Http404("No such case.")
    today = actions.clinic_today(actor)
    rows = deadlines(case, today)
    open_kinds = [d.kind for d in rows if not d.done]
    may_file = actor.can(Perm.INVENTORY_INVESTIGATE) and bool(open_kinds)
    if request.method == "POST" and not actor.can(Perm.INVENTORY_INVESTIGATE):
        raise PermissionDenied("Your role does not allow inventory.investigate.")
    form = FilingForm(request.POST or None, open_kinds=open_kinds, initial={"filed_on": today}) if may_file else None
    if request.method == "POST":
        if form is None:
            messages.info(request, "Nothing is left to file for this case.")
            return HttpResponseRedirect(reverse("inventory-loss", args=[case.pk]))
        if form.is_valid():
            data = form.cleaned_data

            def effect() -> tuple[int, Any]:
                filing = record_filing(actor, case, **data)
                return 201, {"filing": filing.pk}

            try:
                once(request, actor, "loss-filing", effect)
            except ValidationError as exc:
                apply_errors(form, exc)
            except IdempotencyConflict:
                form.add_error(None, "This form was already submitted.")
            else:
                messages.success(request, f"{FilingKind(data['kind']).label}: filing recorded.")
                return HttpResponseRedirect(reverse("inventory-loss", args=[case.pk]))
    context = {
        "case": case,
        "location": case.location,
        "deadlines": rows,
        "today": today,
        "form": form,
        "form_token": new_token(request),
        "discrepancies": list(case.discrepancies.select_related("line__count").order_by("id")),
    }
    return render(request, "inventory/losses/detail.html", context, status=422 if request.method == "POST" else 200)
