"""Schedule III period record and lot history: content, reconciliation, CSV guard, PDF, access, audit."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from pypdf import PdfReader

from ketacare.inventory import actions, reconciliation, reports
from ketacare.inventory.balances import recompute_balances, verify_balances
from ketacare.inventory.models import CountKind, DisposalMethod, EntryKind, LedgerEntry, Lot
from ketacare.inventory.queries import period_summary
from ketacare.inventory.reconciliation import count_sheet
from tests.inventory.conftest import receive, witness

CHICAGO = datetime.timezone(datetime.timedelta(hours=-5))
OCT_FROM, OCT_TO = datetime.date(2026, 10, 1), datetime.date(2026, 10, 31)
FORMULA = '=HYPERLINK("http://evil.example","x")'


def at(day: datetime.date, hour: int = 12) -> Any:
    return time_machine.travel(datetime.datetime.combine(day, datetime.time(hour), CHICAGO), tick=False)


@pytest.fixture
def ledger(actors, location, second_location, ketamine_50, spravato, make_patient) -> dict[str, Any]:
    """September: 3 vials of KX1001 and a Spravato kit received. October (the period): a dose drawn
    and its remainder wasted, a second dose drawn and corrected, a vial disposed of through a reverse
    distributor, a vial transferred, one device given, a vial found (adjustment), a new receipt.
    November: one more dose."""
    ivy, ben, ada = actors["ivy"], actors["ben"], actors["ada"]
    patient = make_patient(
        legal_first_name="Robin", legal_last_name="Quill", address_line1="12 Elm St", city="Evanston", state="IL",
        postal_code="60201",
    )  # fmt: skip
    with at(datetime.date(2026, 9, 10)):
        lot = receive(ivy, location, ketamine_50, packages=3, received_on=datetime.date(2026, 9, 10)).lot
        kit = receive(ivy, location, spravato, lot_number="SP77", received_on=datetime.date(2026, 9, 10)).lot
    with at(datetime.date(2026, 10, 5), 9):
        dose = actions.administer(ben, lot, patient, quantity_mg=Decimal("35"), quantity_ml=Decimal("0.7"))
    with at(datetime.date(2026, 10, 5), 11):
        actions.waste(
            ben, dose.container, quantity_mg=Decimal("465"), quantity_ml=Decimal("9.3"), witness=witness("ada"),
            reason=FORMULA,
        )  # fmt: skip
    with at(datetime.date(2026, 10, 7)):
        wrong = actions.administer(ada, lot, patient, quantity_mg=Decimal("40"), quantity_ml=Decimal("0.8"))
        actions.correct(ada, wrong, reason="Recorded against the wrong lot")
    with at(datetime.date(2026, 10, 12)):
        actions.dispose(
            ivy, kit, method=DisposalMethod.REVERSE_DISTRIBUTOR, witnesses=[witness("ben")], units=1,
            counterparty_name="@Return Logistics", counterparty_address="9 Dock Rd, Joliet, IL 60431",
            counterparty_dea="RC7654329", document_number="RD-1",
        )  # fmt: skip
        actions.administer(ben, kit, patient, quantity_mg=Decimal("28"), quantity_ml=Decimal("0.2"))
    with at(datetime.date(2026, 10, 20)):
        actions.transfer(ivy, lot, second_location, units=1, reason="Oak shortage")
        actions.adjust(ivy, lot, reason="Vial found behind the safe at the count", units_delta=1)
        receive(ivy, location, ketamine_50, lot_number="KX2002", packages=2, received_on=datetime.date(2026, 10, 20))
    with at(datetime.date(2026, 10, 25), 18):
        sheet = {(line.lot.lot_number, line.container is not None): line for line in count_sheet(location)}
        vial = sheet[("KX1001", True)].container
        reconciliation.record_count(
            ivy, location, kind=CountKind.DAILY, witness=witness("ben"),
            sealed={sheet[("KX1001", False)].lot.pk: 1, sheet[("KX2002", False)].lot.pk: 1},
            vials={vial.pk: (Decimal("10.00"), False)},
        )  # fmt: skip
    with at(datetime.date(2026, 11, 3)):
        later = actions.administer(ben, lot, patient, quantity_mg=Decimal("30"), quantity_ml=Decimal("0.6"))
    return {"lot": lot, "kit": kit, "patient": patient, "later": later}


def _on_hand_ml(lot_id: int) -> Decimal:
    """mL a lot holds according to a replay of the whole ledger (balances.recompute_balances)."""
    lot = Lot.objects.select_related("product").get(pk=lot_id)
    replay = recompute_balances(lot.location)
    open_ml = sum((ml for pk, ml in replay.containers.items() if lot.containers.filter(pk=pk).exists()), Decimal(0))
    return Decimal(replay.lots.get(lot_id, 0)) * lot.product.container_volume_ml + open_ml


def test_period_record_reconciles_with_the_ledger(ledger, location):
    report = reports.schedule_report(location, OCT_FROM, OCT_TO)
    lines = {line.lot.lot_number: line for line in report.lines}
    kx = lines["KX1001"]
    # Opening: 3 sealed 10 mL vials at 50 mg/mL.
    assert (kx.opening.units, kx.opening.ml, kx.opening.mg) == (3, Decimal("30.00"), Decimal("1500.00"))
    # Out in October: 35 mg given, 465 mg wasted, the 40 mg dose netted by its correction, 1 vial moved.
    assert kx.totals["administration"].mg == Decimal("35.00")
    assert kx.totals["waste"].mg == Decimal("465.00")
    assert kx.totals["transfer_out"].mg == Decimal("500.00")
    assert kx.totals["adjustment"].mg == Decimal("500.00")
    # 1500 - 35 - 465 - 500 + 500 = 1000 (2 vials; the corrected draw left its opened vial full again: 10 mL).
    assert kx.closing.mg == Decimal("1000.00")
    assert kx.closing.units == 1
    assert kx.closing.ml == Decimal("20.00")
    assert all(line.reconciles for line in report.lines)
    assert report.reconciles
    assert report.opening_mg + report.in_mg - report.out_mg + report.adjusted_mg == report.closing_mg
    # Totals by kind are period_summary's, and the period's entries are exactly the ledger's.
    start, end = reports.period_bounds(location.clinic.zone, OCT_FROM, OCT_TO)
    summary: dict[str, Decimal] = {}
    for row in period_summary(location, start, end):
        summary[row["kind"]] = summary.get(row["kind"], Decimal(0)) + Decimal(str(row["mg"])).quantize(Decimal("0.01"))
    assert {t.kind: t.mg for t in report.totals} == summary
    assert len(report.entries) == LedgerEntry.objects.filter(location=location, occurred_at__range=(start, end)).count()
    # The closing of October is the opening of November, which closes on today's replayed balance.
    november = reports.schedule_report(location, datetime.date(2026, 11, 1), datetime.date(2026, 11, 24))
    # (the Spravato lot, used up in October, has nothing to carry into November)
    carried = {line.lot.pk: line.closing for line in report.lines if line.closing.ml}
    assert {n.lot.pk: n.opening for n in november.lines} == carried
    for line in november.lines:
        assert line.reconciles
        assert line.closing.ml == _on_hand_ml(line.lot.pk)
    assert verify_balances(location) == []
    # The October count is part of the record, with its open discrepancy.
    (count,) = report.as_dict()["counts"]
    assert (count["lines"], count["variances"], count["open_discrepancies"]) == (3, 1, 1)
    assert (count["counted_by"], count["witness"]) == ("Ivy Chen", "Ben Novak")


def test_report_before_any_stock_is_empty_and_reconciles(ledger, location):
    report = reports.schedule_report(location, datetime.date(2026, 1, 1), datetime.date(2026, 1, 31))
    assert report.lines == []
    assert report.entries == []
    assert report.totals == []
    assert report.reconciles
    assert report.closing_mg == 0


def test_transfer_in_appears_in_the_receiving_locations_record(ledger, second_location):
    report = reports.schedule_report(second_location, OCT_FROM, OCT_TO)
    (line,) = report.lines
    assert line.opening.mg == 0
    assert line.totals["transfer_in"].units == 1
    assert line.closing.mg == Decimal("500.00")
    assert line.reconciles


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_holds_the_record_and_guards_formulas(ledger, location):
    report = reports.schedule_report(location, OCT_FROM, OCT_TO)
    rows = _csv(reports.report_csv(report))
    assert rows[0] == ["Schedule III controlled-substance record"]
    assert ["DEA registration", "FH1234563"] in rows
    assert ["Period", "2026-10-01 to 2026-10-31"] in rows
    header = rows.index(reports.ENTRY_COLUMNS)
    entries = rows[header + 1 : header + 1 + len(report.entries)]
    col = {name: i for i, name in enumerate(reports.ENTRY_COLUMNS)}
    given = [r for r in entries if r[col["kind"]] == "Administration" and r[col["correction_of"]] == ""]
    assert given[0][col["patient"]] == "Robin Quill"
    assert given[0][col["patient_address"]] == "12 Elm St, Evanston, IL 60201"
    assert given[0][col["recorded_by"]] == "Ben Novak"
    wasted = next(r for r in entries if r[col["kind"]] == EntryKind.WASTE.label)
    assert wasted[col["witness"]] == "Ada Okafor"
    assert wasted[col["reason"]] == "'" + FORMULA  # formula injection guarded
    disposal = next(r for r in entries if r[col["kind"]] == "Disposal")
    assert disposal[col["counterparty"]] == "'@Return Logistics"
    assert disposal[col["counterparty_dea"]] == "RC7654329"
    assert disposal[col["disposal_method"]] == "Reverse distributor"
    correction = next(r for r in entries if r[col["correction_of"]])
    assert correction[col["mg"]] == "-40.00"  # numbers stay numbers, even negative
    assert ["Closing (mg)", str(report.closing_mg)] in rows
    assert ["Opening (mg)", str(report.opening_mg)] in rows
    counts = rows[rows.index(reports.COUNT_COLUMNS) + 1 :]
    ccol = {name: i for i, name in enumerate(reports.COUNT_COLUMNS)}
    assert len(counts) == 3  # two lots' sealed vials and one opened vial
    short = next(r for r in counts if r[ccol["variance"]])
    assert short[ccol["line"]] == "Lot KX2002: sealed vials"
    assert (short[ccol["ledger"]], short[ccol["counted"]], short[ccol["variance"]]) == ("2", "1", "-1")
    assert short[ccol["discrepancy"]] == "Discrepancy open"
    assert short[ccol["counted_by"]] == "Ivy Chen"
    assert short[ccol["witness"]] == "Ben Novak"
    # No cell anywhere starts a formula.
    assert not [c for r in rows for c in r if (c and c[0] in "=+@") or (c[:1] == "-" and not c[1:2].isdigit())]


def test_csv_safe_guards_text_not_numbers():
    assert reports.csv_safe("=1+1") == "'=1+1"
    assert reports.csv_safe("-2+3") == "'-2+3"
    assert reports.csv_safe("\tcmd") == "'\tcmd"
    assert reports.csv_safe(Decimal("-4.50")) == Decimal("-4.50")
    assert reports.csv_safe(None) == ""
    assert reports.csv_safe(datetime.date(2026, 1, 2)) == "2026-01-02"
    assert reports.csv_safe("Ketamine") == "Ketamine"


def _pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_pdf_names_the_registrant_the_period_the_totals_and_the_witnesses(ledger, location):
    location.address_line1 = "100 Main St"
    location.city = "Chicago"
    location.save()
    report = reports.schedule_report(location, OCT_FROM, OCT_TO)
    text = _pdf_text(reports.report_pdf(report))
    for expected in (
        "Schedule III controlled-substance record",
        "Main Street",
        "100 Main St",
        "FH1234563",
        "2026-10-01 to 2026-10-31",
        str(report.opening_mg),
        str(report.closing_mg),
        "Robin Quill",
        "12 Elm St",
        "Ada Okafor",  # the waste witness
        "Ben Novak",  # the disposal witness
        "@Return Logistics",
        "RC7654329",
        "Reverse distributor",
        "Correction of #",
        "Counts (signed by the counter and a witness)",
        "Lot KX2002: sealed vials",
        "Discrepancy open",
        "Reviewed by",
    ):
        assert expected in text, expected


def test_lot_history_runs_the_balance_and_exports(ledger):
    lot = Lot.objects.select_related("product", "location", "location__clinic").get(pk=ledger["lot"].pk)
    history = reports.lot_history(lot)
    assert next(line.entry.kind for line in history.lines) == EntryKind.RECEIPT
    assert history.lines[-1].ml == _on_hand_ml(lot.pk)
    rows = _csv(reports.lot_history_csv(history))
    header = rows.index(reports.HISTORY_COLUMNS)
    body = rows[header + 1 :]
    assert len(body) == len(history.lines)
    assert next(r[-3:] for r in body) == ["3", "30.00", "1500.00"]
    assert body[-1][-2] == str(history.lines[-1].ml)
    text = _pdf_text(reports.lot_history_pdf(history))
    assert "Lot history: KX1001" in text
    assert "FH1234563" in text
    assert "Robin Quill" in text


def test_period_checks():
    today = datetime.date(2026, 11, 24)
    reports.check_period(OCT_FROM, OCT_TO, today)
    with pytest.raises(Exception, match="end on or after"):
        reports.check_period(OCT_TO, OCT_FROM, today)
    with pytest.raises(Exception, match="after today"):
        reports.check_period(OCT_FROM, datetime.date(2026, 11, 25), today)
    with pytest.raises(Exception, match="two years"):
        reports.check_period(datetime.date(2024, 1, 1), OCT_TO, today)
    assert reports.last_month(datetime.date(2026, 1, 15)) == (datetime.date(2025, 12, 1), datetime.date(2025, 12, 31))
