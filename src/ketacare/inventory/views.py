"""Ledger pages (tablet first): stock per registrant location, receive, draw a dose, waste a remainder
with a witness, and the history of a lot with its running balance.

Form -> access -> action -> render. Each POST carries a one-time form token, so a double tap
records one entry (`accounts.idempotency.run_once`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.inventory import actions
from ketacare.inventory.access import (
    access_container,
    access_entry,
    access_lot,
    access_product,
    locations_of,
    lots_of,
)
from ketacare.inventory.forms import AdministerForm, CorrectForm, DisposeForm, ReceiveForm, TransferForm, WasteForm
from ketacare.inventory.models import Container, EntryKind, LedgerEntry, Lot
from ketacare.inventory.queries import EXPIRING_SOON_DAYS, stock_rows
from ketacare.lib.http import form_token
from ketacare.patients.models import Patient


def _location_context(request: HttpRequest, actor: Actor, perm: str = Perm.INVENTORY_VIEW) -> dict[str, Any]:
    """The chosen registrant location (?location=, else the first) and all of them, in one query."""
    locations = list(locations_of(actor, perm).order_by("name", "pk"))
    wanted = request.GET.get("location") or request.POST.get("location")
    if wanted:
        location = next((loc for loc in locations if str(loc.pk) == str(wanted)), None)
    else:
        location = locations[0] if locations else None
    if location is None:
        raise Http404("No such location.")
    return {"location": location, "locations": locations}


@clinic_view(Perm.INVENTORY_VIEW)
def stock(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    try:
        context = _location_context(request, actor)
    except Http404:
        if request.GET.get("location"):
            raise
        # No registrant location yet: say what to do rather than 404.
        return render(request, "inventory/stock.html", {"locations": [], "location": None})
    today = actions.clinic_today(actor)
    context.update(products=stock_rows(context["location"], today), today=today, soon_days=EXPIRING_SOON_DAYS)
    return render(request, "inventory/stock.html", context)


def _apply_errors(form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    for key, errors in exc.message_dict.items():
        name = (aliases or {}).get(key, key)
        form.add_error(name if name in form.fields else None, errors)


def _once(request: HttpRequest, actor: Actor, name: str, effect: Callable[[], tuple[int, Any]]) -> Any:
    token = form_token(request)
    if token:
        outcome = run_once(actor, f"form:inventory-{name}:{token}", fingerprint(request.POST.dict()), effect)
        return outcome.body
    with transaction.atomic():
        return effect()[1]


@clinic_view(Perm.INVENTORY_RECEIVE)
@require_http_methods(["GET", "POST"])
def receive(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    context = _location_context(request, actor, Perm.INVENTORY_RECEIVE)
    location = context["location"]
    today = actions.clinic_today(actor)
    form = ReceiveForm(request.POST or None, location=location, today=today)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def effect() -> tuple[int, Any]:
            product = access_product(actor, data["product"].pk, Perm.INVENTORY_RECEIVE)
            entry = actions.receive_stock(
                actor,
                location,
                product,
                lot_number=data["lot_number"],
                expiry_date=data["expiry_date"],
                packages=data["packages"],
                supplier_name=data["supplier_name"],
                supplier_address=data["supplier_address"],
                supplier_dea=data["supplier_dea"],
                invoice_number=data["invoice_number"],
                received_on=data["received_on"],
            )
            return 201, {"lot": entry.lot_id, "units": entry.quantity_units}

        try:
            body = _once(request, actor, "receive", effect)
        except ValidationError as exc:
            _apply_errors(form, exc, {"location": "product"})
        except IdempotencyConflict:
            form.add_error(None, "This form was already submitted. Open a new form to receive another delivery.")
        else:
            messages.success(request, f"Received {body['units']} unit(s) into the ledger.")
            return HttpResponseRedirect(reverse("inventory-lot", args=[body["lot"]]))
    context.update(form=form, form_token=request.POST.get("form_token") or uuid.uuid4(), title="Receive stock")
    return render(request, "inventory/receive.html", context, status=422 if request.method == "POST" else 200)


@clinic_view(Perm.INVENTORY_ADMINISTER)
@require_http_methods(["GET", "POST"])
def administer(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    context = _location_context(request, actor, Perm.INVENTORY_ADMINISTER)
    location = context["location"]
    today = actions.clinic_today(actor)
    lots = list(
        Lot.objects.filter(location=location, sealed_units__gt=0, expiry_date__gte=today)
        .select_related("product")
        .order_by("expiry_date", "pk")
    )
    vials = list(
        Container.objects.filter(lot__location=location, remaining_ml__gt=0, lot__expiry_date__gte=today)
        .select_related("lot", "lot__product")
        .order_by("lot__expiry_date", "lot_id", "number")
    )
    initial: dict[str, str] = {}
    if request.GET.get("vial"):
        initial["source"] = f"vial:{request.GET['vial']}"
    elif request.GET.get("lot"):
        initial["source"] = f"lot:{request.GET['lot']}"
    form = AdministerForm(request.POST or None, lots=lots, vials=vials, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        patient = Patient.objects.filter(clinic=actor.clinic, mrn__iexact=data["mrn"].strip()).first()
        if patient is None:
            form.add_error("mrn", "No patient with this MRN in your clinic.")
        else:
            kind, _, pk = data["source"].partition(":")

            def effect() -> tuple[int, Any]:
                if kind == "vial":
                    vial = access_container(actor, int(pk), Perm.INVENTORY_ADMINISTER)
                    lot, container = vial.lot, vial
                else:
                    lot, container = access_lot(actor, int(pk), Perm.INVENTORY_ADMINISTER), None
                entry = actions.administer(
                    actor,
                    lot,
                    patient,
                    quantity_mg=data["quantity_mg"],
                    quantity_ml=data["quantity_ml"],
                    container=container,
                    session_ref=data["session_ref"] or None,
                )
                return 201, {"lot": entry.lot_id, "entry": entry.pk, "container": entry.container_id}

            try:
                _once(request, actor, "administer", effect)
            except ValidationError as exc:
                _apply_errors(form, exc, {"lot": "source", "container": "source"})
            except IdempotencyConflict:
                form.add_error(None, "This form was already submitted. Open a new form to record another dose.")
            else:
                messages.success(
                    request,
                    f"Recorded {data['quantity_mg']} mg ({data['quantity_ml']} mL) for {patient.display_name}.",
                )
                url = reverse("inventory-stock") + f"?location={location.pk}"
                return HttpResponseRedirect(url)
    context.update(form=form, form_token=request.POST.get("form_token") or uuid.uuid4(), title="Draw a dose")
    return render(request, "inventory/administer.html", context, status=422 if request.method == "POST" else 200)


@clinic_view(Perm.INVENTORY_ADMINISTER)
@require_http_methods(["GET", "POST"])
def waste(request: HttpRequest, container_id: int) -> HttpResponse:
    actor = actor_of(request)
    vial = access_container(actor, container_id, Perm.INVENTORY_ADMINISTER)
    product = vial.lot.product
    initial = {
        "quantity_ml": vial.remaining_ml,
        "quantity_mg": (vial.remaining_ml * product.concentration_mg_per_ml).quantize(Decimal("0.01")),
    }
    form = WasteForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def effect() -> tuple[int, Any]:
            entry = actions.waste(
                actor,
                vial,
                quantity_mg=data["quantity_mg"],
                quantity_ml=data["quantity_ml"],
                witness=actions.WitnessSignature(data["witness_email"], data["witness_password"]),
                reason=data["reason"],
            )
            return 201, {"entry": entry.pk}

        try:
            _once(request, actor, "waste", effect)
        except ValidationError as exc:
            actions.audit_witness_refusal(actor, exc)
            _apply_errors(form, exc)
        except IdempotencyConflict:
            form.add_error(None, "This form was already submitted.")
        else:
            messages.success(request, f"Waste of {data['quantity_ml']} mL recorded and witnessed.")
            return HttpResponseRedirect(reverse("inventory-stock") + f"?location={vial.lot.location_id}")
    # The witness's password is never sent back (PasswordInput does not render its value).
    context = {
        "form": form,
        "vial": vial,
        "product": product,
        "form_token": request.POST.get("form_token") or uuid.uuid4(),
        "title": f"Waste the remainder of vial {vial.number}",
    }
    return render(request, "inventory/waste.html", context, status=422 if request.method == "POST" else 200)


@dataclass
class HistoryRow:
    entry: LedgerEntry
    sealed_after: int
    ml_after: Decimal
    mg_after: Decimal


@clinic_view(Perm.INVENTORY_VIEW)
def lot_history(request: HttpRequest, lot_id: int) -> HttpResponse:
    actor = actor_of(request)
    lot = access_lot(actor, lot_id)
    product = lot.product
    entries = list(
        lots_of(actor)
        .get(pk=lot.pk)
        .entries.select_related("patient", "witness", "second_witness", "container", "peer_location")
        .order_by("id")
    )
    rows: list[HistoryRow] = []
    sealed, ml = 0, Decimal("0")
    for entry in entries:
        sealed += entry.sealed_delta
        ml += Decimal(entry.sealed_delta) * product.container_volume_ml + entry.ml_delta
        mg = (ml * product.concentration_mg_per_ml).quantize(Decimal("0.01"))
        rows.append(HistoryRow(entry, sealed, ml, mg))
    record(
        actor,
        AuditAction.READ,
        "inventory_lot.viewed",
        subject=lot,
        detail={"entries": len(rows), "patients": sorted({e.patient_id for e in entries if e.patient_id})},
    )
    corrected = {e.corrects_id for e in entries if e.corrects_id}
    correctable = {
        e.pk
        for e in entries
        if e.corrects_id is None
        and e.pk not in corrected
        and e.kind not in (EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT)
        and actions.may_correct(actor, e)
    }
    context = {
        "lot": lot,
        "product": product,
        "correctable": correctable,
        "corrected": corrected,
        "rows": list(reversed(rows)),
        "vials": list(lot.containers.order_by("number")),
        "expired": lot.is_expired(actions.clinic_today(actor)),
        "kinds": EntryKind,
    }
    return render(request, "inventory/lot.html", context)


def _entry_line(entry: LedgerEntry) -> str:
    what = (
        f"{entry.get_kind_display()} #{entry.pk} of lot {entry.lot.lot_number}: "
        f"{entry.quantity_ml} mL ({entry.quantity_mg} mg)"
    )
    return what + (f", {entry.quantity_units} unit(s)" if entry.quantity_units else "")


@clinic_view(Perm.INVENTORY_VIEW)
@require_http_methods(["GET", "POST"])
def correct(request: HttpRequest, entry_id: int) -> HttpResponse:
    actor = actor_of(request)
    entry = access_entry(actor, entry_id)
    if not actions.may_correct(actor, entry):
        raise PermissionDenied("Only the person who recorded the entry, or an investigator, may correct it.")
    form = CorrectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]

        def effect() -> tuple[int, Any]:
            reversal = actions.correct(actor, entry, reason=reason)
            return 201, {"entry": reversal.pk}

        try:
            _once(request, actor, "correct", effect)
        except ValidationError as exc:
            _apply_errors(form, exc, {"entry": "reason"})
        except IdempotencyConflict:
            form.add_error(None, "This form was already submitted.")
        else:
            messages.success(request, f"{entry.get_kind_display()} #{entry.pk} reversed. Now record the right entry.")
            return HttpResponseRedirect(reverse("inventory-lot", args=[entry.lot_id]))
    context = {
        "form": form,
        "entry": entry,
        "entry_line": _entry_line(entry),
        "lot": entry.lot,
        "form_token": request.POST.get("form_token") or uuid.uuid4(),
        "title": f"Correct entry #{entry.pk}",
        "submit_label": "Record the correction",
    }
    return render(request, "inventory/lot_form.html", context, status=422 if request.method == "POST" else 200)


@clinic_view(Perm.INVENTORY_RECEIVE)
@require_http_methods(["GET", "POST"])
def transfer(request: HttpRequest, lot_id: int) -> HttpResponse:
    actor = actor_of(request)
    lot = access_lot(actor, lot_id, Perm.INVENTORY_RECEIVE)
    targets = locations_of(actor, Perm.INVENTORY_RECEIVE).exclude(pk=lot.location_id).order_by("name")
    form = TransferForm(request.POST or None, locations=targets)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def effect() -> tuple[int, Any]:
            out, _ = actions.transfer(actor, lot, data["to_location"], units=data["units"], reason=data["reason"])
            return 201, {"entry": out.pk}

        try:
            _once(request, actor, "transfer", effect)
        except ValidationError as exc:
            _apply_errors(form, exc)
        except IdempotencyConflict:
            form.add_error(None, "This form was already submitted.")
        else:
            messages.success(request, f"Transferred {data['units']} to {data['to_location'].name}.")
            return HttpResponseRedirect(reverse("inventory-lot", args=[lot.pk]))
    context = {
        "form": form,
        "lot": lot,
        "form_token": request.POST.get("form_token") or uuid.uuid4(),
        "title": f"Transfer from lot {lot.lot_number}",
        "submit_label": "Record the transfer",
    }
    return render(request, "inventory/lot_form.html", context, status=422 if request.method == "POST" else 200)


@clinic_view(Perm.INVENTORY_RECEIVE)
@require_http_methods(["GET", "POST"])
def dispose(request: HttpRequest, lot_id: int) -> HttpResponse:
    actor = actor_of(request)
    lot = access_lot(actor, lot_id, Perm.INVENTORY_RECEIVE)
    vials = list(lot.containers.filter(remaining_ml__gt=0).order_by("number"))
    form = DisposeForm(request.POST or None, lot=lot, vials=vials)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        source = data["source"]
        witnesses = [actions.WitnessSignature(data["witness_email"], data["witness_password"])]
        if data["second_witness_email"] or data["second_witness_password"]:
            witnesses.append(actions.WitnessSignature(data["second_witness_email"], data["second_witness_password"]))

        def effect() -> tuple[int, Any]:
            container = None
            if source.startswith("vial:"):
                container = access_container(actor, int(source.split(":")[1]), Perm.INVENTORY_RECEIVE)
            entry = actions.dispose(
                actor,
                lot,
                method=data["method"],
                witnesses=witnesses,
                units=(data["units"] or 0) if container is None else 0,
                container=container,
                counterparty_name=data["counterparty_name"],
                counterparty_address=data["counterparty_address"],
                counterparty_dea=data["counterparty_dea"],
                document_number=data["document_number"],
                reason=data["reason"],
            )
            return 201, {"entry": entry.pk}

        try:
            _once(request, actor, "dispose", effect)
        except ValidationError as exc:
            actions.audit_witness_refusal(actor, exc)
            _apply_errors(form, exc, {"container": "source"})
        except IdempotencyConflict:
            form.add_error(None, "This form was already submitted.")
        else:
            messages.success(request, "Disposal recorded and witnessed.")
            return HttpResponseRedirect(reverse("inventory-lot", args=[lot.pk]))
    context = {
        "form": form,
        "lot": lot,
        "form_token": request.POST.get("form_token") or uuid.uuid4(),
        "title": f"Dispose of stock from lot {lot.lot_number}",
        "submit_label": "Record the disposal",
    }
    return render(request, "inventory/lot_form.html", context, status=422 if request.method == "POST" else 200)
