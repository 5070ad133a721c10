"""Roles and what each may do. The one table every view and endpoint consults.

A permission is a plain string `<area>.<verb>`; `can(role, perm)` is the only check.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    PRESCRIBER = "prescriber", "Prescriber"
    NURSE = "nurse", "Nurse"
    THERAPIST = "therapist", "Therapist"
    FRONT_DESK = "front_desk", "Front desk"
    INVENTORY = "inventory", "Inventory manager"
    AUDITOR = "auditor", "Auditor (read-only)"


class Perm:
    PATIENT_VIEW = "patient.view"
    PATIENT_CREATE = "patient.create"
    PATIENT_EDIT = "patient.edit"
    AUDIT_VIEW = "audit.view"
    AUDIT_EXPORT = "audit.export"
    CLINIC_MANAGE = "clinic.manage"
    MEASURE_VIEW = "measure.view"
    MEASURE_ENTER = "measure.enter"
    MEASURE_SEND = "measure.send"
    ALERT_VIEW = "alert.view"
    ALERT_ACT = "alert.act"


_CLINICAL = {Role.ADMIN, Role.PRESCRIBER, Role.NURSE, Role.THERAPIST}

PERMISSIONS: dict[str, frozenset[Role]] = {
    # Inventory managers handle the controlled-substance ledger, not charts.
    Perm.PATIENT_VIEW: frozenset(_CLINICAL | {Role.FRONT_DESK, Role.AUDITOR}),
    # Registration and demographics: front desk, nurses, prescribers and admins. Therapists read.
    Perm.PATIENT_CREATE: frozenset({Role.ADMIN, Role.PRESCRIBER, Role.NURSE, Role.FRONT_DESK}),
    Perm.PATIENT_EDIT: frozenset({Role.ADMIN, Role.PRESCRIBER, Role.NURSE, Role.FRONT_DESK}),
    Perm.AUDIT_VIEW: frozenset({Role.ADMIN, Role.AUDITOR}),
    Perm.AUDIT_EXPORT: frozenset({Role.ADMIN, Role.AUDITOR}),
    Perm.CLINIC_MANAGE: frozenset({Role.ADMIN}),
    # Scores are clinical: clinicians read and enter them; the auditor reads. Front desk may hand
    # a tablet over (kiosk) but does not read scores.
    Perm.MEASURE_VIEW: frozenset(_CLINICAL | {Role.AUDITOR}),
    Perm.MEASURE_ENTER: frozenset(_CLINICAL),
    # Sending questionnaires (link or kiosk) and seeing whether they were answered: no scores.
    Perm.MEASURE_SEND: frozenset(_CLINICAL | {Role.FRONT_DESK}),
    # Safety alerts: every clinician sees them until closed and may act on them.
    Perm.ALERT_VIEW: frozenset(_CLINICAL | {Role.AUDITOR}),
    Perm.ALERT_ACT: frozenset(_CLINICAL),
}

# Roles that may be a patient's primary clinician.
CLINICIAN_ROLES = frozenset({Role.PRESCRIBER, Role.NURSE, Role.THERAPIST})


def can(role: str | None, perm: str) -> bool:
    if role is None:
        return False
    return role in PERMISSIONS[perm]
