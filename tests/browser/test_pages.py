"""Each main page as a user sees it, at tablet landscape, tablet portrait and phone size.

At each size: a full-page screenshot (test-artifacts/screenshots/), axe-core with no serious or
critical problem, and layout checks a screenshot alone would not catch: nothing wider than the
screen, no table wider than its box (columns hide or rows stack instead), and the main controls
at least 44 px tall.
"""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic
from ketacare.patients import actions as patient_actions
from tests.browser.checks import check_page
from tests.browser.conftest import SCREENSHOTS, VIEWPORTS
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

ESCORT = {"role": "escort", "name": "Robin Avery", "relationship": "Sister", "phone": "(312) 555-0123"}
EMERGENCY = {
    "role": "emergency",
    "name": "Sam Avery",
    "relationship": "Father",
    "phone": "(312) 555-0456",
    "email": "sam.avery@example.org",
    "notes": "Call after 5 pm on weekdays",
}


def test_login(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    # Our stylesheet (over Bootstrap) is served and applied.
    expect(page.locator("body")).to_have_css("background-color", "rgb(244, 246, 248)")
    expect(page.get_by_role("button", name="Sign in")).to_have_css("background-color", "rgb(29, 106, 133)")
    check_page(page, "login")
    page.get_by_label("Email").fill("nobody@example.org")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    check_page(page, "login-error")


NAMES = [
    ("Jordan", "Avery"),
    ("Maria", "García"),
    ("Wei", "Zhang"),
    ("Aisha", "Bello"),
    ("Liam", "O'Connor"),
    ("Sofia", "Rossi"),
    ("Noah", "Kim"),
    ("Emma", "Johansson"),
    ("Lucas", "Silva"),
    ("Olivia", "Nguyen"),
    ("Mateo", "Hernández"),
    ("Ava", "Novak"),
    ("Ethan", "Schmidt"),
    ("Mia", "Kowalski"),
    ("Arjun", "Sharma"),
    ("Chloe", "Dubois"),
    ("Kenji", "Tanaka"),
    ("Zara", "Ahmed"),
    ("Oscar", "Lindqvist"),
    ("Nia", "Okonkwo"),
    ("Elijah", "Brooks"),
    ("Hannah", "Fischer"),
    ("Diego", "Morales"),
    ("Leah", "Cohen"),
    ("Samuel", "Mensah"),
    ("Freya", "Andersen"),
    ("Omar", "Haddad"),
    ("Grace", "Sullivan"),
    ("Ivan", "Petrov"),
    ("Alexandria-Catherine", "Montgomery-Fitzwilliam"),
]


@pytest.fixture
def many_patients(make_patient, personas):
    statuses = ["active", "active", "active", "inactive", "discharged"]
    for i, (first, last) in enumerate(NAMES):
        make_patient(
            legal_first_name=first,
            legal_last_name=last,
            date_of_birth=datetime.date(1960 + i, 1 + i % 12, 1 + i % 28),
            phone_mobile=f"(312) 555-{1000 + i}",
            status=statuses[i % len(statuses)],
            pronouns="she/her" if i % 4 == 0 else "",
            primary_clinician=personas["ada"] if i % 3 == 0 else None,
        )


def test_patient_list_paginates_and_searches(page, login_as, many_patients):
    login_as(page, "cy")
    expect(page.get_by_test_id("result-count")).to_contain_text("30 patients · page 1 of 2")
    check_page(page, "patient-list")
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_test_id("result-count")).to_contain_text("page 2 of 2")
    expect(page).to_have_url(re.compile(r"page=2"))
    page.get_by_role("searchbox", name="Search").fill("zzz")
    expect(page.get_by_test_id("result-count")).to_contain_text("0 matches")
    check_page(page, "patient-list-no-match")


