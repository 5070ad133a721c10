"""The intake in a real browser (Debian's Chromium): the patient fills the packet on a phone through
the link, staff see it at a tablet. Screenshots, axe and layout checks on each page
(tests/browser/checks.py)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ketacare.patients import links
from ketacare.screening.models import Intake, IntakeStatus
from tests.browser.checks import check_page
from tests.browser.conftest import VIEWPORTS
from tests.screening.conftest import sent  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_patient_fills_the_packet_on_a_phone_and_staff_see_it(
    new_page: Callable[[], Any],
    login_as: Callable[[Any, str], None],
    sent: Any,  # noqa: F811
    patient: Any,
) -> None:
    intake, link = sent
    path = links.link_path(link)
    taken = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    page = new_page()
    page.set_viewport_size(VIEWPORTS["phone"])
    page.goto(path)
    check_page(page, "intake-date-of-birth")
    page.get_by_label("Date of birth").fill("1985-04-12")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Your intake form")).to_be_visible()
    page.get_by_label("What brings you to the clinic?").fill("Depression for years; two medicines did not help")
    for group in page.locator("fieldset.kc-q-item").all():
        group.get_by_label("No", exact=True).check()
    page.get_by_role("group", name="Have you ever been told you have an aneurysm").get_by_label("Yes").check()
    page.get_by_role("group", name="Are you pregnant?").get_by_label("Not sure").check()
    page.get_by_label("Weight (kg)").fill("82.4")
    page.get_by_label("Blood pressure, top number").fill("132")
    page.get_by_label("Blood pressure, bottom number").fill("85")
    page.get_by_label("Date these were measured").fill(taken)
    page.locator("#id_trials-0-drug").fill("Sertraline")
    page.locator("#id_trials-0-duration_weeks").fill("12")
    page.locator("#id_trials-0-response").select_option("none")
    page.get_by_role("button", name="Add another medicine").click()
    expect(page.locator("#id_trials-2-drug")).to_be_visible()
    check_page(page, "intake-packet")
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    check_page(page, "intake-thank-you")

    staff = new_page()
    login_as(staff, "ada")
    staff.goto(f"/screening/patients/{patient.pk}/")
    expect(staff.get_by_test_id("intake-status")).to_have_text("Submitted — awaiting review")
    expect(staff.get_by_test_id("trial-count")).to_contain_text("adequate failed trial")
    check_page(staff, "intake-staff")
    staff.get_by_text("Complete or correct the intake").click()
    staff.get_by_role("button", name="Save the intake").click()
    staff.get_by_role("button", name="Mark reviewed").click()
    expect(staff.get_by_test_id("review-errors")).to_be_visible()
    staff.goto("/screening/")
    check_page(staff, "intake-queue")

    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SUBMITTED
    assert intake.facts["aneurysmal_vascular_disease"] is True
    assert "pregnant" not in intake.facts
    assert Intake.objects.get().prior_trials.get().drug == "Sertraline"
