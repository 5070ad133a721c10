"""The live floor board: every chair at a location and who is in it, read in a fixed number of queries.

`floor(actor, location, now)` answers what a charge nurse (or the front desk checking patients in)
needs at a glance, per chair or room: the patient, the route, the phase (state word and symbol), the
minutes since the first dose, the next vitals due (and whether any are late, `checkpoints.schedule`
from the protocol's checkpoints, clinical.md §2.5 [DUNLOP-684, YALE-BP]; Spravato §1.5
[SPRHCP-DOSE, REMS-PMF]), the observation time left (`gates.observation_ends_at`: Spravato ≥ 120 min
from the first device, clinical.md §0/§1.3 [LABEL-120TY, REMS-FDA]; other routes the clinic-set
minimum from the end of dosing, §2.6 [NF]), open alerts, and whether the escort is confirmed.

Queries (whatever the number of chairs and sessions): the location's chairs, the sessions of the
floor (live ones plus today's), the live ones' protocol snapshots (one per version), their vital
signs, their open alerts and their doses — six. Nothing is written here; the view records the audit
row. Roles without SESSION_VIEW (the front desk) see the alert count but not the alerts' clinical
text, and no link to the chart.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Min, Q, Subquery

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.clinics.models import Location, Resource
from ketacare.protocols.definitions import Protocol
from ketacare.sessions import checkpoints, core, gates, monitoring
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import (
    ACTIVE_STATES,
    AlertStatus,
    DoseAdministration,
    SessionAlert,
    TreatmentSession,
    VitalSigns,
)

# The phase's symbol next to its word (never colour alone). Decorative: screen readers read the word.
PHASE_ICONS: dict[str, str] = {
    State.SCHEDULED: "◷",
    State.CHECKED_IN: "➜",
    State.PRE_DOSE_CHECKS: "☑",
    State.DOSING: "◉",
    State.OBSERVATION: "◑",
    State.READY_FOR_DISCHARGE: "✔",
    State.DISCHARGED: "⇥",
    State.SIGNED: "✎",
    State.STOPPED_EARLY: "■",
    State.CANCELLED: "✕",
}
# The columns the board reads (a day's sessions are loaded on every poll: no snapshots, no JSON).
SESSION_FIELDS = (
    "clinic_id",
    "location_id",
    "chair_id",
    "route",
    "sequence",
    "protocol_version_id",
    "scheduled_at",
    "state",
    "first_dose_at",
    "dose_ended_at",
    "escort_confirmed_at",
    "discharged_at",
    "ended_early_at",
    "patient__legal_first_name",
    "patient__legal_last_name",
    "patient__preferred_name",
    "plan__planned_sessions",
)
LIVE = frozenset(s.value for s in ACTIVE_STATES)
DONE = frozenset({State.DISCHARGED.value, State.SIGNED.value, State.STOPPED_EARLY.value})


@dataclasses.dataclass(frozen=True)
class AlertLine:
    id: int
    summary: str
    status: str
    raised_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Live:
    """What the board shows of one session in the building."""

    session: TreatmentSession
    phase: str
    phase_label: str
    icon: str
    elapsed_minutes: int | None
    next_vitals: checkpoints.Slot | None
    late_vitals: int
    observation_ends_at: datetime.datetime | None
    observation_left_minutes: int | None
    alerts: tuple[AlertLine, ...]
    escort_confirmed: bool
    dose_given_mg: Decimal
    infusion_running: bool

    @property
    def vitals_late(self) -> bool:
        return self.late_vitals > 0

    @property
    def open_alerts(self) -> int:
        return len(self.alerts)


@dataclasses.dataclass(frozen=True)
class Tile:
    chair: Resource
    live: Live | None  # None: the chair is free


@dataclasses.dataclass(frozen=True)
class Board:
    location: Location
    now: datetime.datetime
    tiles: tuple[Tile, ...]
    waiting: tuple[Live, ...]  # checked in, no chair (or a chair no longer active here)
    expected: tuple[TreatmentSession, ...]  # scheduled today, not yet arrived
    done_today: int
    can_open_chart: bool

    @property
    def sessions(self) -> list[TreatmentSession]:
        """Every session the board shows (the audit row names them)."""
        shown = [t.live.session for t in self.tiles if t.live] + [w.session for w in self.waiting]
        return shown + list(self.expected)

    @property
    def occupied(self) -> int:
        return sum(1 for t in self.tiles if t.live)


def day_bounds(location: Location, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The clinic's calendar day holding `now` (the clinic's time zone), as aware datetimes."""
    zone = location.clinic.zone
    day = now.astimezone(zone).date()
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
    return start, end


def _observation_end(session: TreatmentSession, protocol: Protocol) -> datetime.datetime | None:
    if session.first_dose_at is None:
        return None
    try:
        return gates.observation_ends_at(
            route=session.protocol_route,  # type: ignore[arg-type]
            protocol=protocol,
            first_dose_at=session.first_dose_at,
            dose_ended_at=session.dose_ended_at,
        )
    except ValueError:  # a snapshot whose route disagrees with the session: show nothing rather than guess
        return None


