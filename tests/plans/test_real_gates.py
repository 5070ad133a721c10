"""Signing through the real eligibility_for_plan and missing_consents (no monkeypatching)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ketacare.consents import actions as consent_actions
from ketacare.eligibility import actions as eligibility_actions
from ketacare.plans import actions
from ketacare.plans.models import PlanStatus
from tests.conftest import PASSWORD
from tests.consents.helpers import sign as sign_consent
from tests.eligibility.conftest import make_intake
from tests.plans.conftest import TODAY

FIRST = TODAY + datetime.timedelta(days=1)


def decide(actors, patient, route, decision="eligible", reason=""):
    evaluation = eligibility_actions.evaluate_intake(actors["ada"], make_intake(patient), route)
    return eligibility_actions.decide(
        actors["ada"],
        patient,
        route,
        decision=decision,
        evaluation_id=evaluation.pk,
        reason=reason,
        precautions="",
        overrides={},
    )


def test_iv_plan_needs_a_decision_and_the_treatment_consent(actors, weighed, iv_version):
    plan = actions.create_plan(actors["ben"], weighed, iv_version.pk, first_session_on=FIRST)

    with pytest.raises(ValidationError) as refused:
        actions.sign_plan(actors["ada"], plan, PASSWORD)
    errors = refused.value.message_dict
    assert errors["eligibility"][0].startswith("No eligibility decision for")
    assert errors["consents"] == ["Missing consent: Consent to ketamine-assisted treatment (never signed)."]

    decide(actors, weighed, "iv")
    sign_consent(actors["cy"], weighed, "ketamine_treatment")
    signed = actions.sign_plan(actors["ada"], plan, PASSWORD)
    assert signed.status == PlanStatus.SIGNED


def test_not_eligible_refuses(actors, weighed, iv_version):
    sign_consent(actors["cy"], weighed, "ketamine_treatment")
    decide(actors, weighed, "iv", decision="not_eligible", reason="Uncontrolled hypertension at screening")
    plan = actions.create_plan(actors["ben"], weighed, iv_version.pk, first_session_on=FIRST)

    with pytest.raises(ValidationError) as refused:
        actions.sign_plan(actors["ada"], plan, PASSWORD)
    assert set(refused.value.message_dict) == {"eligibility"}
    assert refused.value.message_dict["eligibility"][0].startswith("Screened not eligible for")


def test_spravato_needs_the_countersigned_rems_enrolment(actors, patient, spravato_version):
    decide(actors, patient, "intranasal_esketamine")
    plan = actions.create_plan(
        actors["ben"], patient, spravato_version.pk, first_session_on=FIRST, selected_mg=Decimal("56")
    )
    enrolment = sign_consent(actors["cy"], patient, "spravato_rems_enrolment")

    with pytest.raises(ValidationError) as refused:
        actions.sign_plan(actors["ada"], plan, PASSWORD)
    assert refused.value.message_dict == {
        "consents": ["Missing consent: Spravato REMS patient enrolment (awaiting countersignature)."]
    }

    consent_actions.countersign_consent(actors["ada"], enrolment.pk)
    assert actions.sign_plan(actors["ada"], plan, PASSWORD).status == PlanStatus.SIGNED
