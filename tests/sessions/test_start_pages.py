"""The pre-dose checks and dosing sections of the chairside page: the nurse's walk through them,
refusals with their reasons (422), who may post (403/404), a signed session (409), a double submit."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from ketacare.inventory.models import EntryKind, LedgerEntry, Lot
from ketacare.sessions import checks, core
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import BaselineDecision, DoseAdministration, PreDoseCheck, TreatmentSession
from tests.conftest import PASSWORD
from tests.sessions.conftest import advance
from tests.sessions.test_checks import certified, on_record, ready, started  # noqa: F401

pytestmark = pytest.mark.usefixtures("on_record")


def url(session: TreatmentSession, tail: str) -> str:
    return f"/sessions/{session.pk}/{tail}"


def token() -> str:
    return str(uuid.uuid4())


def iv_form(lot: Lot, **extra: Any) -> dict[str, Any]:
    return {
        "lot": lot.pk,
        "quantity_mg": "40",
        "quantity_ml": "0.80",
        "rate_ml_per_hour": "120",
        "form_token": token(),
        **extra,
    }


BASELINE = {"systolic_bp": 124, "diastolic_bp": 80, "heart_rate": 70, "spo2": 98, "respiratory_rate": 14}


def test_the_nurse_walks_through_checks_and_dosing(actors, client_for, iv_session, ketamine_lot):
    core.check_in(actors["cy"], iv_session)
    ben = client_for("ben")
    page = ben.get(url(iv_session, "")).content.decode()
    assert 'data-testid="checks-begin"' in page
    assert ben.post(url(iv_session, "checks/begin/"), {"form_token": token()}).status_code == 302
    page = ben.get(url(iv_session, "")).content.decode()
    assert 'data-testid="checklist"' in page
    assert "Identity (name and date of birth): not checked yet." in page
    # 09:00 in Chicago: food at 02:00 (7 h ago), liquids at 06:30 (clinic: 6 h / 2 h).
    posts = [
        ("checks/identity/", {"name": "1", "date_of_birth": "1", "status": "passed"}),
        ("checks/fasting/", {"last_food_at": "02:00", "last_liquid_at": "06:30", "status": "passed"}),
        ("checks/concomitant_meds/", {}),
        ("checks/escort/", {"name": "Jo Reyes", "phone": "312-555-0142"}),
        ("checks/baseline/", BASELINE),
    ]
    if checks.pregnancy_applies(iv_session):
        posts.append(("checks/pregnancy/", {"answer": "not_pregnant_history"}))
    for tail, data in posts:
        response = ben.post(url(iv_session, tail), {**data, "form_token": token()})
        assert response.status_code == 302, (tail, response.content.decode()[:2000])
    page = ben.get(url(iv_session, "")).content.decode()
    assert 'data-testid="dosing-ready"' in page
    assert "Lot KX1001" in page
    assert "40 mg ÷ 50 mg/mL = <strong>0.80 mL</strong>" in page
    assert ben.post(url(iv_session, "dose/"), iv_form(ketamine_lot)).status_code == 302
    dose = DoseAdministration.objects.get(session=iv_session)
    page = ben.get(url(iv_session, "")).content.decode()
    assert f"No. {dose.ledger_entry_id}" in page
    assert 'data-testid="form-stop-infusion"' in page
    assert ben.post(url(iv_session, "dose/end/"), {"form_token": token()}).status_code == 302
    iv_session.refresh_from_db()
    assert iv_session.state == State.OBSERVATION
    page = ben.get(url(iv_session, "")).content.decode()
    assert 'data-testid="form-waste"' in page


def test_fasting_too_recent_is_shown_next_to_the_field(actors, client_for, iv_session):
    started(actors, iv_session)
    response = client_for("ben").post(
        url(iv_session, "checks/fasting/"),
        {"last_food_at": "08:00", "last_liquid_at": "06:30", "status": "passed", "form_token": token()},
    )
    assert response.status_code == 422
    assert "the protocol asks for at least 360 min" in response.content.decode()
    assert not PreDoseCheck.objects.filter(item="fasting").exists()


def test_dose_refused_with_the_reasons_while_checks_are_missing(actors, client_for, iv_session, ketamine_lot):
    started(actors, iv_session)
    response = client_for("ben").post(url(iv_session, "dose/"), iv_form(ketamine_lot))
    assert response.status_code == 422
    body = response.content.decode()
    assert "Dosing cannot start yet" in body
    assert "Baseline vital signs: not recorded yet." in body
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()


def test_baseline_decision_needs_a_prescriber_on_the_page(actors, client_for, spravato_session, certified):  # noqa: F811
    session = ready(actors, spravato_session, baseline=(150, 92))
    page = client_for("ben").get(url(session, "")).content.decode()
    assert 'data-testid="baseline-waiting"' in page
    form = {"decision": "proceed", "reason": "Benefit outweighs", "form_token": token()}
    assert client_for("ben").post(url(session, "checks/baseline/decision/"), form).status_code == 403
    ada = client_for("ada")
    assert 'data-testid="form-baseline-decision"' in ada.get(url(session, "")).content.decode()
    assert ada.post(url(session, "checks/baseline/decision/"), {**form, "reason": ""}).status_code == 422
    assert ada.post(url(session, "checks/baseline/decision/"), form).status_code == 302
    assert BaselineDecision.objects.filter(session=session, decided_by=actors["ada"].user).count() == 1
    assert checks.dosing_blockers(session) == []


def test_spravato_devices_through_the_page(actors, client_for, spravato_session, certified, spravato_lot, clock):  # noqa: F811
    session = ready(actors, spravato_session)
    ben = client_for("ben")
    page = ben.get(url(session, "")).content.decode()
    assert "Give device 1" in page
    assert (
        ben.post(url(session, "dose/"), {"lot": spravato_lot.pk, "device_number": 1, "form_token": token()}).status_code
        == 302
    )
    advance(clock, 4)
    page = ben.get(url(session, "")).content.decode()
    assert 'data-testid="device-countdown"' in page
    assert ben.get(url(session, "dose/panel/")).status_code == 200
    refused = ben.post(url(session, "dose/"), {"lot": spravato_lot.pk, "device_number": 2, "form_token": token()})
    assert refused.status_code == 422
    assert "Wait 5 minutes between devices" in refused.content.decode()
    advance(clock, 1)
    assert (
        ben.post(url(session, "dose/"), {"lot": spravato_lot.pk, "device_number": 2, "form_token": token()}).status_code
        == 302
    )
    assert DoseAdministration.objects.filter(session=session).count() == 2
    assert "Give device 3" not in ben.get(url(session, "")).content.decode()  # 56 mg = 2 devices


def test_a_double_submit_gives_one_dose(actors, client_for, iv_session, ketamine_lot):
    session = ready(actors, iv_session)
    form = iv_form(ketamine_lot)
    ben = client_for("ben")
    assert ben.post(url(session, "dose/"), form).status_code == 302
    assert ben.post(url(session, "dose/"), form).status_code == 302
    assert DoseAdministration.objects.filter(session=session).count() == 1
    assert LedgerEntry.objects.filter(session_ref=session.ref).count() == 1


def test_a_deviation_approved_by_a_prescribers_password_on_the_page(actors, client_for, iv_session, ketamine_lot):
    session = ready(actors, iv_session)
    ben = client_for("ben")
    more = iv_form(ketamine_lot, quantity_mg="45", quantity_ml="0.90")
    refused = ben.post(url(session, "dose/"), more)
    assert refused.status_code == 422
    assert "a prescriber must give the reason" in refused.content.decode()
    approved = {
        **more,
        "form_token": token(),
        "deviation_reason": "Weight updated today",
        "approver_email": "ada@example.org",
        "approver_password": PASSWORD,
    }
    assert ben.post(url(session, "dose/"), approved).status_code == 302
    dose = DoseAdministration.objects.get(session=session)
    assert dose.dose_mg == Decimal("45")
    assert dose.deviation_approved_by == actors["ada"].user


# --- who may post -------------------------------------------------------------------------------

CHART_POSTS = [
    "checks/begin/",
    "checks/refresh/",
    "checks/identity/",
    "checks/fasting/",
    "checks/pregnancy/",
    "checks/concomitant_meds/",
    "checks/escort/",
    "checks/baseline/",
    "dose/",
    "dose/end/",
    "dose/waste/",
    "dose/1/stop/",
]


@pytest.mark.parametrize("key", ["cy", "tess", "aud", "ivy"])
def test_roles_without_charting_get_403(client_for, iv_session, key):
    who = client_for(key)
    for tail in [*CHART_POSTS, "checks/baseline/decision/"]:
        assert who.post(url(iv_session, tail), {"form_token": token()}).status_code == 403, tail
    assert not PreDoseCheck.objects.exists()


def test_another_clinics_prescriber_gets_404(client_for, iv_session, dee_prescriber):
    dee = client_for("dee")
    for tail in [*CHART_POSTS, "checks/baseline/decision/"]:
        assert dee.post(url(iv_session, tail), {"form_token": token()}).status_code == 404, tail
    assert dee.get(url(iv_session, "dose/panel/")).status_code == 404


def test_a_signed_session_shows_no_forms_and_answers_409(actors, client_for, iv_session, ketamine_lot):
    session = ready(actors, iv_session)
    with transaction.atomic():
        s = core.locked_session(actors["ben"], session, "session.chart")
        for target in (State.DOSING, State.STOPPED_EARLY, State.SIGNED):
            core.transition(actors["ben"], s, target, reason="test")
    ada = client_for("ada")
    page = ada.get(url(session, "")).content.decode()
    assert "<form" not in page.split('id="predose"')[1].split("</section>")[0]
    for tail in [*CHART_POSTS, "checks/baseline/decision/"]:
        assert ada.post(url(session, tail), {"form_token": token(), **BASELINE}).status_code == 409, tail
    forged = ada.post(url(session, "dose/"), iv_form(ketamine_lot))
    assert forged.status_code == 409
    assert not DoseAdministration.objects.exists()


def test_stop_end_and_waste_through_the_page_with_witness_refusals_audited(
    actors, client_for, iv_session, ketamine_lot, clock
):
    from ketacare.audit.models import AuditEvent

    session = ready(actors, iv_session)
    ben = client_for("ben")
    assert ben.post(url(session, "dose/"), iv_form(ketamine_lot)).status_code == 302
    dose = DoseAdministration.objects.get(session=session)
    advance(clock, 40)
    ben = client_for("ben")  # signed in again after the idle timeout
    assert ben.post(url(session, f"dose/{dose.pk}/stop/"), {"form_token": token()}).status_code == 302
    dose.refresh_from_db()
    assert dose.ended_at is not None
    assert ben.post(url(session, f"dose/{dose.pk}/stop/"), {"form_token": token()}).status_code == 422  # once
    assert ben.post(url(session, "dose/end/"), {"form_token": token()}).status_code == 302
    vial = dose.ledger_entry.container
    waste = {"container": vial.pk, "quantity_ml": "9.20", "witness_email": "ada@example.org", "form_token": token()}
    wrong = ben.post(url(session, "dose/waste/"), {**waste, "witness_password": "nope"})
    assert wrong.status_code == 422
    assert "nope" not in wrong.content.decode()
    assert AuditEvent.objects.filter(event_type="inventory_witness.refused").count() == 1
    assert not LedgerEntry.objects.filter(kind=EntryKind.WASTE).exists()
    right = ben.post(url(session, "dose/waste/"), {**waste, "form_token": token(), "witness_password": PASSWORD})
    assert right.status_code == 302
    assert LedgerEntry.objects.get(kind=EntryKind.WASTE).witness == actors["ada"].user


def test_a_wrong_approver_password_is_audited_and_changes_nothing(actors, client_for, iv_session, ketamine_lot):
    from ketacare.audit.models import AuditEvent

    session = ready(actors, iv_session)
    form = iv_form(
        ketamine_lot,
        quantity_mg="45",
        quantity_ml="0.90",
        deviation_reason="Weight updated",
        approver_email="ada@example.org",
        approver_password="wrong",
    )
    assert client_for("ben").post(url(session, "dose/"), form).status_code == 422
    assert AuditEvent.objects.filter(event_type="session_dose_approver.refused").count() == 1
    assert not DoseAdministration.objects.exists()
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()
