"""Intake fixtures: complete answers, an intake sent by link and one submitted by the patient."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from ketacare.accounts.context import Origin
from ketacare.screening import actions
from ketacare.screening.facts import FACTS
from ketacare.screening.intake_data import PATIENT_FACTS, IntakeData, TrialData
from ketacare.screening.models import Intake

ORIGIN = Origin(remote_addr="203.0.113.9", user_agent="PhoneBrowser/1.0", via="link")


def measured_on() -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=3)


def complete_data(**overrides: Any) -> IntakeData:
    """Every yes/no fact answered "no" (hypertension "yes"), weight, BP and two trials."""
    facts: dict[str, Any] = {f.name: False for f in FACTS if f.kind == "bool"}
    facts["hypertension"] = True
    values: dict[str, Any] = {
        "reason_for_referral": "Depression not helped by two medicines",
        "diagnoses": "MDD, recurrent, severe",
        "facts": facts,
        "height_cm": Decimal("170.0"),
        "weight_kg": Decimal("82.4"),
        "systolic_mmhg": 128,
        "diastolic_mmhg": 82,
        "measured_on": measured_on(),
        "trials": [
            TrialData(
                drug="Sertraline", dose="200 mg/day", duration_weeks=Decimal("10"), adherence="good", response="none"
            ),
            TrialData(
                drug="Bupropion", dose="300 mg/day", duration_weeks=Decimal("8"), adherence="good", response="partial"
            ),
        ],
    }
    values.update(overrides)
    return IntakeData.model_validate(values)


def patient_data(**overrides: Any) -> IntakeData:
    """What a patient can send: only the patient-answerable facts."""
    data = complete_data(**overrides)
    return data.model_copy(update={"facts": {k: v for k, v in data.facts.items() if k in PATIENT_FACTS}})


@pytest.fixture
def sent(actors, patient):
    """(intake, link) sent by Cy at the front desk."""
    return actions.send_intake_link(actors["cy"], patient)


@pytest.fixture
def submitted(sent) -> Intake:
    _, link = sent
    return actions.submit_by_patient(link, patient_data(), ORIGIN)
