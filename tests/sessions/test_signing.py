"""Sign and lock: nurse and prescriber each sign once with their own password (a wrong one is audited
and changes nothing); both signatures make the session signed and read-only; addenda; the PMF blockers
refuse the final step; the note PDF holds the dose and the vitals."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from ketacare.audit.models import AuditEvent, AuditOutcome
from ketacare.inventory import actions as inventory
from ketacare.sessions import discharge, monitoring, note_pdf, signing
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import Addendum, DoseAdministration, SessionSignature, TreatmentSession
from tests.conftest import PASSWORD
from tests.sessions.test_monitoring import move, observing


def stopped(actors, session):
    observing(actors, session)
    return move(actors["ben"], session, State.STOPPED_EARLY, reason="Nausea; patient asked to stop")


def signed(actors, session):
    stopped(actors, session)
    signing.sign(actors["ben"], session, password=PASSWORD)
    signing.sign(actors["ada"], session, password=PASSWORD)
    session.refresh_from_db()
    return session


def test_nurse_then_prescriber_sign_and_the_session_locks(actors, iv_session):
    stopped(actors, iv_session)
    first = signing.sign(actors["ben"], iv_session, password=PASSWORD)
    assert first.role == "nurse"
    assert "monitored this patient" in first.meaning
    iv_session.refresh_from_db()
    assert iv_session.state == State.STOPPED_EARLY
    second = signing.sign(actors["ada"], iv_session, password=PASSWORD)
    assert second.role == "prescriber"
    iv_session.refresh_from_db()
    assert iv_session.state == State.SIGNED
    assert iv_session.signed_at is not None
    assert AuditEvent.objects.filter(event_type="session.signed", patient=iv_session.patient).count() == 1
    assert AuditEvent.objects.filter(event_type="session.signed_part").count() == 2


def test_not_before_discharge(actors, iv_session):
    observing(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        signing.sign(actors["ben"], iv_session, password=PASSWORD)
    assert "state" in exc.value.message_dict


def test_wrong_password_is_audited_and_changes_nothing(actors, iv_session):
    stopped(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        signing.sign(actors["ben"], iv_session, password="wrong")
    assert "password" in exc.value.message_dict
    assert SessionSignature.objects.count() == 0
    refusal = AuditEvent.objects.get(event_type="session.sign_refused")
    assert refusal.outcome == AuditOutcome.MINOR_FAILURE


def test_one_person_one_role_and_roles_that_do_not_sign(actors, iv_session, personas, clinic):
    stopped(actors, iv_session)
    signing.sign(actors["ben"], iv_session, password=PASSWORD)
    with pytest.raises(ValidationError) as exc:
        signing.sign(actors["ben"], iv_session, password=PASSWORD)
    assert "signature" in exc.value.message_dict
    # A second nurse cannot add a second nurse signature.
    from ketacare.accounts.models import Membership, User
    from ketacare.accounts.roles import Role
    from tests.conftest import actor_for

    other = User.objects.create_user("nurse2@example.org", PASSWORD, full_name="Nia Second")
    Membership.objects.create(user=other, clinic=clinic, role=Role.NURSE)
    with pytest.raises(ValidationError, match="nurse signature is already there"):
        signing.sign(actor_for(other), iv_session, password=PASSWORD)
    for key in ("tess", "cy", "aud", "ann"):
        with pytest.raises(PermissionDenied):
            signing.sign(actors[key], iv_session, password=PASSWORD)
    assert SessionSignature.objects.count() == 1


def test_pmf_blockers_refuse_the_final_signature(actors, iv_session, monkeypatch):
    stopped(actors, iv_session)
    signing.sign(actors["ben"], iv_session, password=PASSWORD)
    monkeypatch.setattr("ketacare.sessions.pmf.signing_blockers", lambda s: ["PMF: lot number missing"])
    with pytest.raises(ValidationError) as exc:
        signing.sign(actors["ada"], iv_session, password=PASSWORD)
    assert exc.value.message_dict["signature"] == ["PMF: lot number missing"]
    iv_session.refresh_from_db()
    assert iv_session.state == State.STOPPED_EARLY
    assert SessionSignature.objects.count() == 1
    frozen = []
    monkeypatch.setattr("ketacare.sessions.pmf.signing_blockers", lambda s: [])
    monkeypatch.setattr("ketacare.sessions.pmf.freeze_for_signature", lambda a, s: frozen.append(s.pk))
    signing.sign(actors["ada"], iv_session, password=PASSWORD)
    assert frozen == [iv_session.pk]


def test_signed_session_refuses_every_action_and_takes_addenda(actors, iv_session):
    from ketacare.sessions.core import SessionLocked

    signed(actors, iv_session)
    for call in (
        lambda: monitoring.record_vitals(actors["ben"], iv_session, spo2=97),
        lambda: monitoring.record_assessment(actors["ben"], iv_session, moaas=5),
        lambda: monitoring.record_side_effect(actors["ben"], iv_session, kind="nausea", severity="mild"),
        lambda: discharge.tick_checklist(actors["ben"], iv_session, "alert_oriented", True),
        lambda: discharge.escort_present(actors["ben"], iv_session),
        lambda: discharge.mark_ready(actors["ben"], iv_session),
        lambda: discharge.discharge(actors["ben"], iv_session),
        lambda: signing.sign(actors["ben"], iv_session, password=PASSWORD),
    ):
        with pytest.raises(SessionLocked):
            call()
    note = signing.add_addendum(actors["ben"], iv_session, "BP at 09:50 was 134/84 (charted late).")
    assert note.author_label.startswith("Ben")
    assert iv_session.events.filter(kind="addendum").count() == 1
    with pytest.raises(ValidationError):
        signing.add_addendum(actors["ben"], iv_session, "  ")
    with pytest.raises(PermissionDenied):
        signing.add_addendum(actors["tess"], iv_session, "x")
    assert Addendum.objects.count() == 1


def test_addenda_only_once_signed(actors, iv_session):
    stopped(actors, iv_session)
    with pytest.raises(ValidationError):
        signing.add_addendum(actors["ben"], iv_session, "too early")


def test_note_pdf_holds_the_dose_and_the_vitals(actors, iv_session, ketamine_lot):
    from pypdf import PdfReader

    observing(actors, iv_session)
    entry = inventory.administer(
        actors["ben"],
        ketamine_lot,
        iv_session.patient,
        quantity_mg=Decimal("40"),
        quantity_ml=Decimal("0.8"),
        session_ref=iv_session.ref,
    )
    now = timezone.now()
    DoseAdministration.objects.create(
        clinic=iv_session.clinic,
        session=iv_session,
        ledger_entry=entry,
        route=iv_session.route,
        dose_mg=Decimal("40"),
        volume_ml=Decimal("0.8"),
        started_at=now,
        ended_at=now,
        given_by=actors["ben"].user,
    )
    monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=192, diastolic_bp=101, spo2=97)
    move(actors["ben"], iv_session, State.STOPPED_EARLY, reason="BP")
    data = note_pdf.render(TreatmentSession.objects.get(pk=iv_session.pk))
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "40 mg" in text
    assert ketamine_lot.lot_number in text
    assert "BP 192/101" in text
    assert "Systolic BP 192 mmHg above the protocol's 180" in text


def test_the_note_is_not_final_while_an_alert_is_open(actors, iv_session, clock):
    """An alert left open at signing could never be resolved afterwards: the last signature waits."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from ketacare.sessions import alerts, core, signing
    from ketacare.sessions.lifecycle import State
    from tests.conftest import PASSWORD

    with transaction.atomic():
        s = core.locked_session(actors["ben"], iv_session, "session.chart")
        for target in (State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING):
            core.transition(actors["ben"], s, target)
        alert = alerts.raise_alert(actors["ben"], s, kind="vital_threshold", source_key="t:1", summary="SBP 192")
        core.transition(actors["ben"], s, State.STOPPED_EARLY, reason="Vomiting")
    signing.sign(actors["ben"], iv_session, password=PASSWORD)
    with pytest.raises(ValidationError) as err:
        signing.sign(actors["ada"], iv_session, password=PASSWORD)
    assert "Alert not resolved yet: SBP 192" in str(err.value)
    iv_session.refresh_from_db()
    assert iv_session.state == State.STOPPED_EARLY
    alerts.resolve(actors["ada"], alert.pk, "Reviewed: BP settled after the infusion was stopped.")
    signing.sign(actors["ada"], iv_session, password=PASSWORD)
    iv_session.refresh_from_db()
    assert iv_session.state == State.SIGNED
