"""The safety loop end to end: a nurse sends a PHQ-9 link; the patient answers on a phone, endorses
item 9 and sees the crisis resources at once; the clinician's inbox shows the alert, she acknowledges
and closes it with an action; the auditor sees every step."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.checks import assert_accessible
from tests.browser.conftest import VIEWPORTS, shoot

pytestmark = pytest.mark.browser


def test_link_answer_raises_alert_crisis_shown_inbox_ack_close_audited(
    page, new_page, login_as, make_patient, personas, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    patient = make_patient(email="jordan@example.net", primary_clinician=personas["ada"])

    # --- Ben the nurse sends a PHQ-9 link from the patient's questionnaires page.
    login_as(page, "ben")
    page.goto(f"/measures/patients/{patient.pk}/questionnaires/")
    send_form = page.get_by_role("group", name=re.compile(r"^Send a questionnaire"))
    send_form.get_by_label(re.compile(r"^PHQ-9")).check()
    page.get_by_role("button", name="Send link").click()
    expect(page.get_by_role("status")).to_contain_text("Sent")
    expect(page.get_by_test_id("request-row")).to_contain_text("Waiting")
    link = re.search(r"https?://[^/\s]+(/q/[A-Za-z0-9_-]+/)", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body

    # --- The patient opens it on a phone, confirms their date of birth and answers.
    phone = new_page()
    phone.set_viewport_size(VIEWPORTS["phone"])
    phone.goto(link.group(1))
    expect(phone.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    expect(phone.get_by_role("navigation")).to_have_count(0)
    assert_accessible(phone, "patient date of birth")
    phone.get_by_label("Date of birth").fill("1985-04-12")
    phone.get_by_role("button", name="Continue").click()
    for item in range(1, 10):
        phone.locator(f"#item-{item}-{1 if item == 9 else 0}").check()
    # Leave item 10 (optional) and item 4 out first: the page names the missing one.
    phone.evaluate("document.querySelector('#item-4-0').checked = false")
    phone.get_by_role("button", name="Send my answers").click()
    expect(phone.get_by_test_id("form-errors")).to_contain_text("Please answer question 4")
    expect(phone.locator("#item-9-1")).to_be_checked()  # what was answered is kept
    assert_accessible(phone, "patient questionnaire with a missing answer")
    phone.locator("#item-4-0").check()
    shoot(phone, "safety-loop-phone-form", sizes=("phone",))
    phone.get_by_role("button", name="Send my answers").click()

    # The crisis resources come first, in plain words.
    crisis = phone.get_by_test_id("crisis-resources")
    expect(crisis).to_be_visible()
    expect(crisis).to_contain_text("988")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Help is available right now")
    assert crisis.bounding_box()["y"] < 120
    assert_accessible(phone, "patient crisis resources")
    shoot(phone, "safety-loop-crisis", sizes=("phone",))
    # The link is single-use.
    phone.goto(link.group(1))
    expect(phone.get_by_role("heading", level=1)).to_have_text("This link cannot be used")

    # --- Ada the prescriber sees the alert in the header badge and the inbox.
    ada = new_page()
    login_as(ada, "ada")
    expect(ada.get_by_test_id("alert-badge")).to_contain_text("1 open")
    ada.get_by_test_id("alerts-nav").click()
    row = ada.get_by_test_id("alert-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Avery")
    shoot(ada, "safety-loop-inbox", sizes=("landscape",))
    row.get_by_role("link").first.click()
    ada.get_by_test_id("acknowledge").click()
    expect(ada.get_by_role("status")).to_contain_text("Acknowledged")
    ada.get_by_label("What was done").fill("Called the patient; no plan or intent; safety plan reviewed.")
    ada.get_by_label("When it was done").fill(
        timezone.localtime(timezone.now(), patient.clinic.zone).strftime("%Y-%m-%dT%H:%M")
    )
    ada.get_by_test_id("close").click()
    expect(ada.get_by_role("status")).to_contain_text("Alert closed")
    expect(ada.get_by_test_id("alert-row")).to_have_count(0)

    # --- Aud the auditor sees each step for this patient.
    aud = new_page()
    login_as(aud, "aud")
    aud.goto(f"/audit/?patient={patient.mrn}")
    rows = aud.get_by_test_id("audit-row")
    for event in (
        "questionnaire_request.created",
        "response.created",
        "safety_alert.raised",
        "safety_alert.acknowledged",
        "safety_alert.closed",
    ):
        expect(rows.filter(has_text=event).first).to_be_visible()
    expect(rows.filter(has_text="response.created")).to_contain_text(f"Patient {patient.mrn} (secure link)")
    expect(rows.filter(has_text="safety_alert.closed")).to_contain_text("Ada Okafor")
