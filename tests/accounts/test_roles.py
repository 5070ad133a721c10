"""Who may do what: the role table in accounts/roles.py, written out in full.

Changing a grant means changing this table too, on purpose.
"""

from __future__ import annotations

import pytest

from ketacare.accounts.roles import CLINICIAN_ROLES, PERMISSIONS, Perm, Role, can

Y, N = True, False
COLUMNS = [Role.ADMIN, Role.PRESCRIBER, Role.NURSE, Role.THERAPIST, Role.FRONT_DESK, Role.INVENTORY, Role.AUDITOR]

# permission        admin presc nurse  ther front  inv   aud
TABLE = {
    Perm.PATIENT_VIEW: (Y, Y, Y, Y, Y, N, Y),  # inventory keeps the ledger, not charts
    Perm.PATIENT_CREATE: (Y, Y, Y, N, Y, N, N),  # therapists and auditors read only
    Perm.PATIENT_EDIT: (Y, Y, Y, N, Y, N, N),
    Perm.AUDIT_VIEW: (Y, N, N, N, N, N, Y),
    Perm.AUDIT_EXPORT: (Y, N, N, N, N, N, Y),
    Perm.CLINIC_MANAGE: (Y, N, N, N, N, N, N),
    Perm.MEASURE_VIEW: (Y, Y, Y, Y, N, N, Y),  # scores are clinical: not the front desk
    Perm.MEASURE_ENTER: (Y, Y, Y, Y, N, N, N),
    Perm.MEASURE_SEND: (Y, Y, Y, Y, Y, N, N),  # front desk sends links and hands tablets over
    Perm.ALERT_VIEW: (Y, Y, Y, Y, N, N, Y),  # every clinician sees safety alerts until closed
    Perm.ALERT_ACT: (Y, Y, Y, Y, N, N, N),
    Perm.INTAKE_VIEW: (Y, Y, Y, Y, N, N, Y),  # the front desk sends the link, not reads answers
    Perm.INTAKE_EDIT: (Y, Y, Y, N, N, N, N),
    Perm.INTAKE_SEND: (Y, Y, Y, Y, Y, N, N),
    Perm.ELIGIBILITY_VIEW: (Y, Y, Y, Y, N, N, Y),
    Perm.ELIGIBILITY_DECIDE: (N, Y, N, N, N, N, N),  # a prescriber decides
    Perm.CONSENT_VIEW: (Y, Y, Y, Y, Y, N, Y),
    Perm.CONSENT_COLLECT: (Y, Y, Y, Y, Y, N, N),
    Perm.CONSENT_COUNTERSIGN: (Y, Y, Y, N, N, N, N),
    Perm.CONSENT_WITHDRAW: (Y, Y, Y, Y, Y, N, N),
    Perm.PROTOCOL_VIEW: (Y, Y, Y, Y, N, N, Y),
    Perm.PROTOCOL_MANAGE: (Y, Y, N, N, N, N, N),
    Perm.PROTOCOL_PUBLISH: (N, Y, N, N, N, N, N),
    Perm.PLAN_VIEW: (Y, Y, Y, Y, N, N, Y),
    Perm.PLAN_DRAFT: (N, Y, Y, N, N, N, N),
    Perm.PLAN_SIGN: (N, Y, N, N, N, N, N),  # only a prescriber signs
    Perm.INVENTORY_VIEW: (N, Y, Y, N, N, Y, Y),  # nobody else sees the ledger
    Perm.INVENTORY_RECEIVE: (N, N, N, N, N, Y, N),
    Perm.INVENTORY_COUNT: (N, N, N, N, N, Y, N),
    Perm.INVENTORY_ADMINISTER: (N, Y, Y, N, N, N, N),
    Perm.INVENTORY_WITNESS: (N, Y, Y, N, N, Y, N),
    Perm.INVENTORY_INVESTIGATE: (N, Y, N, N, N, Y, N),
    Perm.INVENTORY_EXPORT: (N, Y, N, N, N, Y, Y),
    Perm.SESSION_VIEW: (Y, Y, Y, Y, N, N, Y),  # the chart: clinical staff and auditors
    Perm.SESSION_BOARD: (Y, Y, Y, Y, Y, N, N),  # the floor board: front desk too, no auditor
    Perm.SESSION_CHECK_IN: (N, Y, Y, N, Y, N, N),
    Perm.SESSION_CHART: (N, Y, Y, N, N, N, N),
    Perm.SESSION_ORDER: (N, Y, N, N, N, N, N),  # only a prescriber orders, approves, co-signs
    Perm.SESSION_CANCEL: (N, Y, Y, N, Y, N, N),
    Perm.SESSION_ADDENDUM: (N, Y, Y, N, N, N, N),
    Perm.REMS_SUBMIT: (Y, Y, Y, N, N, N, N),
    Perm.SCHEDULE_VIEW: (Y, Y, Y, Y, Y, N, Y),
    Perm.SCHEDULE_BOOK: (Y, Y, Y, Y, Y, N, N),
    Perm.SCHEDULE_MANAGE: (Y, N, N, N, N, N, N),
}


def test_every_permission_and_role_is_in_the_table():
    assert set(TABLE) == set(PERMISSIONS)
    assert set(COLUMNS) == set(Role)


@pytest.mark.parametrize("perm", list(TABLE))
@pytest.mark.parametrize("role", COLUMNS)
def test_role_table(perm, role):
    expected = TABLE[perm][COLUMNS.index(role)]

    assert can(role, perm) is expected
    assert can(role.value, perm) is expected  # the plain string stored on Membership


def test_auditor_can_change_nothing():
    writes = [p for p in PERMISSIONS if not p.endswith((".view", ".export"))]
    assert writes
    assert not [p for p in writes if can(Role.AUDITOR, p)]


def test_no_role_and_unknown_roles_may_do_nothing():
    for perm in PERMISSIONS:
        assert not can(None, perm)
        assert not can("", perm)
        assert not can("patient", perm)


def test_primary_clinicians_are_prescribers_nurses_and_therapists():
    assert frozenset({Role.PRESCRIBER, Role.NURSE, Role.THERAPIST}) == CLINICIAN_ROLES
