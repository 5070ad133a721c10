"""The front desk registers a patient, finds and edits them; the auditor sees every step.

One journey through the real pages (login form, registration form, HTMX live search, chart tabs,
edit form, audit trail) in a tablet-sized Chromium.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.checks import check_page

pytestmark = pytest.mark.browser


def test_front_desk_registers_finds_and_edits_a_patient_and_the_auditor_sees_it(page, new_page, login_as, make_patient):
    # Other patients, so that the search has something to leave out.
    make_patient(legal_first_name="Jordan", legal_last_name="Avery")
    make_patient(legal_first_name="Quincy", legal_last_name="Adams", phone_mobile="(312) 555-0100")

    # --- Cy at the front desk signs in through the login form and registers a patient.
    login_as(page, "cy")
    expect(page).to_have_url(re.compile(r"/patients/$"))
    page.get_by_role("link", name="Register patient").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Register a patient")

    page.get_by_label("Legal first name").fill("Quinn")
    page.get_by_label("Legal last name").fill("Marlowe")
    page.get_by_label("Preferred name").fill("Q")
    page.get_by_label("Date of birth").fill("1990-03-15")
    page.get_by_label("Sex assigned at birth").select_option("female")
    page.get_by_label("Mobile phone").fill("(312) 555-0199")
    escort = page.locator("#patient-form fieldset", has_text="Emergency contacts and escorts")
    escort.get_by_label("Role").select_option("escort")
    escort.get_by_label("Name").fill("Robin Marlowe")
    escort.get_by_label("Relationship").fill("Sister")
    escort.get_by_label("Phone").fill("(312) 555-0123")
    page.get_by_role("button", name="Register patient").click()

    # The new chart, with the escort on it.
    expect(page.get_by_test_id("patient-name")).to_have_text("Marlowe, Quinn “Q”")
    expect(page.get_by_text("Robin Marlowe")).to_be_visible()
    mrn = page.get_by_test_id("patient-mrn").inner_text().strip()
    assert mrn.startswith("HL")

    # --- Finds them from the patient list by live search (HTMX swaps the results in place).
    page.get_by_role("link", name="Patients", exact=True).click()
    expect(page.get_by_test_id("result-count")).to_contain_text("3 patients")
    page.get_by_role("searchbox", name="Search").fill("marl")
    expect(page.get_by_test_id("result-count")).to_contain_text("1 match for “marl”")
    expect(page).to_have_url(re.compile(r"\?q=marl"))  # the search can be bookmarked and reloaded
    results = page.locator("#results")
    expect(results.get_by_role("link")).to_have_count(1)
    results.get_by_role("link", name="Marlowe, Quinn").click()

    # --- Opens the chart and switches tab (an HTMX swap of the panel, URL kept in step).
    expect(page.get_by_test_id("patient-name")).to_have_text("Marlowe, Quinn “Q”")
    sessions_tab = page.get_by_role("tab", name="Sessions")
    sessions_tab.click()
    expect(sessions_tab).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Overview")).to_have_attribute("aria-selected", "false")
    expect(page.get_by_role("tabpanel")).to_contain_text("Treatment sessions will appear here")
    expect(page).to_have_url(re.compile(r"\?tab=sessions"))
    page.get_by_role("tab", name="Overview").click()
    expect(page.get_by_test_id("phone-mobile")).to_have_text("(312) 555-0199")

    # --- Edits the mobile phone and sees it on the chart.
    page.get_by_role("link", name="Edit details").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Edit Marlowe, Quinn"))
    phone = page.get_by_label("Mobile phone")
    expect(phone).to_have_value("(312) 555-0199")
    phone.fill("(312) 555-0777")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Saved: Mobile phone")
    expect(page.get_by_test_id("phone-mobile")).to_have_text("(312) 555-0777")

    # --- Aud the auditor, at another tablet, filters the audit trail by the patient's MRN.
    audit = new_page()
    login_as(audit, "aud")
    audit.goto("/audit/")
    audit.get_by_label("Patient MRN").fill(mrn)
    audit.get_by_role("button", name="Filter").click()
    expect(audit).to_have_url(re.compile(rf"patient={mrn}"))
    rows = audit.get_by_test_id("audit-row")
    expect(rows.first).to_be_visible()
    check_page(audit, "journey-audit-filtered")

    updated = rows.filter(has_text="patient.updated")
    expect(updated).to_have_count(1)
    expect(updated).to_contain_text("Cy Patel")
    expect(updated).to_contain_text("(312) 555-0199")  # old
    expect(updated).to_contain_text("(312) 555-0777")  # new
    expect(rows.filter(has_text="patient.created")).to_have_count(1)
    viewed = rows.filter(has_text="patient.viewed")
    expect(viewed.filter(has_text="chart:overview").first).to_be_visible()
    expect(viewed.filter(has_text="chart:sessions")).to_have_count(1)
    expect(viewed.filter(has_text="edit form")).to_have_count(1)
    # Every row is about this patient, and none about the others.
    expect(rows.filter(has_not_text=mrn)).to_have_count(0)

    # The search itself names no patient (it is a list), so find it by event and user.
    audit.get_by_role("link", name="Clear").click()
    audit.get_by_label("User").select_option(label="Cy Patel")
    audit.get_by_label("Event", exact=True).fill("patient.searched")
    audit.get_by_role("button", name="Filter").click()
    searched = audit.get_by_test_id("audit-row")
    expect(searched.filter(has_text="marl").first).to_be_visible()
    expect(searched.filter(has_not_text="patient.searched")).to_have_count(0)
