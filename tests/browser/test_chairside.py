"""In a real browser (Debian's Chromium) on a tablet: one IV ketamine session from arrival to the
signed note (issue #7).

The front desk checks the patient in; the nurse passes the pre-dose checks, draws and gives the dose
from the controlled-substance ledger, records vitals at the protocol's checkpoints (one above the
protocol's 180 mmHg systolic alert limit, which raises an alert the prescriber resolves), stops the
infusion, observes, ticks the discharge checklist and discharges once the gates pass; nurse and
prescriber sign. The floor board (open at the front desk) shows each step, and the lot's ledger shows
the administration with the session's reference. A forged change to the signed session gets 409.

The server's clock is moved on with time-machine (the live server runs in this process), so the
40-minute infusion and the clinic's 30-minute observation pass in seconds. The idle sign-out (15
minutes) is lengthened for the test only, because the clock jumps further than that between clicks.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.consents.queries import MissingConsent
from ketacare.eligibility.queries import EligibilityCheck
from ketacare.inventory import actions as ledger
from ketacare.inventory.models import DosageForm, EntryKind, LedgerEntry, Product, Substance
from ketacare.plans import actions as plan_actions
from ketacare.sessions import core
from ketacare.sessions.models import SessionAlert, TreatmentSession
from tests.browser.checks import check_page
from tests.browser.conftest import shoot
from tests.conftest import PASSWORD
from tests.plans.conftest import publish
from tests.protocols.clinic_values import IV_CLINIC_VALUES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

START = datetime.datetime(2026, 11, 24, 14, 40, tzinfo=datetime.UTC)  # 08:40 in Chicago


def _eligible(patient: Any, route: str) -> EligibilityCheck:
    return EligibilityCheck(ok=True, message="", decision_id=1)


def _consented(patient: Any, route: str) -> list[MissingConsent]:
    return []


@pytest.fixture
def booked(
    actors: dict[str, Any], clinic: Clinic, make_patient: Any, monkeypatch: pytest.MonkeyPatch
) -> TreatmentSession:
    """A signed IV plan (40 mg) and its first session at 09:00 in Chair 1; ketamine vials in the safe.

    Eligibility and consent are answered by stand-ins (the care-pathway browser test shows them for
    real); everything else is the real record.
    """
    for target in ("plans.actions", "sessions.checks"):
        monkeypatch.setattr(f"ketacare.{target}.eligibility_for_plan", _eligible)
        monkeypatch.setattr(f"ketacare.{target}.missing_consents", _consented)
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
    ledger.receive_stock(
        actors["ivy"],
        location,
        product,
        lot_number="KX-7001",
        expiry_date=datetime.date(2030, 6, 30),
        packages=2,
        received_on=datetime.date(2026, 11, 20),
        supplier_name="Henry Schein Medical",
        supplier_address="135 Duryea Rd, Melville, NY 11747",
        supplier_dea="RC7654329",
        invoice_number="INV-7001",
    )
    patient = make_patient(legal_first_name="Rosa", legal_last_name="Delgado", sex_at_birth="male")
    version = publish(actors, "iv_racemic_ketamine", IV_CLINIC_VALUES)
    plan_actions.record_weight(actors["ben"], patient, Decimal("82.4"), datetime.date(2026, 11, 20))
    plan = plan_actions.create_plan(
        actors["ada"], patient, protocol_version_id=version.pk, first_session_on=datetime.date(2026, 11, 24)
    )
    plan = plan_actions.sign_plan(actors["ada"], plan, PASSWORD)
    chair = Resource.objects.get(location=location, name="Chair 1")
    return core.create_from_plan(
        actors["cy"], plan, scheduled_at=START + datetime.timedelta(minutes=20), location=location, chair=chair
    )


def tile(board: Any, session: TreatmentSession) -> Any:
    return board.get_by_test_id(f"tile-chair-{session.chair_id}")


def test_one_infusion_from_check_in_to_the_signed_note(
    new_page: Callable[[], Any],
    login_as: Callable[[Any, str], None],
    booked: TreatmentSession,
    settings: Any,
) -> None:
    from playwright.sync_api import expect

    settings.SESSION_COOKIE_AGE = 6 * 3600  # see the module docstring
    session = booked
    with time_machine.travel(START, tick=True) as clock:

        def later(minutes: float) -> None:
            clock.shift(datetime.timedelta(minutes=minutes))

        # The front desk checks the patient in and keeps the floor board open.
        desk = new_page()
        login_as(desk, "cy")
        desk.goto("/sessions/")
        expect(desk.get_by_test_id(f"session-row-{session.pk}")).to_contain_text("Delgado, Rosa")
        desk.get_by_test_id(f"check-in-{session.pk}").click()
        expect(desk.get_by_test_id(f"session-row-{session.pk}")).to_contain_text("Checked in")
        board = new_page()
        login_as(board, "cy")
        board.goto(f"/sessions/board/?location={session.location_id}")
        expect(tile(board, session)).to_contain_text("Delgado, Rosa")
        expect(tile(board, session)).to_contain_text("Checked in")

        # The nurse, at the chair, passes the pre-dose checks.
        later(5)
        nurse = new_page()
        login_as(nurse, "ben")
        nurse.goto(f"/sessions/{session.pk}/")
        expect(nurse.get_by_test_id("session-state")).to_have_text("Checked in")
        nurse.get_by_role("button", name="Start pre-dose checks").click()
        expect(nurse.get_by_test_id("session-state")).to_have_text("Pre-dose checks")
        expect(nurse.get_by_test_id("dosing-blockers")).to_be_visible()
        identity = nurse.get_by_test_id("form-identity")
        identity.get_by_label("Full name confirmed").check()
        identity.get_by_label("Date of birth confirmed").check()
        identity.get_by_role("button", name="Record identity").click()
        fasting = nurse.get_by_test_id("form-fasting")
        fasting.get_by_label("Last food at").fill("01:30")
        fasting.get_by_label("Last liquid at").fill("06:15")
        fasting.get_by_role("button", name="Record fasting").click()
        nurse.get_by_test_id("form-meds").get_by_role("button", name="Record medicines").click()
        escort = nurse.get_by_test_id("form-escort")
        escort.get_by_label("Escort's name").fill("Luis Delgado")
        escort.get_by_label("Escort's phone").fill("(312) 555-0199")
        escort.get_by_role("button", name="Confirm escort").click()
        baseline = nurse.get_by_test_id("form-baseline")
        baseline.get_by_label("Systolic BP (mmHg)").fill("128")
        baseline.get_by_label("Diastolic BP (mmHg)").fill("80")
        baseline.get_by_label("Heart rate (bpm)").fill("76")
        baseline.get_by_label("SpO2 (%)").fill("98")
        baseline.get_by_label("Resp. rate (/min)").fill("16")
        baseline.get_by_role("button", name="Record baseline").click()
        expect(nurse.get_by_test_id("dosing-ready")).to_be_visible()
        check_page(nurse, "chairside pre-dose checks passed")
        board.reload()
        expect(tile(board, session)).to_contain_text("Pre-dose checks")

        # ... draws 40 mg (0.8 mL of 50 mg/mL) from lot KX-7001 and starts the infusion at 1.2 mL/h.
        later(5)
        nurse.reload()
        dose = nurse.get_by_test_id("form-dose")
        dose.get_by_label(re.compile("Lot KX-7001")).check()
        dose.get_by_label("Dose (mg)").fill("40")
        dose.get_by_label("Volume (mL)").fill("0.8")
        dose.get_by_label("Pump rate (mL/h)").fill("1.2")
        dose.get_by_role("button", name="Record dose given").click()
        expect(nurse.get_by_test_id("session-state")).to_have_text("Dosing")
        expect(nurse.get_by_test_id("dose-ledger-entry").first).to_be_visible()
        entry = LedgerEntry.objects.get(kind=EntryKind.ADMINISTRATION)
        assert entry.session_ref == session.ref
        assert entry.quantity_mg == Decimal("40.00")
        check_page(nurse, "chairside dosing")
        board.reload()
        expect(tile(board, session)).to_contain_text("Dosing")
        check_page(board, "floor board while dosing")

        # Vitals every 10 minutes during the infusion: the second is above the 180 mmHg alert limit.
        for minutes, systolic in ((10, 134), (10, 192)):
            later(minutes)
            nurse.reload()
            vitals = nurse.get_by_test_id("vitals-form")
            vitals.get_by_label("Systolic BP (mmHg)").fill(str(systolic))
            vitals.get_by_label("Diastolic BP (mmHg)").fill("96" if systolic > 180 else "82")
            vitals.get_by_label("Heart rate (bpm)").fill("84")
            vitals.get_by_label("SpO2 (%)").fill("97")
            vitals.get_by_role("button", name="Record vitals").click()
            expect(nurse.get_by_test_id("vitals-table")).to_contain_text(str(systolic))
        alert = SessionAlert.objects.get(session=session, kind="vital_threshold")
        expect(nurse.get_by_test_id(f"alert-{alert.pk}")).to_contain_text("Systolic BP 192")
        board.reload()
        expect(tile(board, session)).to_contain_text("1 open")
        shoot(nurse, "chairside alert raised")

        # The prescriber on call resolves it at the chair.
        prescriber = new_page()
        login_as(prescriber, "ada")
        prescriber.goto(f"/sessions/{session.pk}/")
        resolve = prescriber.get_by_test_id(f"alert-{alert.pk}")
        resolve.get_by_label("What was decided or done").fill("Repeat BP in 5 min; continue, no treatment needed.")
        resolve.get_by_role("button", name="Resolve").click()
        expect(prescriber.get_by_test_id(f"alert-{alert.pk}")).to_have_count(0)

        # The infusion ends at 40 minutes: observation starts, BP every 15 minutes after it.
        later(20)
        nurse.reload()
        nurse.get_by_test_id("form-end-dosing").get_by_role("button", name=re.compile("End dosing")).click()
        expect(nurse.get_by_test_id("session-state")).to_have_text("Observation")
        board.reload()
        expect(tile(board, session)).to_contain_text("Observation")
        later(15)
        nurse.reload()
        vitals = nurse.get_by_test_id("vitals-form")
        vitals.get_by_label("Systolic BP (mmHg)").fill("130")
        vitals.get_by_label("Diastolic BP (mmHg)").fill("82")
        vitals.get_by_label("Heart rate (bpm)").fill("78")
        vitals.get_by_label("SpO2 (%)").fill("98")
        vitals.get_by_role("button", name="Record vitals").click()

        # Discharge is refused while the clinic's 30 minutes of observation have not passed.
        gates = nurse.get_by_test_id("discharge-gates")
        expect(gates).to_contain_text("minutes left")
        while nurse.get_by_role("button", name=re.compile("Tick")).count():
            nurse.get_by_role("button", name=re.compile("Tick")).first.click()
        nurse.get_by_role("button", name="Escort is here").click()
        check_page(nurse, "chairside observation")

        # At 31 minutes: pre-discharge vitals, ready, discharged.
        later(16)
        nurse.reload()
        vitals = nurse.get_by_test_id("vitals-form")
        vitals.get_by_label("Systolic BP (mmHg)").fill("126")
        vitals.get_by_label("Diastolic BP (mmHg)").fill("80")
        vitals.get_by_label("Heart rate (bpm)").fill("74")
        vitals.get_by_label("SpO2 (%)").fill("98")
        vitals.get_by_role("button", name="Record vitals").click()
        nurse.get_by_test_id("discharge-button").click()
        expect(nurse.get_by_test_id("session-state")).to_have_text("Discharged")
        board.reload()
        expect(tile(board, session)).not_to_contain_text("Delgado")

        # Nurse and prescriber sign; the note is then read-only and the PDF is there.
        nurse.get_by_test_id("sign-form").get_by_label("Your password").fill(PASSWORD)
        nurse.get_by_role("button", name="Sign the session note").click()
        expect(nurse.get_by_test_id("signature-nurse")).to_be_visible()
        prescriber.goto(f"/sessions/{session.pk}/")
        prescriber.get_by_test_id("sign-form").get_by_label("Your password").fill(PASSWORD)
        prescriber.get_by_role("button", name="Sign the session note").click()
        expect(prescriber.get_by_test_id("session-state")).to_have_text("Signed")
        expect(prescriber.get_by_test_id("session-locked")).to_be_visible()
        expect(prescriber.get_by_test_id("vitals-form")).to_have_count(0)
        check_page(prescriber, "chairside signed")

        # A forged change to the signed session is refused.
        token = prescriber.evaluate("document.querySelector('[name=csrfmiddlewaretoken]').value")
        forged = prescriber.request.post(
            f"/sessions/{session.pk}/vitals/",
            form={"csrfmiddlewaretoken": token, "systolic_bp": "120", "diastolic_bp": "80"},
            headers={"X-CSRFToken": token, "Referer": prescriber.url},
        )
        assert forged.status == 409

        # The lot's ledger shows the administration, pointing at this session.
        manager = new_page()
        login_as(manager, "ivy")
        manager.goto(f"/inventory/lots/{entry.lot_id}/")
        expect(manager.get_by_text(re.compile("Administration")).first).to_be_visible()
        expect(manager.get_by_text(re.compile(f"session {session.pk}|{session.ref}")).first).to_be_visible()

    session.refresh_from_db()
    assert session.state == "signed"
    assert session.signatures.count() == 2