def test_registration_form_and_its_errors(page, login_as):
    login_as(page, "cy")
    page.goto("/patients/new/")
    check_page(page, "register")
    page.get_by_label("Legal first name").fill("Quinn")
    page.get_by_label("Date of birth").fill("2999-01-01")
    page.get_by_role("button", name="Register patient").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Please correct")
    expect(summary).to_be_focused()
    # Each error is next to its field, tied to it for screen readers, and what was typed stays.
    last = page.get_by_label("Legal last name")
    expect(last).to_have_attribute("aria-invalid", "true")
    expect(last).to_have_accessible_description(re.compile("This field is required"))
    expect(page.get_by_label("Date of birth")).to_have_accessible_description(re.compile("cannot be in the future"))
    expect(page.get_by_label("Mobile phone")).to_have_accessible_description(re.compile("at least one way"))
    expect(page.get_by_label("Legal first name")).to_have_value("Quinn")
    check_page(page, "register-errors")
    # The summary links to each field in error.
    summary.get_by_role("link", name=re.compile("Legal last name")).click()
    expect(last).to_be_focused()


def test_duplicate_warning(page, login_as, patient):
    login_as(page, "cy")
    page.goto("/patients/new/")
    page.get_by_label("Legal first name").fill(patient.legal_first_name)
    page.get_by_label("Legal last name").fill(patient.legal_last_name)
    page.get_by_label("Date of birth").fill(patient.date_of_birth.isoformat())
    page.get_by_label("Sex assigned at birth").select_option("female")
    page.get_by_label("Email", exact=True).first.fill("jordan.two@example.org")
    page.get_by_role("button", name="Register patient").click()
    warning = page.get_by_test_id("duplicate-warning")
    expect(warning).to_contain_text(patient.mrn)
    check_page(page, "register-duplicate")
    expect(warning).to_be_focused()
    page.get_by_label(re.compile("this is a different person")).check()
    warning.get_by_role("button", name="Register as a new patient").click()
    expect(page.get_by_test_id("patient-name")).to_have_text("Avery, Jordan")
    expect(page.get_by_test_id("patient-mrn")).not_to_have_text(patient.mrn)


@pytest.fixture
def full_patient(make_patient, personas):
    return make_patient(
        preferred_name="Jo",
        pronouns="they/them",
        gender_identity="Non-binary",
        email="jordan.avery@example.org",
        phone_home="(312) 555-0888",
        address_line1="1200 West Harbor Drive",
        address_line2="Apartment 4B",
        city="Chicago",
        state="IL",
        postal_code="60607",
        primary_clinician=personas["ada"],
        contacts=[ESCORT, EMERGENCY],
    )


def test_chart_and_tabs(page, login_as, full_patient):
    login_as(page, "ben")
    page.goto(full_patient.get_absolute_url())
    expect(page.get_by_test_id("patient-name")).to_contain_text("Avery, Jordan")
    check_page(page, "chart")
    page.get_by_role("tab", name="Plan").click()
    expect(page.get_by_role("tab", name="Plan")).to_have_attribute("aria-selected", "true")
    # The panel's content arrives by HTMX: wait for it (not the "Loading treatment plans…" line).
    expect(page.get_by_role("tabpanel")).to_contain_text("No signed or draft plan")
    check_page(page, "chart-plan-tab")
    # Reloading keeps the tab (the URL says which).
    page.reload()
    expect(page.get_by_role("tab", name="Plan")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="Sessions").click()
    expect(page.get_by_test_id("chart-sessions")).to_contain_text("No sessions yet.")
    check_page(page, "chart-sessions-tab")


def test_chart_without_escort_warns(page, login_as, patient):
    login_as(page, "tess")
    page.goto(patient.get_absolute_url())
    expect(page.get_by_text("An escort is needed")).to_be_visible()
    expect(page.get_by_role("link", name="Edit details")).to_have_count(0)  # therapists read only


def test_edit_form(page, login_as, full_patient):
    login_as(page, "ben")
    page.goto(f"{full_patient.get_absolute_url()}edit/")
    expect(page.get_by_label("Mobile phone")).to_have_value(full_patient.phone_mobile)
    check_page(page, "edit")


