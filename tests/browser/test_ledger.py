"""In a real browser (Debian's Chromium): the controlled-substance ledger end to end (issue #6).

The inventory manager receives a lot; a nurse draws a dose for a patient and wastes the remainder
with a prescriber witnessing on the same tablet; the inventory manager counts one vial short with a
nurse witnessing, opens the discrepancy, closes it with a finding and an adjustment, and downloads
the Schedule III report, whose CSV totals must agree with what happened. A second test shows a
theft case's DEA deadlines on the dashboard until the filings are recorded. Our pages are checked
with axe and the layout checks at tablet and phone sizes (tests/browser/checks.py).
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from ketacare.clinics.models import Clinic, Location
from ketacare.inventory import actions
from ketacare.inventory.models import Discrepancy, DosageForm, EntryKind, LedgerEntry, Lot, Product, Substance
from ketacare.patients.models import Patient
from tests.browser.checks import check_page
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def registrant(clinic: Clinic) -> Location:
    """Main Street with its DEA registration, stocking ketamine 50 mg/mL in 10 mL vials (500 mg each)."""
    location = Location.objects.get(clinic=clinic, name="Main Street")
    location.dea_registration = "FH1234563"
    location.save(update_fields=["dea_registration"])
    product = Product.objects.create(
        clinic=clinic,
        name="Ketamine HCl injection",
        ndc="0409-2051-05",
        substance=Substance.KETAMINE,
        form=DosageForm.VIAL,
        strength_mg=Decimal("50"),
        container_volume_ml=Decimal("10"),
    )
    product.locations.add(location)
    return location


def csv_totals(path: Path) -> dict[str, str]:
    """The report's closing block: "Opening (mg)", "In (mg)", "Out (mg)", "Adjusted (mg)", "Closing (mg)"."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    return {row[0]: row[1] for row in rows if len(row) >= 2 and row[0].endswith("(mg)")}


def test_receive_draw_waste_count_investigate_and_report(
    new_page: Callable[[], Any],
    login_as: Callable[[Any, str], None],
    registrant: Location,
    patient: Patient,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    today = timezone.localdate(timezone=registrant.clinic.zone)

    # the inventory manager receives a lot of 3 vials
    manager = new_page()
    login_as(manager, "ivy")
    manager.goto("/inventory/receive/")
    manager.get_by_label("Product").select_option(
        label="Ketamine HCl injection, 50 mg/mL, 10 mL vial · NDC 0409-2051-05"
    )
    manager.get_by_label("Lot number").fill("BR-2001")
    manager.get_by_label("Expiry date").fill("2030-06-30")
    manager.get_by_label("Packages received").fill("3")
    manager.get_by_label("Supplier name").fill("Henry Schein Medical")
    manager.get_by_label("Supplier address").fill("135 Duryea Rd, Melville, NY 11747")
    manager.get_by_label("Supplier DEA number").fill("RC7654329")
    manager.get_by_label("Invoice number").fill("INV-77031")
    manager.get_by_test_id("submit").click()
    expect(manager.get_by_role("heading", level=1)).to_contain_text("Lot BR-2001")
    lot = Lot.objects.get(lot_number="BR-2001")
    assert lot.sealed_units == 3

    # a nurse draws 475 mg (9.5 mL) for the patient from a new vial, then wastes the 0.5 mL left
    nurse = new_page()
    login_as(nurse, "ben")
    nurse.goto("/inventory/administer/")
    nurse.get_by_label("Patient MRN").fill(patient.mrn)
    nurse.get_by_label("Draw from").select_option(value=f"lot:{lot.pk}")
    nurse.get_by_label("Dose (mg)").fill("475")
    nurse.get_by_label("Volume (mL)").fill("9.5")
    nurse.get_by_test_id("submit").click()
    expect(nurse.get_by_test_id("vial")).to_contain_text("0.50 mL")
    nurse.get_by_role("link", name="Waste remainder of vial 1").click()
    # the prescriber witnesses and signs with her own email and password on the nurse's tablet
    nurse.get_by_label("Witness's sign-in email").fill("ada@example.org")
    nurse.get_by_label("Witness's password").fill(PASSWORD)
    nurse.get_by_test_id("submit").click()
    expect(nurse.get_by_test_id("vial")).to_have_count(0)
    waste = LedgerEntry.objects.get(kind=EntryKind.WASTE)
    assert (waste.quantity_ml, waste.quantity_mg, waste.witness.email) == (
        Decimal("0.50"),
        Decimal("25.00"),
        "ada@example.org",
    )

    # the inventory manager counts: one sealed vial instead of the ledger's two; the nurse witnesses
    manager.goto("/inventory/counts/")
    check_page(manager, "counts before")
    manager.get_by_test_id("new-count").click()
    check_page(manager, "count form")
    manager.get_by_label("Lot BR-2001: sealed vials").fill("1")
    manager.get_by_label("Witness's email").fill("ben@example.org")
    manager.get_by_label("Witness's password").fill(PASSWORD)
    manager.get_by_test_id("submit").click()
    expect(manager.get_by_test_id("count-result")).to_contain_text("1 variance")
    expect(manager.get_by_test_id("variance").first).to_contain_text("-1 vial(s)")
    check_page(manager, "count signed with a variance")
    manager.get_by_role("link", name="All counts").click()
    expect(manager.get_by_test_id("open-discrepancy")).to_have_count(1)
    check_page(manager, "counts with an open discrepancy")
    manager.go_back()

    # ... opens the discrepancy and closes it with a finding and an adjustment
    manager.get_by_role("link", name=f"#{Discrepancy.objects.get().pk}").click()
    expect(manager.get_by_test_id("status")).to_have_text("Open")
    check_page(manager, "discrepancy open")
    manager.get_by_label("Finding").fill("Vial dropped and broken at 14:10; the spill was not recorded.")
    manager.get_by_label("Root cause").select_option(value="unrecorded_waste")
    manager.get_by_label("Record an adjustment of the variance").check()
    manager.get_by_test_id("submit").click()
    expect(manager.get_by_test_id("status")).to_have_text("Closed")
    expect(manager.get_by_test_id("finding")).to_contain_text("Vial dropped")
    check_page(manager, "discrepancy closed")
    lot.refresh_from_db()
    assert lot.sealed_units == 1
    assert LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT).discrepancy.closed_at is not None

    # ... and downloads the Schedule III report of today: its totals agree with all of the above
    manager.goto(f"/inventory/reports/?location={registrant.pk}&date_from={today}&date_to={today}")
    expect(manager.get_by_test_id("reconciles")).to_be_visible()
    with manager.expect_download() as download:
        manager.get_by_test_id("report-csv").click()
    path = tmp_path / "report.csv"
    download.value.save_as(path)
    totals = csv_totals(path)
    assert Decimal(totals["Opening (mg)"]) == 0
    assert Decimal(totals["In (mg)"]) == Decimal("1500")  # 3 vials x 500 mg
    assert Decimal(totals["Out (mg)"]) == Decimal("500")  # 475 mg given + 25 mg wasted
    assert Decimal(totals["Adjusted (mg)"]) == Decimal("-500")  # the broken vial
    assert Decimal(totals["Closing (mg)"]) == Decimal("500")  # one sealed vial left


