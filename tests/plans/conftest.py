"""Published clinic protocols, weighed patients and controllable eligibility/consent answers for plan tests.

The library's numbers (0.5 mg/kg, 6 sessions within 21 days, Spravato 56/84 mg) come from its files;
the clinic-set values from tests/protocols/clinic_values.py.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from ketacare.consents.queries import MissingConsent
from ketacare.eligibility.queries import EligibilityCheck
from ketacare.protocols import actions as protocol_actions
from ketacare.protocols.models import ClinicProtocolVersion
from tests.protocols.clinic_values import IV_CLINIC_VALUES, SPRAVATO_CLINIC_VALUES

TODAY = datetime.date(2026, 11, 24)


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(datetime.datetime(2026, 11, 24, 15, 0, tzinfo=datetime.UTC), tick=False):
        yield


def publish(actors: dict[str, Any], code: str, values: dict[str, Any]) -> ClinicProtocolVersion:
    draft = protocol_actions.adopt_protocol(actors["ada"], code, "1")
    edited = protocol_actions.edit_protocol(actors["ada"], draft.clinic_protocol, values, "Harbor Light policy 2026-11")
    return protocol_actions.publish_version(actors["ada"], edited)


@pytest.fixture
def iv_version(actors: dict[str, Any]) -> ClinicProtocolVersion:
    return publish(actors, "iv_racemic_ketamine", IV_CLINIC_VALUES)


@pytest.fixture
def spravato_version(actors: dict[str, Any]) -> ClinicProtocolVersion:
    return publish(actors, "spravato_trd", SPRAVATO_CLINIC_VALUES)


@pytest.fixture
def weighed(patient: Any, actors: dict[str, Any]) -> Any:
    from ketacare.plans import actions

    actions.record_weight(actors["ben"], patient, Decimal("82.4"), TODAY - datetime.timedelta(days=2))
    return patient


class Gate:
    """Stands in for eligibility_for_plan and missing_consents (their bodies belong to other apps)."""

    def __init__(self) -> None:
        self.eligible = True
        self.message = ""
        self.missing: list[MissingConsent] = []
        self.calls: list[tuple[str, str]] = []

    def eligibility(self, patient: Any, route: str) -> EligibilityCheck:
        self.calls.append(("eligibility", route))
        return EligibilityCheck(ok=self.eligible, message=self.message, decision_id=7 if self.eligible else None)

    def consents(self, patient: Any, route: str) -> list[MissingConsent]:
        self.calls.append(("consents", route))
        return list(self.missing)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    g = Gate()
    monkeypatch.setattr("ketacare.plans.actions.eligibility_for_plan", g.eligibility)
    monkeypatch.setattr("ketacare.plans.actions.missing_consents", g.consents)
    return g