@pytest.fixture
def audit_history(actors, full_patient, make_patient):
    other = make_patient(legal_first_name="Maria", legal_last_name="García", date_of_birth=datetime.date(1971, 2, 3))
    patient_actions.update_patient(actors["ben"], full_patient, {"phone_mobile": "(312) 555-0777"})
    patient_actions.update_patient(actors["cy"], other, {"status": "inactive", "city": "Evanston"})
    patient_actions.record_patient_read(actors["ben"], full_patient, view="chart:overview")
    patient_actions.search_patients(actors["cy"], "avery jo")
    return full_patient


def test_audit_page(page, login_as, audit_history):
    login_as(page, "aud")
    page.goto("/audit/")
    expect(page.get_by_test_id("audit-row").first).to_be_visible()
    # Times are in the clinic's zone, as the page says.
    chicago = datetime.datetime.now(ZoneInfo("America/Chicago")).isoformat(timespec="seconds")[-6:]
    stamp = page.get_by_test_id("audit-row").first.locator("time").get_attribute("datetime")
    assert stamp.endswith(chicago), stamp
    check_page(page, "audit")
    page.get_by_label("From").fill("2030-01-02")
    page.get_by_label("To").fill("2030-01-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_label("To")).to_have_accessible_description(re.compile("on or after"))
    check_page(page, "audit-errors")


def test_api_tokens_page(page, login_as):
    login_as(page, "cy")
    page.goto("/accounts/tokens/")
    check_page(page, "tokens-empty")
    page.get_by_label("Token name").fill("old import script")
    page.get_by_role("button", name="Create token").click()
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    assert "old import script" in questions[0]
    page.get_by_label("Token name").fill("lab results import")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("new-token")).to_be_visible()
    check_page(page, "tokens")


def test_security_page(page, login_as):
    login_as(page, "cy")
    page.goto("/accounts/security/")
    check_page(page, "security")


def test_mfa_setup_when_the_clinic_requires_it(page, db):
    strict = Clinic.objects.create(
        slug="strict", name="Lakeside Recovery Clinic", time_zone="America/New_York", require_mfa=True, mrn_prefix="LR"
    )
    user = User.objects.create_user("mo@example.org", PASSWORD, full_name="Mo Farah")
    Membership.objects.create(user=user, clinic=strict, role=Role.NURSE)
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/accounts/mfa/setup/"))
    expect(page.get_by_test_id("totp-secret")).to_be_visible()
    check_page(page, "mfa-setup")
    page.get_by_label(re.compile("6-digit code")).fill("000000")
    page.get_by_role("button", name=re.compile("Confirm")).click()
    expect(page.get_by_label(re.compile("6-digit code"))).to_have_accessible_description(re.compile("did not match"))
    check_page(page, "mfa-setup-error")


def test_header_navigation_at_each_size(page, login_as):
    """Tablet landscape and portrait show the menu; a phone folds it behind a Menu button."""
    login_as(page, "ann")
    nav = page.get_by_role("navigation", name="Main")
    for size in ("landscape", "portrait"):
        page.set_viewport_size(VIEWPORTS[size])
        expect(nav.get_by_role("link", name="Audit trail")).to_be_visible()
        expect(nav.get_by_role("button", name="Menu")).to_be_hidden()
    page.set_viewport_size(VIEWPORTS["phone"])
    menu = nav.get_by_role("button", name="Menu")
    expect(nav.get_by_role("link", name="Audit trail")).to_be_hidden()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Audit trail")).to_be_visible()
    account = nav.get_by_role("button", name=re.compile("Ann Admin"))
    account.click()
    expect(nav.get_by_role("link", name="API tokens")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "nav-open-phone.png"))
    # Keyboard: Escape closes the account menu and leaves focus on its button.
    page.keyboard.press("Escape")
    expect(nav.get_by_role("link", name="API tokens")).to_be_hidden()
    expect(account).to_be_focused()
    page.set_viewport_size(VIEWPORTS["portrait"])
    account.click()
    expect(nav.get_by_role("link", name="API tokens")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "nav-account-menu-portrait.png"))
