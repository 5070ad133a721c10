"""The Schedule III record of a registrant location for a period, and the history of one lot
(issue #6; clinical.md section 5: receipt, administration and disposal records, "readily
retrievable" Schedule III records kept per registered location).

    schedule_report(location, date_from, date_to) -> ScheduleReport
    report_csv(report) -> str            report_pdf(report) -> bytes       report_html(report) -> str
    lot_history(lot) -> LotHistory
    lot_history_csv(history) -> str      lot_history_pdf(history) -> bytes lot_history_html(history) -> str
    period_bounds(zone, date_from, date_to) -> (start, end)   last_month(today) -> (first, last)
    check_period(date_from, date_to, today)   (ValidationError naming date_from or date_to)

Quantities on hand are in mL (sealed containers x their volume plus what is left in opened vials)
and mg (mL x concentration); a nasal device is 0.2 mL holding 28 mg, and the sealed-unit column
counts devices. Every entry changes what a lot holds by `sealed_delta x volume + ml_delta`, so:

    opening + receipts + transfers in + adjustments - administered - wasted - disposed - transfers out
    = closing

per lot and in total, corrections netting out inside their kind (their quantities are negative).
The closing balance is the lot's running balance (`Lot.sealed_units` and its vials'
`remaining_ml`, which `balances.verify_balances` proves equal to a replay of the ledger) less
whatever was recorded from the end of the period on; the opening is the closing less the period's
own entries. Only the period and the entries after it are read, so a one-month report costs the
same after five years of history (bench/ledger.py times it).

The signed counts of the period (`StockCount`: shift, daily, initial, biennial or annual) join the
record in `ScheduleReport.counts`, each line with the ledger's balance beside the count, the
variance and its discrepancy's state.

The CSV guards every cell against spreadsheet formula injection as the audit export does; the PDF
is made by WeasyPrint (loaded only when a PDF is made) from `inventory/reports/*.html`, with no base
URL and a fetcher that refuses everything, so nothing outside the template reaches the file.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import F, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone

from ketacare.accounts.models import User
from ketacare.clinics.models import Location
from ketacare.inventory.models import (
    Container,
    CountLine,
    DisposalMethod,
    EntryKind,
    LedgerEntry,
    Lot,
    Product,
    StockCount,
)
from ketacare.inventory.reconciliation import counts_in_period
from ketacare.patients.models import Patient

CENT = Decimal("0.01")
ZERO = Decimal("0")

# Kinds that bring stock in (+) and take it out (-); an adjustment carries its own sign.
INCOMING = (EntryKind.RECEIPT, EntryKind.TRANSFER_IN)
OUTGOING = (EntryKind.ADMINISTRATION, EntryKind.WASTE, EntryKind.DISPOSAL, EntryKind.TRANSFER_OUT)
KIND_ORDER = [
    EntryKind.RECEIPT,
    EntryKind.TRANSFER_IN,
    EntryKind.ADMINISTRATION,
    EntryKind.WASTE,
    EntryKind.DISPOSAL,
    EntryKind.TRANSFER_OUT,
    EntryKind.ADJUSTMENT,
]
KIND_SIGN: dict[str, int] = {
    **{str(k): 1 for k in INCOMING},
    **{str(k): -1 for k in OUTGOING},
    str(EntryKind.ADJUSTMENT): 1,
}


def kind_sign(kind: str) -> int:
    """+1 for a kind that adds to stock (an adjustment: its quantity is signed), -1 for one that removes."""
    return KIND_SIGN[kind]


# --- periods ------------------------------------------------------------------------------------


def period_bounds(
    zone: ZoneInfo, date_from: datetime.date, date_to: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """[start, end): midnight starting `date_from` to midnight after `date_to`, in the clinic's zone."""
    start = datetime.datetime.combine(date_from, datetime.time.min, zone)
    end = datetime.datetime.combine(date_to + datetime.timedelta(days=1), datetime.time.min, zone)
    return start, end


