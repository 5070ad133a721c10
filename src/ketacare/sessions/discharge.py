"""Discharge: the gates enforced on the server, the protocol's checklist, the escort, ready and
discharged (issue #7 item 5).

The gates are `gates.discharge_gates` (pure): minimum observation (Spravato ≥ 120 min from the first
device, clinical.md §0, §1.3 [LABEL-120TY, REMS-FDA]; other routes the clinic-set time from the end
of dosing, §2.6 [NF]), each checklist item of the protocol (§2.6 [RCEM-DC]), the latest vitals within
the protocol's limits, and the escort present (§2.6). `discharge` refuses while any gate is unmet and
names every reason; the page's disabled button is only a hint, the server decides.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.sessions import core, gates
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import TreatmentSession, VitalSigns

NUMERIC_MEASURES = ("systolic_bp", "diastolic_bp", "heart_rate", "spo2")


def ticked(session: TreatmentSession) -> set[str]:
    """The protocol's checklist items ticked as done (ticks of items the protocol lacks are ignored)."""
    known = {item.id for item in session.protocol.discharge_checklist}
    data = session.discharge_checklist or {}
    return {k for k, v in data.items() if k in known and isinstance(v, dict) and v.get("done", True)}


def latest_vitals(session: TreatmentSession, vitals: list[VitalSigns] | None = None) -> dict[str, int]:
    """Each measure's latest recorded value after dosing began (None-free), for the vital-limit gates."""
    rows = list(session.vitals.order_by("taken_at", "id")) if vitals is None else vitals
    latest: dict[str, int] = {}
    for v in rows:
        if session.first_dose_at is not None and v.taken_at < session.first_dose_at:
            continue
        latest.update(v.as_measures())
    return latest


def discharge_status(
    session: TreatmentSession, now: datetime.datetime, vitals: list[VitalSigns] | None = None
) -> list[gates.Gate]:
    """Every discharge gate of the session as of `now`, met or not, with the reason for the nurse."""
    return gates.discharge_gates(
        route=session.protocol_route,  # type: ignore[arg-type]
        protocol=session.protocol,
        first_dose_at=session.first_dose_at,
        dose_ended_at=session.dose_ended_at,
        now=now,
        checklist_done=ticked(session),
        latest_vitals=latest_vitals(session, vitals) or None,
        escort_present=session.escort_present_at is not None,
    )


def _live(session: TreatmentSession, what: str) -> None:
    if session.state not in (State.DOSING, State.OBSERVATION, State.READY_FOR_DISCHARGE):
        raise ValidationError(
            {"state": f"{what} is done while the patient is observed (the session is {session.state_label.lower()})."}
        )


@transaction.atomic
def tick_checklist(actor: Actor, session: TreatmentSession, item_id: str, done: bool) -> TreatmentSession:
    """Tick (or untick) one item of the protocol's discharge checklist, with who and when."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _live(session, "The discharge checklist")
    items = {item.id: item for item in session.protocol.discharge_checklist}
    item = items.get(item_id)
    if item is None:
        raise ValidationError({"item": "Checklist: choose one of the protocol's discharge items."})
    data = dict(session.discharge_checklist or {})
    was = item_id in ticked(session)
    if was == done:
        return session  # a double click changes nothing
    now = timezone.now()
    data[item_id] = {"done": done, "by": actor.user.pk, "by_name": actor.user.full_name, "at": now.isoformat()}
    session.discharge_checklist = data
    session.save(update_fields=["discharge_checklist"])
    core.add_event(
        actor,
        session,
        "checklist",
        f"Discharge checklist: {item.text} — {'done' if done else 'unticked'}",
        detail={"item": item_id, "done": done},
        at=now,
    )
    record(
        actor,
        AuditAction.UPDATE,
        "session.discharge_checklist",
        subject=session,
        patient=session.patient,
        detail={"item": item_id, "done": done},
    )
    return session


@transaction.atomic
def escort_present(actor: Actor, session: TreatmentSession) -> TreatmentSession:
    """The escort confirmed before dosing (name and phone) is here to take the patient home."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _live(session, "Marking the escort present")
    if session.escort_confirmed_at is None or not session.escort_name.strip():
        raise ValidationError(
            {"escort": "Escort: no escort was confirmed (name and phone) in the pre-dose checks; confirm one first."}
        )
    if session.escort_present_at is not None:
        return session
    now = timezone.now()
    session.escort_present_at = now
    session.save(update_fields=["escort_present_at"])
    core.add_event(
        actor,
        session,
        "escort",
        f"Escort present: {session.escort_name} ({session.escort_phone})",
        at=now,
    )
    record(actor, AuditAction.UPDATE, "session.escort_present", subject=session, patient=session.patient)
    return session


@transaction.atomic
def mark_ready(actor: Actor, session: TreatmentSession) -> TreatmentSession:
    """Observation → ready for discharge (the gates are checked at discharge itself)."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    if session.state == State.READY_FOR_DISCHARGE:
        return session
    return core.transition(actor, session, State.READY_FOR_DISCHARGE)


@transaction.atomic
def discharge(actor: Actor, session: TreatmentSession) -> TreatmentSession:
    """Discharge the patient: refused with every unmet gate's reason while any gate is unmet."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    if session.state == State.DISCHARGED:
        return session  # already done (a double click)
    if session.state not in (State.OBSERVATION, State.READY_FOR_DISCHARGE):
        raise ValidationError(
            {"discharge": [f"The session is {session.state_label.lower()}: only an observed patient is discharged."]}
        )
    now = timezone.now()
    status = discharge_status(session, now)
    blocking = gates.unmet(status)
    if blocking:
        raise ValidationError({"discharge": [gate.reason for gate in blocking]})
    detail: dict[str, Any] = {"gates": [{"id": g.id, "reason": g.reason} for g in status]}
    if session.state == State.OBSERVATION:
        core.transition(actor, session, State.READY_FOR_DISCHARGE, at=now)
    return core.transition(actor, session, State.DISCHARGED, at=now, detail=detail)