def test_theft_deadlines_stay_on_the_dashboard_until_filed(
    new_page: Callable[[], Any],
    login_as: Callable[[Any, str], None],
    actors: dict[str, Any],
    registrant: Location,
) -> None:
    from playwright.sync_api import expect

    product = Product.objects.get(locations=registrant)
    actions.receive_stock(
        actors["ivy"],
        registrant,
        product,
        lot_number="TH-9",
        expiry_date=datetime.date(2030, 1, 31),
        packages=4,
        supplier_name="Henry Schein Medical",
        supplier_address="135 Duryea Rd, Melville, NY 11747",
        supplier_dea="RC7654329",
        invoice_number="INV-9",
        received_on=timezone.localdate(timezone=registrant.clinic.zone),
    )
    zone = registrant.clinic.zone
    now = timezone.localtime(timezone.now(), zone) - datetime.timedelta(minutes=5)
    manager = new_page()
    login_as(manager, "ivy")
    manager.goto("/inventory/losses/new/")
    check_page(manager, "loss case form")
    manager.get_by_label("Theft", exact=True).check()
    manager.get_by_label("Discovered at").fill(now.strftime("%Y-%m-%dT%H:%M"))
    manager.get_by_label("Description").fill("Lock of the CIII cabinet forced overnight; two vials missing.")
    manager.get_by_label("Lot").select_option(label="Lot TH-9: Ketamine HCl injection, 50 mg/mL, 10 mL vial")
    manager.get_by_label("Sealed containers").fill("2")
    manager.get_by_test_id("submit").click()
    expect(manager.get_by_test_id("deadline-row")).to_have_count(2)
    expect(manager.get_by_text("1000.00 mg in all")).to_be_visible()
    check_page(manager, "loss case deadlines")

    manager.goto("/inventory/losses/")
    expect(manager.get_by_test_id("deadline-row")).to_have_count(2)
    check_page(manager, "theft and loss dashboard")
    manager.get_by_role("link", name="Theft #").first.click()
    manager.get_by_label("What was filed").select_option(value="dea_notice")
    manager.get_by_label("How").select_option(value="email")
    manager.get_by_label("Confirmation or reference number").fill("DEA-CHI-0192")
    manager.get_by_test_id("submit").click()
    manager.get_by_label("How").select_option(value="dea_online")
    manager.get_by_label("Confirmation or reference number").fill("106-2026-55")
    manager.get_by_test_id("submit").click()
    expect(manager.get_by_test_id("deadline-status")).to_have_count(2)
    manager.goto("/inventory/losses/")
    expect(manager.get_by_test_id("no-deadlines")).to_be_visible()
    manager.goto(f"/inventory/policy/?location={registrant.pk}")
    check_page(manager, "inventory policy")