def last_month(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The calendar month before `today`'s: (first day, last day)."""
    last = today.replace(day=1) - datetime.timedelta(days=1)
    return last.replace(day=1), last


MAX_PERIOD_DAYS = 731  # two years: the federal retention period (clinical.md section 5)


def check_period(date_from: datetime.date, date_to: datetime.date, today: datetime.date) -> None:
    """Refuse a period that ends before it starts, ends after today or spans more than two years."""
    if date_to < date_from:
        raise ValidationError({"date_to": "The period must end on or after its first day."})
    if date_to > today:
        raise ValidationError({"date_to": f"The period cannot end after today ({today:%Y-%m-%d})."})
    if (date_to - date_from).days >= MAX_PERIOD_DAYS:
        raise ValidationError({"date_from": "Choose a period of at most two years."})


# --- the period record --------------------------------------------------------------------------


@dataclass
class Quantity:
    """An amount of one product: sealed containers, mL and mg (mg derived from mL)."""

    units: int = 0
    ml: Decimal = ZERO
    mg: Decimal = ZERO

    def add(self, units: int, ml: Decimal, mg: Decimal) -> None:
        self.units += units
        self.ml += ml
        self.mg += mg

    def plus(self, other: Quantity, sign: int = 1) -> Quantity:
        return Quantity(self.units + sign * other.units, self.ml + sign * other.ml, self.mg + sign * other.mg)


@dataclass
class LotLine:
    """One lot in the period: opening, totals by kind (signed as recorded), closing."""

    lot: Lot
    opening: Quantity
    closing: Quantity
    by_kind: dict[str, Quantity] = field(default_factory=dict)
    entries: int = 0

    @property
    def product(self) -> Product:
        return self.lot.product

    def kind(self, kind: str) -> Quantity:
        return self.by_kind.get(kind, Quantity())

    @property
    def received(self) -> Quantity:
        return self.kind(EntryKind.RECEIPT).plus(self.kind(EntryKind.TRANSFER_IN))

    @property
    def removed(self) -> Quantity:
        total = Quantity()
        for kind in OUTGOING:
            total = total.plus(self.kind(kind))
        return total

    @property
    def adjusted(self) -> Quantity:
        return self.kind(EntryKind.ADJUSTMENT)

    @property
    def expected_closing_ml(self) -> Decimal:
        """opening + in - out, in mL (equals `closing.ml` when the record reconciles)."""
        return self.opening.ml + self.received.ml + self.adjusted.ml - self.removed.ml

    @property
    def reconciles(self) -> bool:
        return self.expected_closing_ml == self.closing.ml

    @property
    def totals(self) -> dict[str, Quantity]:
        """Every kind's total (zero when none), by kind value: for templates."""
        return {kind.value: self.kind(kind) for kind in KIND_ORDER}


@dataclass
class KindTotal:
    kind: str
    label: str
    entries: int
    units: int
    ml: Decimal
    mg: Decimal

    @property
    def sign(self) -> int:
        return kind_sign(self.kind)


@dataclass
class ScheduleReport:
    location: Location
    date_from: datetime.date
    date_to: datetime.date
    start: datetime.datetime
    end: datetime.datetime
    lines: list[LotLine]
    entries: list[LedgerEntry]
    totals: list[KindTotal]
    generated_at: datetime.datetime
    counts: list[StockCount] = field(default_factory=list)  # see `_counts`

    @property
    def zone(self) -> ZoneInfo:
        return self.location.clinic.zone

    @property
    def opening_mg(self) -> Decimal:
        return sum((line.opening.mg for line in self.lines), ZERO)

    @property
    def closing_mg(self) -> Decimal:
        return sum((line.closing.mg for line in self.lines), ZERO)

    @property
    def in_mg(self) -> Decimal:
        return sum((t.mg for t in self.totals if t.kind in INCOMING), ZERO)

    @property
    def out_mg(self) -> Decimal:
        return sum((t.mg for t in self.totals if t.kind in OUTGOING), ZERO)

    @property
    def adjusted_mg(self) -> Decimal:
        return sum((t.mg for t in self.totals if t.kind == EntryKind.ADJUSTMENT), ZERO)

    @property
    def reconciles(self) -> bool:
        return all(line.reconciles for line in self.lines)

    def sections(self) -> list[tuple[str, str, list[LedgerEntry]]]:
        """(kind, heading, entries) in the order of the record, for the PDF."""
        grouped: dict[str, list[LedgerEntry]] = defaultdict(list)
        for entry in self.entries:
            key = "transfer" if entry.kind in (EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT) else entry.kind
            grouped[key].append(entry)
        headings = [
            (EntryKind.RECEIPT.value, "Receipts"),
            (EntryKind.ADMINISTRATION.value, "Administrations"),
            (EntryKind.WASTE.value, "Waste of dose remainders (witnessed)"),
            (EntryKind.DISPOSAL.value, "Disposals"),
            ("transfer", "Transfers between registered locations"),
            (EntryKind.ADJUSTMENT.value, "Adjustments"),
        ]
        return [(key, heading, grouped.get(key, [])) for key, heading in headings]

    @property
    def corrections(self) -> list[LedgerEntry]:
        return [e for e in self.entries if e.corrects_id is not None]

    def as_dict(self) -> dict[str, Any]:
        """Totals for the API (JSON): location, period, per-kind totals, per-lot balances."""
        loc = self.location
        return {
            "location": {
                "id": loc.pk,
                "name": loc.name,
                "address": location_address(loc),
                "dea_registration": loc.dea_registration,
            },
            "date_from": self.date_from,
            "date_to": self.date_to,
            "entries": len(self.entries),
            "reconciles": self.reconciles,
            "opening_mg": self.opening_mg,
            "in_mg": self.in_mg,
            "out_mg": self.out_mg,
            "adjusted_mg": self.adjusted_mg,
            "closing_mg": self.closing_mg,
            "totals": [
                {"kind": t.kind, "entries": t.entries, "units": t.units, "ml": t.ml, "mg": t.mg} for t in self.totals
            ],
            "counts": [
                {
                    "id": count.pk,
                    "kind": count.kind,
                    "counted_at": count.counted_at,
                    "counted_by": count.counted_by_label,
                    "witness": count.witness_label,
                    "lines": len(count.lines.all()),
                    "variances": sum(1 for line in count.lines.all() if line.is_variance),
                    "open_discrepancies": sum(
                        1 for line in count.lines.all() if discrepancy_status(line) == "Discrepancy open"
                    ),
                }
                for count in self.counts
            ],
            "lots": [
                {
                    "lot_id": line.lot.pk,
                    "lot_number": line.lot.lot_number,
                    "expiry_date": line.lot.expiry_date,
                    "product_id": line.product.pk,
                    "product": str(line.product),
                    "ndc": line.product.ndc,
                    "opening": _q(line.opening),
                    "closing": _q(line.closing),
                    "by_kind": {kind: _q(q) for kind, q in line.by_kind.items()},
                }
                for line in self.lines
            ],
        }


def _q(q: Quantity) -> dict[str, Any]:
    return {"units": q.units, "ml": q.ml, "mg": q.mg}


def location_address(location: Location) -> str:
    parts = [location.address_line1, location.address_line2, location.city]
    tail = " ".join(p for p in (location.state, location.postal_code) if p)
    return ", ".join(p for p in [*parts, tail] if p)


def _on_hand(product: Product, sealed: int, ml: Decimal) -> Quantity:
    """sealed containers and total mL on hand -> Quantity (mg from the concentration)."""
    return Quantity(sealed, ml, (ml * product.concentration_mg_per_ml).quantize(CENT))


def _ml(value: Any) -> Decimal:
    # Quantized: SQLite sums decimals as floats (PostgreSQL sums them exactly).
    return Decimal(str(value or 0)).quantize(CENT)


def _attach_related(entries: list[LedgerEntry], lots: dict[int, Lot]) -> None:
    """Give each entry its lot, patient, witnesses and other location from one query per model.

    A month holds thousands of entries but few lots, patients and people: matching them in Python
    is several times faster than `prefetch_related` (bench/ledger.py). Vial numbers come with the
    entries (`vial_number`, a join)."""
    patient_ids = {e.patient_id for e in entries if e.patient_id is not None}
    people_ids = {i for e in entries for i in (e.witness_id, e.second_witness_id) if i is not None}
    peer_ids = {e.peer_location_id for e in entries if e.peer_location_id is not None}
    patients = Patient.objects.in_bulk(patient_ids) if patient_ids else {}
    people = User.objects.in_bulk(people_ids) if people_ids else {}
    peers = Location.objects.in_bulk(peer_ids) if peer_ids else {}
    lot_field = LedgerEntry._meta.get_field("lot")
    related = (
        (LedgerEntry._meta.get_field("patient"), "patient_id", patients),
        (LedgerEntry._meta.get_field("witness"), "witness_id", people),
        (LedgerEntry._meta.get_field("second_witness"), "second_witness_id", people),
        (LedgerEntry._meta.get_field("peer_location"), "peer_location_id", peers),
    )
    for entry in entries:
        lot_field.set_cached_value(entry, lots[entry.lot_id])  # type: ignore[union-attr]
        for relation, attname, rows in related:
            key = getattr(entry, attname)
            relation.set_cached_value(entry, rows[key] if key is not None else None)  # type: ignore[union-attr]


def vial_number(entry: LedgerEntry) -> Any:
    """The opened vial's number within its lot, or "" (from the `vial_number` annotation when there)."""
    if entry.container_id is None:
        return ""
    number = getattr(entry, "vial_number", None)
    return number if number is not None else entry.container.number  # type: ignore[union-attr]


def schedule_report(location: Location, date_from: datetime.date, date_to: datetime.date) -> ScheduleReport:
    """The Schedule III record of `location` from `date_from` to `date_to` (inclusive, clinic dates)."""
    zone = location.clinic.zone
    start, end = period_bounds(zone, date_from, date_to)
    entries_here = LedgerEntry.objects.filter(location=location)
    # Running balances now, per lot: sealed containers and mL left in opened vials.
    lots_now = dict(Lot.objects.filter(location=location).exclude(sealed_units=0).values_list("pk", "sealed_units"))
    open_now = {
        r["lot_id"]: _ml(r["ml"])
        for r in Container.objects.filter(lot__location=location, remaining_ml__gt=0)
        .values("lot_id")
        .annotate(ml=Sum("remaining_ml"))
    }
    # What was recorded from the start of the period on: in the period, and after it.
    moved = (
        entries_here.filter(occurred_at__gte=start)
        .values("lot_id")
        .annotate(
            sealed=Sum("sealed_delta", filter=Q(occurred_at__lt=end)),
            ml=Sum("ml_delta", filter=Q(occurred_at__lt=end)),
            sealed_after=Sum("sealed_delta", filter=Q(occurred_at__gte=end)),
            ml_after=Sum("ml_delta", filter=Q(occurred_at__gte=end)),
        )
    )
    during: dict[int, tuple[int, Decimal]] = {}
    after: dict[int, tuple[int, Decimal]] = {}
    for row in moved:
        during[row["lot_id"]] = (int(row["sealed"] or 0), _ml(row["ml"]))
        after[row["lot_id"]] = (int(row["sealed_after"] or 0), _ml(row["ml_after"]))
    summary = (
        entries_here.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values("lot_id", "kind")
        .annotate(units=Sum("quantity_units"), ml=Sum("quantity_ml"), mg=Sum("quantity_mg"))
    )
    by_lot_kind: dict[int, dict[str, Quantity]] = defaultdict(dict)
    counts_by_lot: dict[int, int] = defaultdict(int)
    for row in summary:
        by_lot_kind[row["lot_id"]][row["kind"]] = Quantity(int(row["units"] or 0), _ml(row["ml"]), _ml(row["mg"]))
    # Related rows by prefetch, not join: a month has thousands of entries but few lots, patients and
    # people, so each is built once and shared (the actor is read from `actor_label`).
    entries = list(
        entries_here.filter(occurred_at__gte=start, occurred_at__lt=end)
        .annotate(vial_number=F("container__number"))
        .order_by("occurred_at", "id")
    )
    for entry in entries:
        counts_by_lot[entry.lot_id] += 1
    lot_ids = set(lots_now) | set(open_now) | set(during) | set(after)
    lots = {lot.pk: lot for lot in Lot.objects.filter(pk__in=lot_ids).select_related("product")}
    _attach_related(entries, lots)
    lines: list[LotLine] = []
    for lot_id, lot in lots.items():
        product = lot.product
        volume = Decimal(product.container_volume_ml)
        sealed_now, ml_open_now = lots_now.get(lot_id, 0), open_now.get(lot_id, ZERO)
        sealed_after, ml_after = after.get(lot_id, (0, ZERO))
        sealed_during, ml_during = during.get(lot_id, (0, ZERO))
        # Total mL on hand = sealed x volume + mL in opened vials.
        closing_sealed = sealed_now - sealed_after
        closing_ml = Decimal(sealed_now) * volume + ml_open_now - (Decimal(sealed_after) * volume + ml_after)
        opening_sealed = closing_sealed - sealed_during
        opening_ml = closing_ml - (Decimal(sealed_during) * volume + ml_during)
        opening, closing = _on_hand(product, opening_sealed, opening_ml), _on_hand(product, closing_sealed, closing_ml)
        if not (opening.ml or closing.ml or counts_by_lot.get(lot_id)):
            continue
        lines.append(LotLine(lot, opening, closing, by_lot_kind.get(lot_id, {}), counts_by_lot.get(lot_id, 0)))
    lines.sort(key=lambda line: (line.product.substance, line.product.name, line.product.ndc, line.lot.lot_number))
    totals = []
    for kind in KIND_ORDER:
        quantities = [line.by_kind[kind] for line in lines if kind in line.by_kind]
        entries_of_kind = sum(1 for e in entries if e.kind == kind)
        if not entries_of_kind:
            continue
        totals.append(
            KindTotal(
                kind.value,
                kind.label,
                entries_of_kind,
                sum(q.units for q in quantities),
                sum((q.ml for q in quantities), ZERO),
                sum((q.mg for q in quantities), ZERO),
            )
        )
    return ScheduleReport(
        location=location,
        date_from=date_from,
        date_to=date_to,
        start=start,
        end=end,
        lines=lines,
        entries=entries,
        totals=totals,
        generated_at=timezone.now(),
        counts=_counts(location, start, end),
    )


def _counts(location: Location, start: datetime.datetime, end: datetime.datetime) -> list[StockCount]:
    """The signed counts of the period (shift, daily, initial and biennial or annual inventories),
    each with its lines (ledger balance beside the count) and any discrepancy a variance opened."""
    return counts_in_period(location, start, end)


def count_line_label(line: CountLine) -> str:
    """What the line counted: a lot's sealed containers or one opened vial."""
    if line.container_id is None:
        return f"Lot {line.lot.lot_number}: sealed {line.lot.product.unit_label}s"
    return f"Lot {line.lot.lot_number}: vial {line.container.number} (mL)"  # type: ignore[union-attr]


def count_line_values(line: CountLine) -> tuple[Any, Any, Any]:
    """(ledger, counted, variance) as numbers: sealed containers, or mL for an opened vial."""
    if line.container_id is None:
        return line.expected_units, line.counted_units, line.variance_units
    return Decimal(line.expected_ml), Decimal(line.counted_ml), line.variance_ml


def discrepancy_status(line: CountLine) -> str:
    discrepancy = getattr(line, "discrepancy", None) if line.is_variance else None
    if discrepancy is None:
        return ""
    if discrepancy.is_open:
        return "Discrepancy open"
    return f"Discrepancy closed: {discrepancy.get_root_cause_display()}: {discrepancy.finding}"


# --- CSV ----------------------------------------------------------------------------------------

# Spreadsheet formula injection (OWASP "CSV Injection"): a cell starting with one of these is read as
# a formula. Every text cell is guarded (names, addresses, reasons and lot numbers are typed by
# someone); numbers are written by us and may be negative (corrections), so they stay numbers.
_FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})


