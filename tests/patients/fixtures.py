"""Fixtures shared by tests/patients, tests/audit and tests/api (imported by each conftest)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ketacare.patients.models import Patient
from tests.patients.helpers import escort


@pytest.fixture
def charted(make_patient: Callable[..., Patient]) -> Patient:
    """Jordan Avery of Harbor Light, with an escort on file."""
    return make_patient(contacts=[escort()])
