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
    INTAKE_VIEW = "intake.view"
    INTAKE_EDIT = "intake.edit"
    INTAKE_SEND = "intake.send"
    ELIGIBILITY_VIEW = "eligibility.view"
    ELIGIBILITY_DECIDE = "eligibility.decide"
    CONSENT_VIEW = "consent.view"
    CONSENT_COLLECT = "consent.collect"
    CONSENT_COUNTERSIGN = "consent.countersign"
    CONSENT_WITHDRAW = "consent.withdraw"
    PROTOCOL_VIEW = "protocol.view"
    PROTOCOL_MANAGE = "protocol.manage"
    PROTOCOL_PUBLISH = "protocol.publish"
    PLAN_VIEW = "plan.view"
    PLAN_DRAFT = "plan.draft"
    PLAN_SIGN = "plan.sign"
    INVENTORY_VIEW = "inventory.view"
    INVENTORY_RECEIVE = "inventory.receive"
    INVENTORY_COUNT = "inventory.count"
    INVENTORY_ADMINISTER = "inventory.administer"
    INVENTORY_WITNESS = "inventory.witness"
    INVENTORY_INVESTIGATE = "inventory.investigate"
    INVENTORY_EXPORT = "inventory.export"
    SESSION_VIEW = "session.view"
    SESSION_BOARD = "session.board"
    SESSION_CHECK_IN = "session.check_in"
    SESSION_CHART = "session.chart"
    SESSION_ORDER = "session.order"
    SESSION_CANCEL = "session.cancel"
    SESSION_ADDENDUM = "session.addendum"
    REMS_SUBMIT = "rems.submit"
    SCHEDULE_VIEW = "schedule.view"
    SCHEDULE_BOOK = "schedule.book"
    SCHEDULE_MANAGE = "schedule.manage"


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
    # Intake: clinicians read it; nurses, prescribers and admins complete and review it; the front
    # desk may send the link and see whether it came back, not the answers.
    Perm.INTAKE_VIEW: frozenset(_CLINICAL | {Role.AUDITOR}),
    Perm.INTAKE_EDIT: frozenset({Role.ADMIN, Role.PRESCRIBER, Role.NURSE}),
    Perm.INTAKE_SEND: frozenset(_CLINICAL | {Role.FRONT_DESK}),
    # The software recommends; a prescriber decides (issue #5).
    Perm.ELIGIBILITY_VIEW: frozenset(_CLINICAL | {Role.AUDITOR}),
    Perm.ELIGIBILITY_DECIDE: frozenset({Role.PRESCRIBER}),
    # Consents: the front desk collects them like registration forms; clinicians countersign.
    Perm.CONSENT_VIEW: frozenset(_CLINICAL | {Role.FRONT_DESK, Role.AUDITOR}),
    Perm.CONSENT_COLLECT: frozenset(_CLINICAL | {Role.FRONT_DESK}),
    Perm.CONSENT_COUNTERSIGN: frozenset({Role.ADMIN, Role.PRESCRIBER, Role.NURSE}),
    Perm.CONSENT_WITHDRAW: frozenset(_CLINICAL | {Role.FRONT_DESK}),
    # Protocols: clinicians read; admins and prescribers adapt copies; only a prescriber publishes.
    Perm.PROTOCOL_VIEW: frozenset(_CLINICAL | {Role.AUDITOR}),
    Perm.PROTOCOL_MANAGE: frozenset({Role.ADMIN, Role.PRESCRIBER}),
    Perm.PROTOCOL_PUBLISH: frozenset({Role.PRESCRIBER}),
    # Treatment plans: a nurse may prepare a draft; only a prescriber signs.
    Perm.PLAN_VIEW: frozenset(_CLINICAL | {Role.AUDITOR}),
    Perm.PLAN_DRAFT: frozenset({Role.PRESCRIBER, Role.NURSE}),
    Perm.PLAN_SIGN: frozenset({Role.PRESCRIBER}),
    # Controlled-substance ledger (issue #6): the inventory manager receives, transfers, disposes
    # and counts; nurses and prescribers administer and waste; auditors read; nobody else sees it.
    Perm.INVENTORY_VIEW: frozenset({Role.PRESCRIBER, Role.NURSE, Role.INVENTORY, Role.AUDITOR}),
    Perm.INVENTORY_RECEIVE: frozenset({Role.INVENTORY}),
    Perm.INVENTORY_COUNT: frozenset({Role.INVENTORY}),
    Perm.INVENTORY_ADMINISTER: frozenset({Role.PRESCRIBER, Role.NURSE}),
    # A witness signs with their own password: any of the three who handle stock.
    Perm.INVENTORY_WITNESS: frozenset({Role.PRESCRIBER, Role.NURSE, Role.INVENTORY}),
    # Discrepancies and theft/loss cases: the inventory manager and the prescriber (registrant).
    Perm.INVENTORY_INVESTIGATE: frozenset({Role.PRESCRIBER, Role.INVENTORY}),
    Perm.INVENTORY_EXPORT: frozenset({Role.PRESCRIBER, Role.INVENTORY, Role.AUDITOR}),
    # Treatment sessions (issue #7). The chart is clinical; the front desk sees the floor board
    # (who is in which chair, phase, times) and checks patients in, but not the chart itself.
    Perm.SESSION_VIEW: frozenset(_CLINICAL | {Role.AUDITOR}),
    Perm.SESSION_BOARD: frozenset(_CLINICAL | {Role.FRONT_DESK}),
    Perm.SESSION_CHECK_IN: frozenset({Role.PRESCRIBER, Role.NURSE, Role.FRONT_DESK}),
    # Chairside charting: pre-dose checks, dosing, vitals, side effects, discharge, the nurse's signature.
    Perm.SESSION_CHART: frozenset({Role.PRESCRIBER, Role.NURSE}),
    # Prescriber decisions: one-off orders, dose changes, baseline decisions, the prescriber's signature.
    Perm.SESSION_ORDER: frozenset({Role.PRESCRIBER}),
    Perm.SESSION_CANCEL: frozenset({Role.PRESCRIBER, Role.NURSE, Role.FRONT_DESK}),
    Perm.SESSION_ADDENDUM: frozenset({Role.PRESCRIBER, Role.NURSE}),
    # Recording a Spravato REMS Patient Monitoring Form's submission.
    Perm.REMS_SUBMIT: frozenset({Role.ADMIN, Role.PRESCRIBER, Role.NURSE}),
    # Scheduling (issue #8): everyone who works with patients sees the calendars; the front desk and
    # clinicians book, move, cancel, confirm escorts and check in (a dosing visit also needs
    # session.check_in, since it creates and opens the treatment session); admins set hours,
    # closures and appointment types. The auditor reads; the inventory manager sees no calendar.
    Perm.SCHEDULE_VIEW: frozenset(_CLINICAL | {Role.FRONT_DESK, Role.AUDITOR}),
    Perm.SCHEDULE_BOOK: frozenset(_CLINICAL | {Role.FRONT_DESK}),
    Perm.SCHEDULE_MANAGE: frozenset({Role.ADMIN}),
}

# Roles that may be a patient's primary clinician.
CLINICIAN_ROLES = frozenset({Role.PRESCRIBER, Role.NURSE, Role.THERAPIST})


def can(role: str | None, perm: str) -> bool:
    if role is None:
        return False
    return role in PERMISSIONS[perm]
