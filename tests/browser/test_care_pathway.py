"""Issue #5 end to end, in Debian's Chromium: before the first dose.

The front desk sends the intake link; the patient fills it on a phone and reports high blood pressure
(a listed condition); a nurse completes the clinician's items and marks it reviewed; the prescriber
sees the flagged rule with its source, records "eligible with precautions" with a reason; the patient
signs the treatment consent through a link; the prescriber drafts and signs the plan (dose from the
intake's weight), and the signed plan then refuses edits — in the page and to a forged POST.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ketacare.consents.models import Consent, ConsentStatus
from ketacare.eligibility.models import EligibilityDecision
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.protocols import actions as protocol_actions
from ketacare.screening.facts import FACTS
from ketacare.screening.intake_data import CLINICIAN_FACTS
from ketacare.screening.models import Intake, IntakeStatus
from tests.browser.checks import check_page
from tests.browser.conftest import VIEWPORTS, shoot
from tests.conftest import PASSWORD
from tests.protocols.clinic_values import IV_CLINIC_VALUES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _publish_iv(actors: dict[str, Any]) -> None:
    draft = protocol_actions.adopt_protocol(actors["ada"], "iv_racemic_ketamine", "1")
    edited = protocol_actions.edit_protocol(actors["ada"], draft.clinic_protocol, IV_CLINIC_VALUES, "Harbor policy")
    protocol_actions.publish_version(actors["ada"], edited)


def test_intake_by_link_to_signed_plan_that_refuses_edits(
    new_page: Callable[[], Any], login_as: Callable[[Any, str], None], actors: dict[str, Any], patient: Any
) -> None:
    _publish_iv(actors)
    yesterday = (timezone.localdate(timezone=patient.clinic.zone) - datetime.timedelta(days=1)).isoformat()

    # --- The front desk sends the intake link.
    desk = new_page()
    login_as(desk, "cy")
    desk.goto(f"/screening/patients/{patient.pk}/")
    desk.get_by_role("button", name="Send the intake link").click()
    link = desk.get_by_test_id("link-url")
    expect(link).to_be_visible()
    raw = link.input_value() if link.evaluate("e => e.tagName") == "INPUT" else link.inner_text()
    intake_path = urlsplit(raw.strip()).path
    assert intake_path.startswith("/intake/")

    # --- The patient fills it on a phone: everything "No" but high blood pressure.
    phone = new_page()
    phone.set_viewport_size(VIEWPORTS["phone"])
    phone.goto(intake_path)
    phone.get_by_label("Date of birth").fill("1985-04-12")
    phone.get_by_role("button", name="Continue").click()
    expect(phone.get_by_role("heading", name="Your intake form")).to_be_visible()
    shoot(phone, "pathway-intake-phone-empty", sizes=("phone",))
    phone.get_by_label("What brings you to the clinic?").fill("Depression for six years; three medicines did not help.")
    phone.get_by_role("group", name=re.compile(r"high blood pressure \(hypertension\)")).get_by_label("Yes").check()
    # Every other question "No", including follow-ups the "Yes" revealed (is it under control?).
    for group in phone.locator("fieldset.kc-q-item").all():
        if group.is_visible() and group.locator("input:checked").count() == 0:
            group.get_by_label("No", exact=True).check()
    phone.get_by_label("Weight (kg)").fill("82.4")
    phone.get_by_label("Blood pressure, top number").fill("134")
    phone.get_by_label("Blood pressure, bottom number").fill("84")
    phone.get_by_label("Date these were measured").fill(yesterday)
    phone.locator("#id_trials-0-drug").fill("Sertraline")
    phone.locator("#id_trials-0-duration_weeks").fill("10")
    phone.locator("#id_trials-0-response").select_option("none")
    phone.get_by_role("button", name="Send my answers").click()
    expect(phone.get_by_role("heading", name="Thank you")).to_be_visible(timeout=20_000)

    # --- A nurse completes the clinician's items and marks the intake reviewed.
    nurse = new_page()
    login_as(nurse, "ben")
    nurse.goto(f"/screening/patients/{patient.pk}/")
    expect(nurse.get_by_test_id("intake-status")).to_contain_text("awaiting review")
    nurse.get_by_text("Complete or correct the intake").click()
    for fact in CLINICIAN_FACTS:
        spec = next(f for f in FACTS if f.name == fact)
        if spec.kind == "bool":
            nurse.locator(f'input[name="fact_{fact}"][value="no"]').check()
    nurse.get_by_role("button", name="Save the intake").click()
    nurse.get_by_role("button", name="Mark reviewed").click()
    expect(nurse.get_by_test_id("intake-status")).to_contain_text("Reviewed")
    check_page(nurse, "pathway intake reviewed")

    # --- The prescriber sees the flagged rule and its source, and decides with precautions.
    ada = new_page()
    login_as(ada, "ada")
    ada.goto(f"/eligibility/patients/{patient.pk}/")
    card = ada.get_by_test_id("route-iv")
    expect(card.get_by_test_id("recommendation")).to_contain_text(re.compile("caution", re.I))
    rule = card.get_by_test_id("rule-hypertension_history")
    expect(rule).to_be_visible()
    expect(rule.get_by_test_id("rule-source")).to_contain_text("clinical.md")
    card.get_by_label("Eligible with precautions").check()
    card.get_by_label("Precautions to take").fill("Check BP before dosing and every 10 minutes; call me above 160/100.")
    card.get_by_label("Reason for the decision").fill("Hypertension controlled on amlodipine; benefits outweigh risk.")
    card.get_by_test_id("record-decision-iv").click()
    expect(card.get_by_test_id("current-decision")).to_contain_text("precautions")
    check_page(ada, "pathway eligibility decided")

    # --- The patient signs the treatment consent through a link.
    desk.goto(f"/consents/patients/{patient.pk}/")
    for box in desk.locator("input[type=checkbox][name=documents]").all():
        box.uncheck()
    desk.get_by_label("Consent to ketamine-assisted treatment").check()
    desk.get_by_test_id("consent-make-link").click()
    consent_path = urlsplit(desk.get_by_test_id("consent-link-url").input_value()).path
    phone.goto(consent_path)
    phone.get_by_label("Date of birth").fill("1985-04-12")
    phone.get_by_role("button", name="Continue").click()
    expect(phone.get_by_test_id("consent-title")).to_contain_text("ketamine")
    phone.get_by_label("Your full name").fill(patient.legal_name)
    phone.get_by_label("I have read this document and I agree to it").check()
    with phone.expect_navigation(timeout=30_000):  # the signed PDF is made now
        phone.get_by_test_id("consent-sign").click(no_wait_after=True)
    expect(phone.get_by_test_id("consent-done")).to_be_visible()

    # --- The prescriber drafts the plan from the intake's weight and signs it.
    ada.goto(f"/plans/patients/{patient.pk}/")
    expect(ada.get_by_test_id("latest-weight")).to_have_text("82.4 kg")
    ada.get_by_test_id("protocol-option-iv_racemic_ketamine").check()
    ada.get_by_test_id("create-plan").click()
    expect(ada.get_by_test_id("plan-dose")).to_have_text("40 mg")
    expect(ada.get_by_test_id("plan-working")).to_contain_text("0.5 mg/kg × 82.4 kg = 41.2 mg")
    ada.get_by_label("Your password").fill(PASSWORD)
    ada.get_by_test_id("sign-plan").click()
    expect(ada.get_by_test_id("plan-status")).to_have_text("Signed")
    expect(ada.get_by_test_id("edit-plan-form")).to_have_count(0)
    check_page(ada, "pathway plan signed")

    # The signed plan refuses an edit even when the form is forged.
    status, body = ada.evaluate(
        """async () => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const r = await fetch(location.pathname, {method: 'POST', headers: {'X-CSRFToken': token},
                body: new URLSearchParams({first_session_on: '2030-01-01', notes: 'forged'})});
            return [r.status, await r.text()];
        }"""
    )
    assert status == 409
    assert "signed and locked" in body

    # The database agrees with what the pages showed.
    assert Intake.objects.get(patient=patient).status == IntakeStatus.REVIEWED
    decision = EligibilityDecision.objects.get(patient=patient, route="iv", is_current=True)
    assert decision.decision == "eligible_with_precautions"
    assert Consent.objects.get(patient=patient, document_code="ketamine_treatment").status == ConsentStatus.IN_FORCE
    plan = TreatmentPlan.objects.get(patient=patient)
    assert plan.status == PlanStatus.SIGNED
    assert plan.dose_final_mg == Decimal(40)
    assert plan.weight_kg == Decimal("82.4")
    assert plan.notes != "forged"
