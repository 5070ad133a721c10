"""/api/v1/inventory: counts, discrepancies, theft or loss cases and their filings.

    GET  /counts, /counts/{id}             INVENTORY_VIEW
    POST /counts                           INVENTORY_COUNT (the witness's email and password in the body)
    GET  /discrepancies                    INVENTORY_VIEW (?status=open|closed|all)
    POST /discrepancies/{id}/close         INVENTORY_INVESTIGATE
    GET  /loss-cases, /loss-cases/{id}     INVENTORY_VIEW
    POST /loss-cases                       INVENTORY_INVESTIGATE
    POST /loss-cases/{id}/filings          INVENTORY_INVESTIGATE

POSTs honour `Idempotency-Key` (a repeat returns the first result; the fingerprint leaves passwords
out). A refused rule is a 422 naming the field; another clinic's row is a 404.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from django.db import transaction
from django.db.models import F, Prefetch, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Header, Router, Schema
from pydantic import Field

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.inventory import actions
from ketacare.inventory.access import access_location, access_lot, locations_of
from ketacare.inventory.losses import deadlines, open_loss_case, record_filing
from ketacare.inventory.models import (
    CountLine,
    Discrepancy,
    LossCase,
    LossFiling,
    StockCount,
)
from ketacare.inventory.reconciliation import close_discrepancy, record_count

count_router = Router(tags=["inventory counts"])

PAGE_MAX = 200


# --- shapes ---------------------------------------------------------------------------------------


class CountLineIn(Schema):
    lot_id: int
    container_id: int | None = Field(None, description="An opened vial; omit for the lot's sealed containers.")
    units: int | None = Field(None, ge=0, description="Sealed containers counted.")
    ml: Decimal | None = Field(None, ge=0, description="mL counted in the opened vial.")
    estimated: bool = False


class CountIn(Schema):
    location_id: int
    kind: Literal["shift", "daily", "initial", "periodic"]
    lines: list[CountLineIn]
    witness_email: str = ""
    witness_password: str = ""
    note: str = ""


class CountLineOut(Schema):
    id: int
    lot_id: int
    lot_number: str
    container_id: int | None
    expected_units: int
    counted_units: int
    variance_units: int
    expected_ml: Decimal
    counted_ml: Decimal
    variance_ml: Decimal
    estimated: bool
    is_variance: bool
    discrepancy_id: int | None


class CountOut(Schema):
    id: int
    location_id: int
    kind: str
    counted_at: datetime.datetime
    counted_by_id: int
    counted_by_label: str
    witness_id: int
    witness_label: str
    opened_rule: str
    note: str
    lines: list[CountLineOut]


class DiscrepancyOut(Schema):
    id: int
    location_id: int
    count_id: int
    lot_id: int
    container_id: int | None
    variance_units: int
    variance_ml: Decimal
    opened_at: datetime.datetime
    status: Literal["open", "closed"]
    closed_at: datetime.datetime | None
    closed_by_label: str
    finding: str
    root_cause: str
    adjustment_id: int | None
    loss_case_id: int | None


class CloseIn(Schema):
    finding: str = ""
    root_cause: str = ""
    adjust: bool = False
    loss_kind: Literal["theft", "significant_loss"] = "significant_loss"


class FilingOut(Schema):
    id: int
    kind: str
    filed_on: datetime.date
    method: str
    reference: str
    filed_by_label: str


class DeadlineOut(Schema):
    kind: str
    due: datetime.date
    status: str
    days_left: int
    overdue: bool
    filed: bool


class LossCaseIn(Schema):
    location_id: int
    kind: Literal["theft", "significant_loss", "breakage"]
    discovered_at: datetime.datetime
    description: str = ""
    lot_id: int | None = None
    quantity_units: int = Field(0, ge=0)
    quantity_ml: Decimal = Field(Decimal("0"), ge=0)
    witness_email: str = ""
    witness_password: str = ""
    second_witness_email: str = ""
    second_witness_password: str = ""


class LossCaseOut(Schema):
    id: int
    location_id: int
    kind: str
    discovered_at: datetime.datetime
    description: str
    lot_id: int | None
    quantity_units: int
    quantity_ml: Decimal
    quantity_mg: Decimal
    notice_due: datetime.date | None
    form_106_due: datetime.date | None
    recorded_by_label: str
    witness_ids: list[int]
    deadlines: list[DeadlineOut]
    filings: list[FilingOut]


class FilingIn(Schema):
    kind: Literal["dea_notice", "form_106"]
    filed_on: datetime.date
    method: Literal["email", "fax", "letter", "dea_online"]
    reference: str = ""


# --- serialisers ----------------------------------------------------------------------------------


def _line(line: CountLine) -> dict[str, Any]:
    discrepancy = getattr(line, "discrepancy", None) if line.is_variance else None
    return {
        "id": line.pk,
        "lot_id": line.lot_id,
        "lot_number": line.lot.lot_number,
        "container_id": line.container_id,
        "expected_units": line.expected_units,
        "counted_units": line.counted_units,
        "variance_units": line.variance_units,
        "expected_ml": line.expected_ml,
        "counted_ml": line.counted_ml,
        "variance_ml": line.variance_ml,
        "estimated": line.estimated,
        "is_variance": line.is_variance,
        "discrepancy_id": discrepancy.pk if discrepancy else None,
    }


def _count(count: StockCount) -> dict[str, Any]:
    return {
        **{f: getattr(count, f) for f in ("id", "location_id", "kind", "counted_at", "counted_by_id")},
        **{f: getattr(count, f) for f in ("counted_by_label", "witness_id", "witness_label", "opened_rule", "note")},
        "lines": [_line(line) for line in count.lines.all()],
    }


def _counts(actor: Actor) -> QuerySet[StockCount]:
    lines = CountLine.objects.select_related("lot", "discrepancy").order_by(
        "lot_id", F("container_id").asc(nulls_first=True), "id"
    )
    return StockCount.objects.filter(clinic=actor.clinic, location__in=locations_of(actor)).prefetch_related(
        Prefetch("lines", queryset=lines)
    )


def _discrepancy(d: Discrepancy) -> dict[str, Any]:
    line = d.line
    return {
        "id": d.pk,
        "location_id": d.location_id,
        "count_id": line.count_id,
        "lot_id": line.lot_id,
        "container_id": line.container_id,
        "variance_units": line.variance_units,
        "variance_ml": line.variance_ml,
        "opened_at": d.opened_at,
        "status": "open" if d.is_open else "closed",
        "closed_at": d.closed_at,
        "closed_by_label": d.closed_by_label,
        "finding": d.finding,
        "root_cause": d.root_cause,
        "adjustment_id": d.adjustment_id,
        "loss_case_id": d.loss_case_id,
    }


def _case(case: LossCase, today: datetime.date) -> dict[str, Any]:
    return {
        **{
            f: getattr(case, f)
            for f in (
                "id",
                "location_id",
                "kind",
                "discovered_at",
                "description",
                "lot_id",
                "quantity_units",
                "quantity_ml",
                "quantity_mg",
                "notice_due",
                "form_106_due",
                "recorded_by_label",
            )
        },
        "witness_ids": [w for w in (case.witness_id, case.second_witness_id) if w],
        "deadlines": [
            {
                "kind": d.kind,
                "due": d.due,
                "status": d.status,
                "days_left": d.days_left,
                "overdue": d.overdue,
                "filed": d.done,
            }
            for d in deadlines(case, today)
        ],
        "filings": [
            {f: getattr(x, f) for f in ("id", "kind", "filed_on", "method", "reference", "filed_by_label")}
            for x in case.filings.all()
        ],
    }


def _cases(actor: Actor) -> QuerySet[LossCase]:
    return LossCase.objects.filter(clinic=actor.clinic, location__in=locations_of(actor)).prefetch_related(
        Prefetch("filings", queryset=LossFiling.objects.order_by("kind"))
    )


def _post(
    actor: Actor, name: str, key: str | None, body: dict[str, Any], effect: Callable[[], tuple[int, Any]]
) -> tuple[int, Any]:
    """Run a POST once per Idempotency-Key (the fingerprint leaves passwords out); audit a refused witness."""
    safe = {k: v for k, v in body.items() if "password" not in k}
    try:
        if key:
            outcome = run_once(actor, f"api:inventory.{name}:{key}", fingerprint(safe), effect)
            return (200 if outcome.replayed else outcome.status_code), outcome.body
        with transaction.atomic():
            return effect()
    except actions.WitnessRefused as exc:
        actions.audit_witness_refusal(actor, exc)
        raise


IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=200)  # type: ignore[type-arg]


# --- counts ---------------------------------------------------------------------------------------


@count_router.get("/counts", response=list[CountOut], summary="Counts of a location, newest first")
def list_counts(
    request: HttpRequest, location_id: int | None = None, before_id: int | None = None
) -> list[dict[str, Any]]:
    actor = actor_of(request)
    location = access_location(actor, location_id)
    rows = _counts(actor).filter(location=location)
    if before_id:
        rows = rows.filter(pk__lt=before_id)
    return [_count(c) for c in rows.order_by("-id")[:PAGE_MAX]]


@count_router.get("/counts/{count_id}", response=CountOut, summary="One count with its lines")
def get_count(request: HttpRequest, count_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    found = _counts(actor).filter(pk=count_id).first()
    if found is None:
        raise Http404("No such count.")
    return _count(found)


@count_router.post("/counts", response={201: CountOut, 200: CountOut}, summary="Record a count signed by a witness")
def create_count(
    request: HttpRequest, payload: CountIn, idempotency_key: str | None = IdempotencyKey
) -> tuple[int, Any]:
    actor = actor_of(request)

    def effect() -> tuple[int, Any]:
        location = access_location(actor, payload.location_id, Perm.INVENTORY_COUNT)
        sealed = {ln.lot_id: ln.units or 0 for ln in payload.lines if ln.container_id is None}
        vials = {
            ln.container_id: (ln.ml, ln.estimated)
            for ln in payload.lines
            if ln.container_id is not None and ln.ml is not None  # a vial left out is "not counted"
        }
        count = record_count(
            actor,
            location,
            kind=payload.kind,
            witness=actions.WitnessSignature(payload.witness_email, payload.witness_password),
            sealed=sealed,
            vials=vials,
            note=payload.note,
        )
        return 201, CountOut.model_validate(_count(_counts(actor).get(pk=count.pk))).model_dump(mode="json")

    return _post(actor, "counts", idempotency_key, payload.dict(), effect)


# --- discrepancies --------------------------------------------------------------------------------


@count_router.get("/discrepancies", response=list[DiscrepancyOut], summary="Discrepancies of a location")
def list_discrepancies(
    request: HttpRequest, location_id: int | None = None, status: Literal["open", "closed", "all"] = "open"
) -> list[dict[str, Any]]:
    actor = actor_of(request)
    location = access_location(actor, location_id)
    rows = Discrepancy.objects.filter(clinic=actor.clinic, location=location).select_related("line")
    if status == "open":
        rows = rows.filter(closed_at__isnull=True)
    elif status == "closed":
        rows = rows.filter(closed_at__isnull=False)
    return [_discrepancy(d) for d in rows.order_by("-id")[:PAGE_MAX]]


@count_router.post(
    "/discrepancies/{discrepancy_id}/close",
    response={200: DiscrepancyOut},
    summary="Close a discrepancy with a finding",
)
def close(
    request: HttpRequest, discrepancy_id: int, payload: CloseIn, idempotency_key: str | None = IdempotencyKey
) -> tuple[int, Any]:
    actor = actor_of(request)

    def effect() -> tuple[int, Any]:
        row = (
            Discrepancy.objects.filter(
                clinic=actor.clinic, pk=discrepancy_id, location__in=locations_of(actor, Perm.INVENTORY_INVESTIGATE)
            )
            .select_related("line")
            .first()
        )
        if row is None:
            raise Http404("No such discrepancy.")
        closed = close_discrepancy(
            actor,
            row,
            finding=payload.finding,
            root_cause=payload.root_cause,
            adjust=payload.adjust,
            loss_kind=payload.loss_kind,
        )
        return 200, DiscrepancyOut.model_validate(_discrepancy(closed)).model_dump(mode="json")

    return _post(actor, f"discrepancies.{discrepancy_id}.close", idempotency_key, payload.dict(), effect)


# --- theft or loss --------------------------------------------------------------------------------


@count_router.get("/loss-cases", response=list[LossCaseOut], summary="Theft, loss and breakage cases of a location")
def list_cases(request: HttpRequest, location_id: int | None = None) -> list[dict[str, Any]]:
    actor = actor_of(request)
    location = access_location(actor, location_id)
    today = actions.clinic_today(actor)
    return [_case(c, today) for c in _cases(actor).filter(location=location).order_by("-id")[:PAGE_MAX]]


@count_router.get("/loss-cases/{case_id}", response=LossCaseOut, summary="One case with its deadlines and filings")
def get_case(request: HttpRequest, case_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    found = _cases(actor).filter(pk=case_id).first()
    if found is None:
        raise Http404("No such case.")
    return _case(found, actions.clinic_today(actor))


@count_router.post("/loss-cases", response={201: LossCaseOut, 200: LossCaseOut}, summary="Open a theft or loss case")
def create_case(
    request: HttpRequest, payload: LossCaseIn, idempotency_key: str | None = IdempotencyKey
) -> tuple[int, Any]:
    actor = actor_of(request)

    def effect() -> tuple[int, Any]:
        location = access_location(actor, payload.location_id, Perm.INVENTORY_INVESTIGATE)
        lot = access_lot(actor, payload.lot_id, Perm.INVENTORY_INVESTIGATE) if payload.lot_id else None
        witnesses = [
            actions.WitnessSignature(email, password)
            for email, password in (
                (payload.witness_email, payload.witness_password),
                (payload.second_witness_email, payload.second_witness_password),
            )
            if email or password
        ]
        discovered = payload.discovered_at
        if timezone.is_naive(discovered):  # a time without offset is the clinic's local time
            discovered = timezone.make_aware(discovered, actor.clinic.zone)
        case = open_loss_case(
            actor,
            location,
            kind=payload.kind,
            discovered_at=discovered,
            description=payload.description,
            lot=lot,
            quantity_units=payload.quantity_units,
            quantity_ml=payload.quantity_ml,
            witnesses=witnesses,
        )
        body = _case(_cases(actor).get(pk=case.pk), actions.clinic_today(actor))
        return 201, LossCaseOut.model_validate(body).model_dump(mode="json")

    return _post(actor, "loss-cases", idempotency_key, payload.dict(), effect)


@count_router.post(
    "/loss-cases/{case_id}/filings",
    response={201: LossCaseOut, 200: LossCaseOut},
    summary="Record a filing (DEA notice or Form 106); it closes that deadline",
)
def create_filing(
    request: HttpRequest, case_id: int, payload: FilingIn, idempotency_key: str | None = IdempotencyKey
) -> tuple[int, Any]:
    actor = actor_of(request)

    def effect() -> tuple[int, Any]:
        case = _cases(actor).filter(pk=case_id).first()
        if case is None:
            raise Http404("No such case.")
        record_filing(
            actor,
            case,
            kind=payload.kind,
            filed_on=payload.filed_on,
            method=payload.method,
            reference=payload.reference,
        )
        body = _case(_cases(actor).get(pk=case.pk), actions.clinic_today(actor))
        return 201, LossCaseOut.model_validate(body).model_dump(mode="json")

    return _post(actor, f"loss-cases.{case_id}.filings", idempotency_key, payload.dict(), effect)
