"""In a real browser (Debian's Chromium): staff make a signing link, the patient signs the Spravato
REMS enrolment through it on a phone, a prescriber countersigns and downloads the PDF. Every page is
checked with axe and the layout checks at tablet and phone sizes (tests/browser/checks.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from ketacare.consents.models import Consent, ConsentStatus
from ketacare.patients.models import Patient
from tests.browser.checks import check_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_patient_signs_by_link_and_prescriber_countersigns(
    new_page: Callable[[], Any],
    login_as: Callable[[Any, str], None],
    patient: Patient,
) -> None:
    from playwright.sync_api import expect

    # the front desk makes a link for the REMS enrolment
    desk = new_page()
    login_as(desk, "cy")
    desk.goto(f"/consents/patients/{patient.pk}/")
    check_page(desk, "consents list")
    desk.get_by_label("Consent to ketamine-assisted treatment").uncheck()
    desk.get_by_label("Spravato REMS patient enrolment").check()
    desk.get_by_test_id("consent-make-link").click()
    # The link is absolute (KETACARE_BASE_URL); the live server is elsewhere, so keep its path.
    url = urlsplit(desk.get_by_test_id("consent-link-url").input_value()).path
    check_page(desk, "consents link made")

    # the patient opens it on a phone, passes the date-of-birth check and signs
    phone = new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(url)
    check_page(phone, "consent date of birth")
    phone.get_by_label("Date of birth").fill("1985-04-12")
    phone.get_by_role("button", name="Continue").click()
    expect(phone.get_by_test_id("consent-title")).to_have_text("Spravato REMS patient enrolment")
    check_page(phone, "consent sign")
    phone.get_by_label("Your full name").fill("Jordan Avery")
    phone.get_by_label("I have read this document and I agree to it").check()
    phone.get_by_test_id("consent-sign").click()
    expect(phone.get_by_test_id("consent-done")).to_be_visible()
    check_page(phone, "consent done")

    # a prescriber countersigns; the PDF is then there to download
    prescriber = new_page()
    login_as(prescriber, "ada")
    prescriber.goto(f"/consents/patients/{patient.pk}/")
    row = prescriber.get_by_test_id("consent-row-spravato_rems_enrolment")
    expect(row.get_by_test_id("consent-status")).to_have_text("⏳ Awaiting countersignature")
    row.get_by_test_id("consent-countersign").click()
    check_page(prescriber, "consent countersign")
    prescriber.get_by_label("I have reviewed this enrolment with the patient and countersign it").check()
    # Countersigning makes the PDF (WeasyPrint's first load takes seconds on a busy machine).
    with prescriber.expect_navigation(timeout=30_000):
        prescriber.get_by_test_id("countersign-submit").click(no_wait_after=True)
    row = prescriber.get_by_test_id("consent-row-spravato_rems_enrolment")
    expect(row.get_by_test_id("consent-status")).to_have_text("✔ In force")
    with prescriber.expect_download() as download:
        row.get_by_test_id("consent-pdf").click()
    assert download.value.suggested_filename.endswith(".pdf")
    consent = Consent.objects.get()
    assert consent.status == ConsentStatus.IN_FORCE
    assert consent.countersigned_role == "prescriber"
    prescriber.get_by_test_id("consent-row-spravato_rems_enrolment").get_by_test_id("consent-withdraw").click()
    check_page(prescriber, "consent withdraw")
