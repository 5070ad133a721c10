"""Pre-dose checks: automatic checks from the record, the nurse's items, the baseline and the
prescriber's decision on it, and `dosing_blockers` (issue #7 item 2)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ketacare.audit.models import AuditEvent
from ketacare.consents.queries import MissingConsent
from ketacare.eligibility.queries import EligibilityCheck
from ketacare.sessions import checks, core
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import BaselineDecision, PreDoseCheck, SessionAlert, TreatmentSession, VitalSigns
from tests.sessions.conftest import TODAY


class Record:
    """Stands in for the consents and eligibility queries the automatic checks ask."""

    def __init__(self) -> None:
        self.eligible = True
        self.missing: list[MissingConsent] = []

    def eligibility(self, patient: Any, route: str) -> EligibilityCheck:
        if self.eligible:
            return EligibilityCheck(True, "Eligible, 2026-11-20 by Dr Ada", 7)
        return EligibilityCheck(False, "Screened not eligible on 2026-11-20", 7)

    def consents(self, patient: Any, route: str) -> list[MissingConsent]:
        return list(self.missing)


@pytest.fixture
def on_record(monkeypatch: pytest.MonkeyPatch) -> Record:
    r = Record()
    monkeypatch.setattr("ketacare.sessions.checks.eligibility_for_plan", r.eligibility)
    monkeypatch.setattr("ketacare.sessions.checks.missing_consents", r.consents)
    return r


@pytest.fixture
def certified(location: Any) -> Any:
    location.spravato_rems_certified_on = datetime.date(2026, 1, 5)
    location.spravato_rems_setting_id = "REMS-HL-001"
    location.save(update_fields=["spravato_rems_certified_on", "spravato_rems_setting_id"])
    return location


def ago(minutes: int) -> datetime.datetime:
    return core.clinic_now() - datetime.timedelta(minutes=minutes)


def started(actors: dict[str, Any], session: TreatmentSession) -> TreatmentSession:
    core.check_in(actors["cy"], session)
    return checks.begin_checks(actors["ben"], session)


def pass_manual(actors: dict[str, Any], session: TreatmentSession, *, baseline: tuple[int, int] = (122, 78)) -> None:
    """Every manual item passed and a baseline recorded (by Ben the nurse)."""
    ben = actors["ben"]
    checks.record_check(ben, session, "identity", status="passed", value={"name": True, "date_of_birth": True})
    checks.record_check(
        ben, session, "fasting", status="passed", value={"last_food_at": ago(8 * 60), "last_liquid_at": ago(3 * 60)}
    )
    if checks.pregnancy_applies(session):
        checks.record_check(ben, session, "pregnancy", status="passed", value={"answer": "negative_test"})
    checks.record_check(ben, session, "concomitant_meds", status="passed", value={"drugs": []})
    checks.confirm_escort(ben, session, name="Jo Reyes", phone="312-555-0142")
    checks.record_baseline(
        ben,
        session,
        systolic_bp=baseline[0],
        diastolic_bp=baseline[1],
        heart_rate=72,
        spo2=98,
        respiratory_rate=14,
    )


def ready(actors: dict[str, Any], session: TreatmentSession, **kw: Any) -> TreatmentSession:
    session = started(actors, session)
    pass_manual(actors, session, **kw)
    session.refresh_from_db()
    return session


# --- automatic checks ----------------------------------------------------------------------


def test_begin_checks_moves_the_state_and_records_the_automatic_checks(actors, iv_session, on_record):
    session = started(actors, iv_session)
    assert session.state == State.PRE_DOSE_CHECKS
    rows = {r.item: r for r in PreDoseCheck.objects.filter(session=session)}
    assert set(rows) == {"plan_signed", "consent", "eligibility"}  # no REMS items for IV
    assert all(r.automatic and r.status == "passed" for r in rows.values())
    assert AuditEvent.objects.filter(event_type="session_check.automatic", patient=session.patient).exists()
    assert session.events.filter(kind="check").exists()


def test_spravato_adds_the_rems_items_and_a_missing_enrolment_fails_on_its_own(actors, spravato_session, on_record):
    on_record.missing = [MissingConsent("spravato_rems_enrolment", "Spravato REMS patient enrolment", "never signed")]
    session = started(actors, spravato_session)  # the location is not certified yet
    rows = checks.latest_checks(session)
    assert rows["consent"].status == "passed"
    assert rows["rems_enrolled"].status == "failed"
    assert "never signed" in rows["rems_enrolled"].note
    assert rows["rems_setting"].status == "failed"
    assert "not Spravato REMS-certified" in rows["rems_setting"].note
    blockers = " ".join(checks.dosing_blockers(session))
    assert "patient enrolled" in blockers
    assert "setting certified" in blockers


def test_refresh_adds_new_rows_and_the_latest_wins(actors, spravato_session, on_record, location):
    on_record.missing = [MissingConsent("spravato_rems_enrolment", "Spravato REMS patient enrolment", "never signed")]
    session = started(actors, spravato_session)
    on_record.missing = []
    location.spravato_rems_certified_on = TODAY + datetime.timedelta(days=3)
    location.save(update_fields=["spravato_rems_certified_on"])
    checks.refresh_automatic_checks(actors["ben"], session)
    rows = checks.latest_checks(session)
    assert rows["rems_enrolled"].status == "passed"
    assert rows["rems_setting"].status == "failed"
    assert "starts on" in rows["rems_setting"].note
    assert PreDoseCheck.objects.filter(session=session, item="rems_enrolled").count() == 2


def test_failed_eligibility_and_consent_show_why(actors, iv_session, on_record):
    on_record.eligible = False
    on_record.missing = [MissingConsent("ketamine_treatment", "Ketamine treatment consent", "withdrawn on 2026-11-20")]
    session = started(actors, iv_session)
    rows = checks.latest_checks(session)
    assert rows["eligibility"].status == "failed"
    assert "not eligible" in rows["eligibility"].note
    assert "withdrawn on 2026-11-20" in rows["consent"].note


def test_a_superseded_plan_fails_the_plan_check(actors, iv_session, on_record):
    from ketacare.plans.models import PlanStatus, TreatmentPlan

    TreatmentPlan.objects.filter(pk=iv_session.plan_id).update(status=PlanStatus.SUPERSEDED)
    iv_session.refresh_from_db()
    session = started(actors, iv_session)
    assert checks.latest_checks(session)["plan_signed"].status == "failed"


# --- manual items ----------------------------------------------------------------------------


def test_identity_needs_both_identifiers(actors, iv_session, on_record):
    session = started(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        checks.record_check(actors["ben"], session, "identity", status="passed", value={"name": True})
    assert "identity" in exc.value.message_dict
    assert not PreDoseCheck.objects.filter(session=session, item="identity").exists()


def test_fasting_against_the_protocol(actors, spravato_session, on_record, certified):
    session = started(actors, spravato_session)
    ben = actors["ben"]
    # Spravato: no food 120 min, no liquids 30 min (clinical.md §0 [MAYO-ESK]); food 60 min ago.
    with pytest.raises(ValidationError) as exc:
        checks.record_check(
            ben, session, "fasting", status="passed", value={"last_food_at": ago(60), "last_liquid_at": ago(45)}
        )
    assert "120 min" in exc.value.message_dict["last_food_at"][0]
    row = checks.record_check(
        ben, session, "fasting", status="failed", value={"last_food_at": ago(60), "last_liquid_at": ago(45)}
    )
    assert row.status == "failed"
    assert "Fasting: not met" in " ".join(checks.dosing_blockers(session))
    row = checks.record_check(
        ben, session, "fasting", status="passed", value={"last_food_at": ago(150), "last_liquid_at": ago(45)}
    )
    assert row.status == "passed"
    assert row.value["last_food_minutes_ago"] == 150


def test_fasting_not_set_by_the_clinic_records_what_was_asked(actors, iv_session, on_record, monkeypatch):
    session = started(actors, iv_session)
    snapshot = dict(session.protocol_snapshot)
    snapshot["fasting"] = {**snapshot["fasting"], "no_food_minutes": None, "no_liquids_minutes": None}
    TreatmentSession.objects.filter(pk=session.pk).update(protocol_snapshot=snapshot)
    session = TreatmentSession.objects.get(pk=session.pk)
    row = checks.record_check(
        actors["ben"], session, "fasting", status="passed", value={"last_food_at": ago(30)}, note="light breakfast"
    )
    assert "no limit set by the clinic" in row.note
    assert "light breakfast" in row.note


def test_pregnancy_positive_fails_and_applies_unless_male(actors, iv_session, on_record):
    session = started(actors, iv_session)
    assert checks.pregnancy_applies(session) == (session.patient.sex_at_birth != "male")
    row = checks.record_check(actors["ben"], session, "pregnancy", status="passed", value={"answer": "positive"})
    assert row.status == "failed"


def test_concomitant_medicine_is_a_caution_with_a_note(actors, iv_session, on_record):
    session = started(actors, iv_session)
    with pytest.raises(ValidationError):
        checks.record_check(actors["ben"], session, "concomitant_meds", status="passed", value={"drugs": ["opioids"]})
    row = checks.record_check(
        actors["ben"], session, "concomitant_meds", status="passed", value={"drugs": ["opioids"]}, note="tramadol 07:00"
    )
    assert row.status == "passed"
    assert "Caution" in row.note
    assert "Opioids" in row.note


def test_escort_sets_the_session_fields(actors, iv_session, on_record):
    session = started(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        checks.confirm_escort(actors["ben"], session, name="", phone="12")
    assert set(exc.value.message_dict) == {"name", "phone"}
    checks.confirm_escort(actors["ben"], session, name="Jo Reyes", phone="312-555-0142")
    session.refresh_from_db()
    assert session.escort_name == "Jo Reyes"
    assert session.escort_confirmed_at is not None


def test_checks_refused_before_they_start_and_for_the_front_desk(actors, iv_session, on_record):
    with pytest.raises(ValidationError):
        checks.record_check(
            actors["ben"], iv_session, "identity", status="passed", value={"name": 1, "date_of_birth": 1}
        )
    with pytest.raises(PermissionDenied):
        checks.begin_checks(actors["cy"], iv_session)


# --- baseline and the prescriber's decision ---------------------------------------------------


def test_dosing_blocked_until_every_check_is_met(actors, iv_session, on_record):
    session = started(actors, iv_session)
    blockers = checks.dosing_blockers(session)
    assert any("Identity" in b for b in blockers)
    assert any("Baseline vital signs: not recorded" in b for b in blockers)
    pass_manual(actors, session)
    assert checks.dosing_blockers(session) == []


def test_baseline_above_threshold_alerts_and_needs_a_prescriber(actors, spravato_session, on_record, certified):
    session = ready(actors, spravato_session, baseline=(150, 95))  # > 140/90 (clinical.md §0 [LABEL-120TY])
    vitals = VitalSigns.objects.get(session=session, phase="pre_dose")
    assert vitals.checkpoint == "bp_pre_dose"
    alert = SessionAlert.objects.get(session=session, source_key=f"baseline:{vitals.pk}")
    assert alert.kind == "baseline"
    assert any("waiting for the prescriber" in b for b in checks.dosing_blockers(session))
    with pytest.raises(PermissionDenied):
        checks.decide_baseline(actors["ben"], session, decision="proceed", reason="ok")
    with pytest.raises(ValidationError) as exc:
        checks.decide_baseline(actors["ada"], session, decision="proceed", reason=" ")
    assert "reason" in exc.value.message_dict
    decision = checks.decide_baseline(
        actors["ada"], session, decision="proceed", reason="Benefit outweighs; recheck at 40 min"
    )
    assert decision.thresholds == ["baseline_sbp", "baseline_dbp"]
    assert checks.dosing_blockers(session) == []
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert AuditEvent.objects.filter(event_type="session_baseline.decided").exists()


def test_hold_keeps_dosing_blocked(actors, spravato_session, on_record, certified):
    session = ready(actors, spravato_session, baseline=(160, 100))
    checks.decide_baseline(actors["ada"], session, decision="hold", reason="BP too high today")
    assert any("not to dose today" in b for b in checks.dosing_blockers(session))


def test_no_decision_needed_within_thresholds(actors, spravato_session, on_record, certified):
    session = ready(actors, spravato_session)
    with pytest.raises(ValidationError):
        checks.decide_baseline(actors["ada"], session, decision="proceed", reason="fine")
    assert not BaselineDecision.objects.exists()


def test_baseline_values_are_checked(actors, iv_session, on_record):
    session = started(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        checks.record_baseline(
            actors["ben"], session, systolic_bp=12, diastolic_bp=None, heart_rate=70, spo2=98, respiratory_rate=14
        )
    assert set(exc.value.message_dict) == {"systolic_bp", "diastolic_bp"}
    assert not VitalSigns.objects.filter(session=session).exists()


def test_unset_threshold_is_shown_as_not_set(actors, spravato_session, on_record, certified):
    session = ready(actors, spravato_session)
    snapshot = dict(session.protocol_snapshot)
    snapshot["alert_thresholds"] = [
        {**t, "value": None, "clinic_set": ["value"]} if t["id"] == "spo2_low" else t
        for t in snapshot["alert_thresholds"]
    ]
    TreatmentSession.objects.filter(pk=session.pk).update(protocol_snapshot=snapshot)
    session = TreatmentSession.objects.get(pk=session.pk)
    labels = [r.label for r in checks.compare_baseline(session.protocol, None)]
    assert any("not set by the clinic" in label for label in labels)


def test_checklist_rows(actors, iv_session, on_record):
    session = ready(actors, iv_session)
    rows = {r.item: r for r in checks.checklist(session)}
    assert rows["identity"].status == "passed"
    assert rows["identity"].by
    assert rows["baseline"].status == "passed"
    assert rows["plan_signed"].automatic
