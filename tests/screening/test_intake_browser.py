"""The intake in a real browser (Debian's Chromium): the patient fills the packet on a phone through
the link, staff see it at a tablet. Screenshots, axe and layout checks on each page
(tests/browser/checks.py); skipped like tests/browser when Chromium is missing.

Playwright runs in a thread of its own: other modules keep a session-wide sync Playwright open in
the main thread, and a second one there would refuse to start. Database checks stay in the test's
thread, after the browser is done.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable

import pytest
from django.utils import timezone

from ketacare.patients import links
from ketacare.screening.models import Intake, IntakeStatus
from tests.browser.checks import check_page
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, _new_context, browser_available, login
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="Chromium not found at /usr/bin/chromium"),
]


def in_own_thread(scenario: Callable[[], None]) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            scenario()
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the browser scenario did not finish"
    if failures:
        raise failures[0]


def test_patient_fills_the_packet_on_a_phone_and_staff_see_it(live_server, personas, sent, patient):
    intake, link = sent
    path = links.link_path(link)
    taken = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    ada = personas["ada"].email

    def scenario() -> None:
        from playwright.sync_api import expect, sync_playwright

        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            problems: list[str] = []
            try:
                page = _new_context(chromium, live_server.url).new_page()
                page.on("pageerror", lambda error: problems.append(str(error)))
                page.set_viewport_size(VIEWPORTS["phone"])
                page.goto(path)
                check_page(page, "intake-date-of-birth")
                page.get_by_label("Date of birth").fill("1985-04-12")
                page.get_by_role("button", name="Continue").click()
                expect(page.get_by_role("heading", name="Your intake form")).to_be_visible()
                page.get_by_label("What brings you to the clinic?").fill(
                    "Depression for years; two medicines did not help"
                )
                for group in page.locator("fieldset.kc-q-item").all():
                    group.get_by_label("No", exact=True).check()
                page.get_by_role("group", name="Have you ever been told you have an aneurysm").get_by_label(
                    "Yes"
                ).check()
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

                staff = _new_context(chromium, live_server.url).new_page()
                staff.on("pageerror", lambda error: problems.append(str(error)))
                login(staff, ada, PASSWORD)
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
            finally:
                chromium.close()
            assert not problems, problems

    in_own_thread(scenario)

    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SUBMITTED
    assert intake.facts["aneurysmal_vascular_disease"] is True
    assert "pregnant" not in intake.facts
    assert Intake.objects.get().prior_trials.get().drug == "Sertraline"
