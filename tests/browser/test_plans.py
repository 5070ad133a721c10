"""In a real browser (Debian's Chromium): a prescriber copies the IV protocol, sets the clinic's values and
publishes it; a nurse records today's weight and drafts a plan; the prescriber signs it with their
password, and the signed plan offers no edit form, only "Revise". Every page passes axe and the layout
checks at tablet and phone sizes (tests/browser/checks.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.protocols.models import ClinicProtocolVersion, VersionStatus
from tests.browser.checks import check_page
from tests.conftest import PASSWORD
from tests.plans.conftest import gate  # noqa: F401 - fixture
from tests.protocols.clinic_values import IV_CLINIC_VALUES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_protocol_to_signed_plan(
    new_page: Callable[[], Any],
    login_as: Callable[[Any, str], None],
    patient: Any,
    gate: Any,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    # A prescriber copies the IV protocol from the library and sets the values the clinic must set.
    ada = new_page()
    login_as(ada, "ada")
    ada.goto("/protocols/")
    check_page(ada, "protocols list")
    ada.get_by_test_id("adopt-iv_racemic_ketamine").click()
    expect(ada.get_by_test_id("version-status")).to_have_text("Draft")
    expect(ada.get_by_test_id("missing-values")).to_be_visible()
    check_page(ada, "protocol version draft")
    ada.get_by_test_id("edit-protocol").click()
    check_page(ada, "protocol edit")
    labels = {
        "dose.rounding_step_mg": ("Rounding step (mg)", "5"),
        "dose.rounding_direction": ("Rounding direction", "down"),
        "dose.min_mg": ("Minimum dose (mg)", "10"),
        "dose.max_mg": ("Maximum dose (mg)", "60"),
        "dose.max_weight_age_days": ("Oldest weight allowed (days)", "30"),
        "series.min_interval_hours": ("Minimum interval between sessions (induction) (hours)", "48"),
        "observation.minimum_minutes": ("Minimum observation (minutes)", "30"),
        "fasting.no_food_minutes": ("No food before the session (minutes)", "360"),
        "fasting.no_liquids_minutes": ("No liquids before the session (minutes)", "120"),
        "maintenance[maintenance].interval_days_options": ("Intervals (maintenance) (days)", "14, 28"),
        "alert_thresholds[heart_rate_high].value": ("Alert when heart rate is above (bpm)", "120"),
        "alert_thresholds[spo2_low].value": ("Alert when SpO2 is below (%)", "92"),
    }
    assert set(labels) == set(IV_CLINIC_VALUES)
    for label, value in labels.values():
        field = ada.get_by_label(label, exact=True)
        if value == "down":
            field.select_option(value)
        else:
            field.fill(value)
    ada.get_by_label("What changed and why").fill("Medical director memo 12")
    ada.get_by_test_id("save-protocol").click()
    expect(ada.get_by_test_id("version-status")).to_have_text("Draft")
    ada.once("dialog", lambda dialog: dialog.accept())
    ada.get_by_test_id("publish").click()
    expect(ada.get_by_test_id("version-status")).to_have_text("Published")
    check_page(ada, "protocol version published")
    assert ClinicProtocolVersion.objects.get(status=VersionStatus.PUBLISHED).version == 2

    # A nurse opens the plans page: no weight yet, so she records today's, then drafts the plan.
    ben = new_page()
    login_as(ben, "ben")
    ben.goto(f"/plans/patients/{patient.pk}/")
    expect(ben.get_by_test_id("no-weight")).to_be_visible()
    check_page(ben, "plans list without weight")
    ben.get_by_label("Weight (kg)").fill("82.4")
    ben.get_by_test_id("record-weight").click()
    expect(ben.get_by_test_id("latest-weight")).to_have_text("82.4 kg")
    expect(ben.get_by_test_id("option-working")).to_contain_text("0.5 mg/kg × 82.4 kg = 41.2 mg")
    ben.get_by_test_id("protocol-option-iv_racemic_ketamine").check()
    check_page(ben, "plans new plan")
    ben.get_by_test_id("create-plan").click()
    expect(ben.get_by_test_id("plan-status")).to_have_text("Draft")
    expect(ben.get_by_test_id("plan-dose")).to_have_text("40 mg")
    check_page(ben, "plan draft")

    # The prescriber signs with her password; the plan is then locked.
    plan = TreatmentPlan.objects.get()
    ada.goto(f"/plans/{plan.pk}/")
    ada.get_by_label("Your password").fill("wrong password")
    ada.get_by_test_id("sign-plan").click()
    expect(ada.locator("#form-errors")).to_contain_text("The password is not correct")
    check_page(ada, "plan sign refused")
    ada.get_by_label("Your password").fill(PASSWORD)
    ada.get_by_test_id("sign-plan").click()
    expect(ada.get_by_test_id("plan-status")).to_have_text("Signed")
    expect(ada.get_by_test_id("signed-by")).to_contain_text("Signed by Ada Okafor on")
    expect(ada.get_by_test_id("edit-plan-form")).to_have_count(0)
    expect(ada.get_by_test_id("sign-form")).to_have_count(0)
    expect(ada.get_by_test_id("revise-plan")).to_be_visible()
    check_page(ada, "plan signed")
    assert TreatmentPlan.objects.get().status == PlanStatus.SIGNED

    # The chart's Plan tab shows it.
    ben.goto(f"/plans/patients/{patient.pk}/chart/")
    expect(ben.get_by_test_id("chart-plan")).to_contain_text("40 mg")