def csv_safe(value: Any) -> Any:
    """Text that a spreadsheet would read as a formula gets a leading apostrophe; numbers stay numbers."""
    if value.__class__ is str:
        return "'" + value if value and value[0] in _FORMULA_STARTS else value
    if value is None:
        return ""
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return value
    return csv_safe(str(value))


def _local(value: datetime.datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def patient_address(entry: LedgerEntry) -> str:
    patient = entry.patient
    if patient is None:
        return ""
    tail = " ".join(p for p in (patient.state, patient.postal_code) if p)
    return ", ".join(p for p in (patient.address_line1, patient.address_line2, patient.city, tail) if p)


def _person(user: Any) -> str:
    return user.display_name if user is not None else ""


def counterparty(entry: LedgerEntry) -> str:
    """Supplier (receipt), reverse distributor (disposal) or the other location (transfer)."""
    if entry.peer_location is not None:
        direction = "to" if entry.kind == EntryKind.TRANSFER_OUT else "from"
        return f"{direction} {entry.peer_location.name} (DEA {entry.peer_location.dea_registration})"
    return entry.counterparty_name


ENTRY_COLUMNS = [
    "entry_id",
    "date_time",
    "kind",
    "correction_of",
    "product",
    "ndc",
    "lot",
    "expiry",
    "vial",
    "containers",
    "ml",
    "mg",
    "patient",
    "patient_address",
    "counterparty",
    "counterparty_address",
    "counterparty_dea",
    "document",
    "received_on",
    "disposal_method",
    "recorded_by",
    "witness",
    "second_witness",
    "reason",
]


_KIND_LABELS = dict(EntryKind.choices)
_METHOD_LABELS = dict(DisposalMethod.choices)


def _entry_row(entry: LedgerEntry, zone: ZoneInfo, names: dict[int, str]) -> list[Any]:
    """One entry as a CSV row; `names` caches each product's label (thousands of rows, few products)."""
    product = entry.lot.product
    if product.pk not in names:
        names[product.pk] = str(product)
    return [
        entry.pk,
        _local(entry.occurred_at, zone),
        _KIND_LABELS.get(entry.kind, entry.kind),
        entry.corrects_id or "",
        names[product.pk],
        product.ndc,
        entry.lot.lot_number,
        entry.lot.expiry_date.isoformat(),
        vial_number(entry),
        entry.quantity_units,
        entry.quantity_ml,
        entry.quantity_mg,
        entry.patient.legal_name if entry.patient is not None else "",
        patient_address(entry),
        counterparty(entry),
        entry.counterparty_address,
        entry.counterparty_dea,
        entry.document_number,
        entry.received_on.isoformat() if entry.received_on else "",
        _METHOD_LABELS.get(entry.disposal_method, entry.disposal_method),
        entry.actor_label,
        _person(entry.witness),
        _person(entry.second_witness),
        entry.reason,
    ]


def _write(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([csv_safe(cell) for cell in row])
    return buffer.getvalue()


def _header(report_title: str, location: Location, period: str, generated: datetime.datetime) -> list[list[Any]]:
    clinic = location.clinic
    return [
        [report_title],
        ["Registrant", clinic.name],
        ["Location", location.name],
        ["Address", location_address(location)],
        ["DEA registration", location.dea_registration],
        ["Period", period],
        ["Generated", _local(generated, clinic.zone) + f" {clinic.time_zone}"],
        [],
    ]


BALANCE_COLUMNS = [
    "product",
    "ndc",
    "lot",
    "expiry",
    "opening_containers",
    "opening_ml",
    "opening_mg",
    *[f"{kind.value}_mg" for kind in KIND_ORDER],
    "closing_containers",
    "closing_ml",
    "closing_mg",
]


COUNT_COLUMNS = [
    "count_id",
    "counted_at",
    "count_kind",
    "counted_by",
    "witness",
    "line",
    "method",
    "ledger",
    "counted",
    "variance",
    "discrepancy",
]


def report_rows(report: ScheduleReport) -> list[list[Any]]:
    """The CSV as rows (before guarding): header block, every entry, per-lot balances, totals by kind."""
    zone = report.zone
    period = f"{report.date_from.isoformat()} to {report.date_to.isoformat()}"
    rows = _header("Schedule III controlled-substance record", report.location, period, report.generated_at)
    rows.append(["Entries"])
    rows.append(ENTRY_COLUMNS)
    names: dict[int, str] = {}
    rows.extend(_entry_row(entry, zone, names) for entry in report.entries)
    rows.append([])
    rows.append(["Balances by lot (opening + in - out = closing)"])
    rows.append(BALANCE_COLUMNS)
    for line in report.lines:
        rows.append(
            [
                str(line.product),
                line.product.ndc,
                line.lot.lot_number,
                line.lot.expiry_date.isoformat(),
                line.opening.units,
                line.opening.ml,
                line.opening.mg,
                *[line.kind(kind).mg for kind in KIND_ORDER],
                line.closing.units,
                line.closing.ml,
                line.closing.mg,
            ]
        )
    rows.append([])
    rows.append(["Totals by kind"])
    rows.append(["kind", "entries", "containers", "ml", "mg"])
    rows.extend([t.label, t.entries, t.units, t.ml, t.mg] for t in report.totals)
    rows.append(["Opening (mg)", report.opening_mg])
    rows.append(["In (mg)", report.in_mg])
    rows.append(["Out (mg)", report.out_mg])
    rows.append(["Adjusted (mg)", report.adjusted_mg])
    rows.append(["Closing (mg)", report.closing_mg])
    rows.append([])
    rows.append(["Counts"])
    rows.append(COUNT_COLUMNS)
    for count in report.counts:
        for line in count.lines.all():
            ledger, counted, variance = count_line_values(line)
            rows.append(
                [
                    count.pk,
                    _local(count.counted_at, zone),
                    count.get_kind_display(),
                    count.counted_by_label,
                    count.witness_label,
                    count_line_label(line),
                    "estimated" if line.estimated else "exact",
                    ledger,
                    counted,
                    variance if line.is_variance else "",
                    discrepancy_status(line),
                ]
            )
    return rows


def report_csv(report: ScheduleReport) -> str:
    return _write(report_rows(report))


# --- per-lot history ----------------------------------------------------------------------------


@dataclass
class HistoryLine:
    entry: LedgerEntry
    sealed: int
    ml: Decimal
    mg: Decimal


@dataclass
class LotHistory:
    lot: Lot
    lines: list[HistoryLine]
    generated_at: datetime.datetime

    @property
    def location(self) -> Location:
        return self.lot.location

    @property
    def product(self) -> Product:
        return self.lot.product


def lot_history(lot: Lot) -> LotHistory:
    """Every entry of the lot, oldest first, with the running balance after it."""
    product = lot.product
    volume = Decimal(product.container_volume_ml)
    entries = (
        LedgerEntry.objects.filter(lot=lot)
        .select_related("patient", "actor", "witness", "second_witness", "peer_location", "lot")
        .annotate(vial_number=F("container__number"))
        .order_by("occurred_at", "id")
    )
    lines, sealed, ml = [], 0, ZERO
    for entry in entries:
        entry.lot = lot  # the lot (with its product and location) the caller loaded
        sealed += entry.sealed_delta
        ml += Decimal(entry.sealed_delta) * volume + entry.ml_delta
        lines.append(HistoryLine(entry, sealed, ml, (ml * product.concentration_mg_per_ml).quantize(CENT)))
    return LotHistory(lot, lines, timezone.now())


HISTORY_COLUMNS = [*ENTRY_COLUMNS, "balance_containers", "balance_ml", "balance_mg"]


def lot_history_rows(history: LotHistory) -> list[list[Any]]:
    lot, zone = history.lot, history.location.clinic.zone
    rows = _header(
        f"Lot history: {lot.product} lot {lot.lot_number} (NDC {lot.product.ndc}, expires {lot.expiry_date})",
        history.location,
        "all entries",
        history.generated_at,
    )
    rows.append(HISTORY_COLUMNS)
    names: dict[int, str] = {}
    for line in history.lines:
        rows.append([*_entry_row(line.entry, zone, names), line.sealed, line.ml, line.mg])
    return rows


def lot_history_csv(history: LotHistory) -> str:
    return _write(lot_history_rows(history))


# --- PDF ----------------------------------------------------------------------------------------


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ValueError(f"The inventory report loads nothing from outside ({url}).")


def _pdf(html: str) -> bytes:
    # Imported here: WeasyPrint (Pango, fonts) takes seconds to load, and only a download needs it.
    from weasyprint import HTML  # type: ignore[import-untyped]

    data: bytes = HTML(string=html, base_url=None, url_fetcher=_no_fetch).write_pdf()
    return data


def report_html(report: ScheduleReport) -> str:
    """The HTML the PDF is made from (tests read it; the PDF is made from exactly this)."""
    with timezone.override(report.zone):
        return render_to_string(
            "inventory/reports/schedule_pdf.html",
            {
                "report": report,
                "location": report.location,
                "clinic": report.location.clinic,
                "address": location_address(report.location),
                "kinds": EntryKind,
                "count_rows": _count_rows(report),
            },
        )


def _count_rows(report: ScheduleReport) -> list[dict[str, Any]]:
    rows = []
    for count in report.counts:
        for line in count.lines.all():
            ledger, counted, variance = count_line_values(line)
            rows.append(
                {
                    "count": count,
                    "line": line,
                    "label": count_line_label(line),
                    "ledger": ledger,
                    "counted": counted,
                    "variance": variance,
                    "status": discrepancy_status(line),
                }
            )
    return rows


def report_pdf(report: ScheduleReport) -> bytes:
    return _pdf(report_html(report))


def lot_history_html(history: LotHistory) -> str:
    with timezone.override(history.location.clinic.zone):
        return render_to_string(
            "inventory/reports/lot_pdf.html",
            {
                "history": history,
                "lot": history.lot,
                "product": history.product,
                "location": history.location,
                "clinic": history.location.clinic,
                "address": location_address(history.location),
                "kinds": EntryKind,
            },
        )


def lot_history_pdf(history: LotHistory) -> bytes:
    return _pdf(lot_history_html(history))
