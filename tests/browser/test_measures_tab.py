"""The measures tab as a clinician sees it: ~3 months of improving PHQ-9 scores, and staff entry."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ketacare.measures import actions
from tests.browser.checks import assert_accessible
from tests.browser.conftest import shoot

pytestmark = pytest.mark.browser

TOTALS = [21, 19, 17, 14, 12, 9, 7, 4]


def phq9(total: int) -> dict[str, int]:
    answers = {str(i): 0 for i in range(1, 10)}
    left = total
    for i in range(1, 9):
        answers[str(i)] = min(3, left)
        left -= answers[str(i)]
    return answers


def test_measures_tab_and_entry(page, login_as, actors, make_patient):
    patient = make_patient()
    start = timezone.now() - datetime.timedelta(days=90)
    for n, total in enumerate(TOTALS):
        actions.submit_response(
            actors["ben"], patient, "phq9", phq9(total), completed_at=start + datetime.timedelta(days=12 * n)
        )
    login_as(page, "ada")
    page.goto(f"/patients/{patient.pk}/?tab=measures")
    tab = page.get_by_test_id("measure-phq9")
    expect(tab).to_be_visible()
    expect(page.get_by_test_id("outcome-remission")).to_contain_text("Remission met")
    expect(page.locator("svg.kc-trend title")).to_have_text("PHQ-9 total over time")
    page.get_by_role("button", name="show answers").first.click()
    expect(page.get_by_text("Little interest or pleasure in doing things").first).to_be_visible()
    assert_accessible(page, "measures tab")
    shoot(page, "measures-tab", sizes=("landscape", "portrait"))

    page.get_by_test_id("record-menu").click()
    page.get_by_role("link", name="C-SSRS").click()
    expect(page.get_by_test_id("entry-form")).to_be_visible()
    expect(page.get_by_test_id("item-3")).to_have_count(0)
    page.get_by_test_id("item-2").get_by_label("Yes", exact=False).first.check()
    expect(page.get_by_test_id("item-3")).to_be_visible()  # asked once item 2 is yes (HTMX)
    assert_accessible(page, "C-SSRS entry")
    page.get_by_test_id("entry-submit").click()
    expect(page.get_by_test_id("entry-errors")).to_contain_text("Item 1")
    assert_accessible(page, "C-SSRS entry with errors")
    shoot(page, "measures-entry-errors", sizes=("landscape", "portrait"))