def _live(
    session: TreatmentSession,
    protocol: Protocol,
    vitals: list[VitalSigns],
    alerts: list[SessionAlert],
    doses: list[DoseAdministration],
    now: datetime.datetime,
) -> Live:
    ends = _observation_end(session, protocol)
    # The same schedule as the chairside page (from the rows loaded above: no query here).
    slots = monitoring.vitals_schedule(session, now, vitals)
    elapsed = int((now - session.first_dose_at).total_seconds() // 60) if session.first_dose_at else None
    left = max(0, int(-(-(ends - now).total_seconds() // 60))) if ends else None
    return Live(
        session=session,
        phase=session.state,
        phase_label=session.state_label,
        icon=PHASE_ICONS.get(session.state, "•"),
        elapsed_minutes=elapsed,
        next_vitals=checkpoints.next_due(slots),
        late_vitals=len(checkpoints.late(slots)),
        observation_ends_at=ends,
        observation_left_minutes=left,
        alerts=tuple(AlertLine(a.pk, a.summary, a.status, a.raised_at) for a in alerts),
        escort_confirmed=session.escort_confirmed_at is not None,
        dose_given_mg=sum((d.dose_mg for d in doses), Decimal(0)),
        infusion_running=any(d.ended_at is None and d.rate_ml_per_hour is not None for d in doses),
    )


def floor(actor: Actor, location: Location, now: datetime.datetime) -> Board:
    """The board of `location` at `now` (403 without SESSION_BOARD; the caller checks the clinic)."""
    core.require(actor, Perm.SESSION_BOARD)
    start, end = day_bounds(location, now)
    chairs = list(
        Resource.objects.filter(clinic=actor.clinic, location=location, is_active=True).order_by("kind", "name", "pk")
    )
    sessions = list(
        TreatmentSession.objects.filter(clinic=actor.clinic, location=location)
        .filter(Q(state__in=LIVE) | Q(scheduled_at__gte=start, scheduled_at__lt=end))
        .exclude(state=State.CANCELLED)
        .select_related("patient", "plan")
        # The protocol snapshots are read for the live sessions only (below); a day's finished
        # sessions would otherwise decode dozens of large JSON documents on every poll.
        .only(*SESSION_FIELDS)
        .order_by("scheduled_at", "pk")
    )
    live = [s for s in sessions if s.state in LIVE]
    ids = [s.pk for s in live]
    snapshots: dict[int, Any] = {}
    vitals: dict[int, list[VitalSigns]] = defaultdict(list)
    alerts: dict[int, list[SessionAlert]] = defaultdict(list)
    doses: dict[int, list[DoseAdministration]] = defaultdict(list)
    if ids:
        # One snapshot per protocol version is enough (a published version never changes).
        first_of_version = (
            TreatmentSession.objects.filter(pk__in=ids)
            .order_by()
            .values("protocol_version_id")
            .annotate(first=Min("pk"))
            .values("first")
        )
        snapshots = dict(
            TreatmentSession.objects.filter(pk__in=Subquery(first_of_version)).values_list(
                "protocol_version_id", "protocol_snapshot"
            )
        )
        for v in (
            VitalSigns.objects.filter(session_id__in=ids)
            .only("session_id", "phase", "taken_at", "systolic_bp", "diastolic_bp", "heart_rate", "spo2")
            .order_by("taken_at", "id")
        ):
            vitals[v.session_id].append(v)
        for a in SessionAlert.objects.filter(
            session_id__in=ids, status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]
        ).only("session_id", "summary", "status", "raised_at"):
            alerts[a.session_id].append(a)
        for d in DoseAdministration.objects.filter(session_id__in=ids).only(
            "session_id", "dose_mg", "ended_at", "rate_ml_per_hour", "started_at"
        ):
            doses[d.session_id].append(d)

    protocols: dict[int, Protocol] = {}
    by_chair: dict[int, Live] = {}
    waiting: list[Live] = []
    chair_ids = {c.pk for c in chairs}
    for s in live:
        protocol = protocols.get(s.protocol_version_id)
        if protocol is None:
            protocol = protocols[s.protocol_version_id] = Protocol.model_validate(snapshots[s.protocol_version_id])
        s._protocol_cache = protocol  # type: ignore[attr-defined]
        row = _live(s, protocol, vitals[s.pk], alerts[s.pk], doses[s.pk], now)
        if s.chair_id in chair_ids and s.chair_id not in by_chair:
            by_chair[s.chair_id] = row  # type: ignore[index]
        else:
            waiting.append(row)  # no chair yet (or two in one chair: the second waits, visibly)
    expected = tuple(s for s in sessions if s.state == State.SCHEDULED)
    return Board(
        location=location,
        now=now,
        tiles=tuple(Tile(c, by_chair.get(c.pk)) for c in chairs),
        waiting=tuple(waiting),
        expected=expected,
        done_today=sum(1 for s in sessions if s.state in DONE),
        can_open_chart=actor.can(Perm.SESSION_VIEW),
    )
