"""The scheduling calendar's layout: where each visit is drawn (issue #8).

Two steps, so the geometry is tested without a browser:

1. `load(...)` reads what a location's calendar shows over a range of days, in a fixed number of
   queries whatever the number of visits: the appointments (with patient, type, chair and staff),
   the chairs and rooms, the closures, the opening hours, the staff hours (with each person's role)
   and, for the staff view, their time off.
2. `day_layout(...)` and `week_layout(...)` turn that into plain positions: a day is a grid in
   minutes from its first row (a 09:00 visit in a grid starting 08:00 has `start == 60`); a week
   cell is a horizontal timeline of that day's opening hours in percent. The templates only copy
   these numbers into CSS custom properties.

A visit is drawn as the visit itself (solid) and its buffer (hatched, "observation" after a dosing
visit, "recovery" otherwise). Cancelled visits are not drawn; they are counted and listed apart.
Status is a word and a symbol, never colour alone.

`series_lines(...)` is the patient's schedule: each series on one horizontal track from its first to
its last visit, one marker per visit (templates/scheduling/_series_line.html).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import OuterRef, Q, Subquery

from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.patients.models import Patient
from ketacare.scheduling.models import (
    Appointment,
    AppointmentState,
    Closure,
    OpeningHours,
    Series,
    StaffHours,
    TimeOff,
)

STEP_MINUTES = 15
STAFF_ROLES = (Role.NURSE, Role.PRESCRIBER, Role.THERAPIST)
ROLE_ORDER = {Role.NURSE.value: 0, Role.PRESCRIBER.value: 1, Role.THERAPIST.value: 2}
ROLE_LABEL = {Role.NURSE.value: "Nurse", Role.PRESCRIBER.value: "Prescriber", Role.THERAPIST.value: "Therapist"}
DEFAULT_OPEN = (datetime.time(8), datetime.time(18))
VIEWS = ("day", "week")
BYS = ("chairs", "staff")


# --- words ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Status:
    icon: str
    word: str
    css: str

    @property
    def text(self) -> str:
        return f"{self.icon} {self.word}"


def status_of(appointment: Appointment) -> Status:
    """The visit's state as a symbol and a word (the block's colour only repeats it)."""
    state = appointment.state
    if state == AppointmentState.BOOKED:
        if appointment.is_dosing and not appointment.escort_confirmed:
            return Status("⚠", "Escort not confirmed", "escort")
        return Status("✓", "Confirmed", "confirmed")
    if state == AppointmentState.CHECKED_IN:
        return Status("●", "Checked in", "checked-in")
    if state == AppointmentState.COMPLETED:
        return Status("✔", "Completed", "completed")
    if state == AppointmentState.NO_SHOW:
        return Status("✗", "No-show", "no-show")
    return Status("⊘", "Late cancellation" if appointment.late_cancel else "Cancelled", "cancelled")


def patient_name(patient: Patient) -> str:
    """Preferred (or legal) first name and last name: "Jordan Avery"."""
    return f"{patient.preferred_name or patient.legal_first_name} {patient.legal_last_name}".strip()


def patient_initials(patient: Patient) -> str:
    first = (patient.preferred_name or patient.legal_first_name or "?")[:1]
    last = (patient.legal_last_name or "?")[:1]
    return f"{first}.{last}.".upper()


def buffer_word(appointment: Appointment) -> str:
    return "observation" if appointment.is_dosing else "recovery"


# --- loading ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StaffRule:
    user_id: int
    name: str
    role: str
    weekday: int
    starts: datetime.time
    ends: datetime.time


@dataclasses.dataclass
class CalendarData:
    """Everything a location's calendar shows over [first, last] (local days)."""

    clinic: Clinic
    location: Location
    first: datetime.date
    last: datetime.date
    appointments: list[Appointment]
    resources: list[Resource]
    closures: list[Closure]
    opening: list[tuple[int, datetime.time, datetime.time]]
    staff_hours: list[StaffRule]
    time_off: list[TimeOff]

    @property
    def zone(self) -> Any:
        return self.clinic.zone


def day_bounds(
    clinic: Clinic, first: datetime.date, last: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    zone = clinic.zone
    return (
        datetime.datetime.combine(first, datetime.time.min, tzinfo=zone),
        datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone),
    )


def load(location: Location, first: datetime.date, last: datetime.date, *, with_staff: bool) -> CalendarData:
    """Read the calendar of `location` for local days first..last in a fixed number of queries."""
    clinic = location.clinic
    start, end = day_bounds(clinic, first, last)
    appointments = list(
        Appointment.objects.filter(clinic=clinic, location=location, starts_at__lt=end, held_until__gt=start)
        .select_related("patient", "appointment_type", "chair", "nurse", "clinician")
        .order_by("starts_at", "id")
    )
    resources = list(Resource.objects.filter(location=location, is_active=True).order_by("kind", "name", "pk"))
    closures = list(
        Closure.objects.filter(clinic=clinic, ends_at__gt=start, starts_at__lt=end)
        .filter(Q(location__isnull=True, resource__isnull=True) | Q(location=location) | Q(resource__location=location))
        .order_by("starts_at")
    )
    opening = list(OpeningHours.objects.filter(location=location).values_list("weekday", "opens", "closes"))
    staff_hours: list[StaffRule] = []
    time_off: list[TimeOff] = []
    if with_staff:
        role = Membership.objects.filter(
            user_id=OuterRef("user_id"), clinic=clinic, is_active=True, role__in=[r.value for r in STAFF_ROLES]
        ).values("role")[:1]
        rows = (
            StaffHours.objects.filter(clinic=clinic, location=location, user__is_active=True)
            .annotate(role=Subquery(role))
            .filter(role__isnull=False)
            .values_list("user_id", "user__full_name", "role", "weekday", "starts", "ends")
        )
        staff_hours = [StaffRule(*row) for row in rows]
        time_off = list(
            TimeOff.objects.filter(
                clinic=clinic, user_id__in=[r.user_id for r in staff_hours], ends_at__gt=start, starts_at__lt=end
            )
        )
    return CalendarData(
        clinic=clinic,
        location=location,
        first=first,
        last=last,
        appointments=appointments,
        resources=resources,
        closures=closures,
        opening=opening,
        staff_hours=staff_hours,
        time_off=time_off,
    )


# --- geometry ---------------------------------------------------------------------------------------


def _minute_of(value: datetime.datetime, day_start: datetime.datetime) -> int:
    """Wall-clock minutes from local midnight of the day (negative or past 1440 for other days).

    Wall clock, not elapsed time: on a daylight-saving day 09:00 is still drawn at 09:00, level with
    the opening hours, which are wall-clock times too."""
    local = value.astimezone(day_start.tzinfo)
    return (local.date() - day_start.date()).days * 1440 + local.hour * 60 + local.minute


def _opening_of(data: CalendarData, day: datetime.date) -> list[tuple[int, int]]:
    """The day's opening hours as minute ranges from local midnight."""
    spans = sorted((o.hour * 60 + o.minute, c.hour * 60 + c.minute) for wd, o, c in data.opening if wd == day.weekday())
    return spans


def _complement(spans: Sequence[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    cursor = lo
    for s, e in sorted(spans):
        if s > cursor:
            out.append((cursor, min(s, hi)))
        cursor = max(cursor, e)
    if cursor < hi:
        out.append((cursor, hi))
    return [(s, e) for s, e in out if e > s]


@dataclasses.dataclass
class Shade:
    """A shaded stretch of a column: a closure (with its reason), outside staff hours, time off."""

    start: float  # minutes from the grid's first row (day) or percent (week)
    length: float
    reason: str
    kind: str  # closure, off, time-off

    @property
    def end(self) -> float:
        return self.start + self.length


@dataclasses.dataclass
class Block:
    appointment: Appointment
    start: int  # minutes from the grid's first row
    visit: int  # minutes of the visit itself
    buffer: int  # minutes of recovery or observation after it
    status: Status
    patient: str
    time_label: str
    buffer_label: str
    start_label: str = ""
    lane: int = 0
    lanes: int = 1

    @property
    def short(self) -> bool:
        """Under 45 minutes the block has room for three lines: start and name, status, type."""
        return self.visit < 45

    @property
    def end(self) -> int:
        return self.start + self.visit + self.buffer

    @property
    def total(self) -> int:
        return self.visit + self.buffer

    @property
    def aria_label(self) -> str:
        a = self.appointment
        parts = [self.time_label, self.patient, a.appointment_type.name]
        if a.chair_id is not None and a.chair is not None:
            parts.append(a.chair.name)
        parts.append(self.status.word)
        if self.buffer:
            parts.append(self.buffer_label)
        return ", ".join(parts)


@dataclasses.dataclass
class Column:
    key: str
    label: str
    sub: str
    blocks: list[Block] = dataclasses.field(default_factory=list)
    shades: list[Shade] = dataclasses.field(default_factory=list)

    @property
    def lanes(self) -> int:
        return max((b.lanes for b in self.blocks), default=1)

    @property
    def min_rem(self) -> float:
        """The column's narrowest width: wide enough for each of its side-by-side lanes."""
        return max(11.5, 8.5 * self.lanes)


@dataclasses.dataclass
class HourMark:
    offset: int  # minutes from the grid's first row
    label: str


@dataclasses.dataclass
class DayLayout:
    day: datetime.date
    start_minute: int  # minutes from local midnight of the grid's first row
    minutes: int
    columns: list[Column]
    hours: list[HourMark]
    lines: list[int]  # 15-minute lines (offsets), hour lines included
    open_label: str
    is_open: bool
    now: int | None
    cancelled: list[Appointment]
    visit_count: int

    @property
    def rows(self) -> int:
        return self.minutes // STEP_MINUTES

    @property
    def focus(self) -> int:
        """Where the grid opens scrolled to: now on today, else the first visit or closure (minutes)."""
        if self.now is not None:
            return self.now
        starts = [b.start for c in self.columns for b in c.blocks]
        starts += [int(s.start) for c in self.columns for s in c.shades if s.kind == "closure"]
        return min(starts, default=0)


def _time_label(start: datetime.datetime, end: datetime.datetime, held: datetime.datetime, zone: Any) -> str:
    s, e = start.astimezone(zone), end.astimezone(zone)
    label = f"{s:%H:%M}–{e:%H:%M}"
    buffer = int((held - end).total_seconds() // 60)
    return label if buffer <= 0 else f"{label} (+{buffer} min)"


def _block(appointment: Appointment, day_start: datetime.datetime, grid_lo: int, grid_hi: int, zone: Any) -> Block:
    s = max(_minute_of(appointment.starts_at, day_start), grid_lo)
    e = min(_minute_of(appointment.ends_at, day_start), grid_hi)
    h = min(_minute_of(appointment.held_until, day_start), grid_hi)
    e = max(e, s)
    h = max(h, e)
    word = buffer_word(appointment)
    buffer = h - e
    return Block(
        appointment=appointment,
        start=s - grid_lo,
        visit=e - s,
        buffer=buffer,
        status=status_of(appointment),
        patient=patient_name(appointment.patient),
        time_label=_time_label(appointment.starts_at, appointment.ends_at, appointment.held_until, zone),
        buffer_label=f"{int((appointment.held_until - appointment.ends_at).total_seconds() // 60)} min {word}",
        start_label=f"{appointment.starts_at.astimezone(zone):%H:%M}",
    )


def assign_lanes(blocks: list[Block]) -> None:
    """Side by side where blocks overlap: each cluster of overlapping blocks gets as many lanes as
    it needs at most, and each block the first lane free at its start."""
    ordered = sorted(blocks, key=lambda b: (b.start, -b.total))
    cluster: list[Block] = []
    cluster_end = -1
    lane_ends: list[int] = []

    def close() -> None:
        lanes = max((b.lane for b in cluster), default=0) + 1
        for b in cluster:
            b.lanes = lanes

    for block in ordered:
        if cluster and block.start >= cluster_end:
            close()
            cluster, lane_ends = [], []
        for n, ends in enumerate(lane_ends):
            if ends <= block.start:
                block.lane = n
                lane_ends[n] = block.end
                break
        else:
            block.lane = len(lane_ends)
            lane_ends.append(block.end)
        cluster.append(block)
        cluster_end = max(cluster_end, block.end)
    if cluster:
        close()


def _staff_columns(data: CalendarData, weekdays: Iterable[int]) -> list[tuple[str, str, str, int]]:
    """(key, name, role label, user id) of the staff working at the location on any of `weekdays`,
    nurses first, then prescribers, then therapists."""
    wanted = set(weekdays)
    people: dict[int, tuple[str, str]] = {}
    for rule in data.staff_hours:
        if rule.weekday in wanted:
            people[rule.user_id] = (rule.name, rule.role)
    ordered = sorted(people.items(), key=lambda kv: (ROLE_ORDER.get(kv[1][1], 9), kv[1][0], kv[0]))
    return [(f"u{uid}", name, ROLE_LABEL.get(role, role), uid) for uid, (name, role) in ordered]


def _staff_of(appointment: Appointment) -> list[tuple[int, User]]:
    out: list[tuple[int, User]] = []
    for user_id, user in ((appointment.nurse_id, appointment.nurse), (appointment.clinician_id, appointment.clinician)):
        if user_id is not None and user is not None and all(uid != user_id for uid, _ in out):
            out.append((user_id, user))
    return out


def _space_key(appointment: Appointment) -> str:
    return f"r{appointment.chair_id}" if appointment.chair_id is not None else "none"


def _resource_columns(data: CalendarData, appointments: Sequence[Appointment]) -> list[Column]:
    columns = [Column(f"r{r.pk}", r.name, r.get_kind_display(), []) for r in data.resources]
    have = {c.key for c in columns}
    for a in appointments:
        key = _space_key(a)
        if key in have:
            continue
        have.add(key)
        if a.chair is not None:
            columns.append(Column(key, a.chair.name, f"{a.chair.get_kind_display()} (inactive)"))
        else:
            columns.append(Column("none", "No chair or room", "Telehealth"))
    return columns


def _closures_for(data: CalendarData, resource_id: int | None) -> list[Closure]:
    return [c for c in data.closures if c.resource_id is None or c.resource_id == resource_id]


def day_layout(data: CalendarData, day: datetime.date, *, by: str, now: datetime.datetime) -> DayLayout:
    zone = data.zone
    day_start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    day_end = day_start + datetime.timedelta(days=1)
    opening = _opening_of(data, day)
    todays = [a for a in data.appointments if a.starts_at < day_end and a.held_until > day_start]
    drawn = [a for a in todays if a.state != AppointmentState.CANCELLED]
    cancelled = [a for a in todays if a.state == AppointmentState.CANCELLED]

    lo, hi = (
        (opening[0][0], max(e for _, e in opening))
        if opening
        else (DEFAULT_OPEN[0].hour * 60, DEFAULT_OPEN[1].hour * 60)
    )
    for a in drawn:
        lo = min(lo, max(_minute_of(a.starts_at, day_start), 0))
        hi = max(hi, min(_minute_of(a.held_until, day_start), 24 * 60))
    lo = (lo // 60) * 60
    hi = min(-(-hi // 60) * 60, 24 * 60)

    if by == "staff":
        columns = [Column(key, name, role) for key, name, role, _ in _staff_columns(data, [day.weekday()])]
        by_key = {c.key: c for c in columns}
        for a in drawn:
            for uid, user in _staff_of(a):
                key = f"u{uid}"
                if key not in by_key:
                    by_key[key] = Column(key, user.full_name, "No hours here")
                    columns.append(by_key[key])
                by_key[key].blocks.append(_block(a, day_start, lo, hi, zone))
        for column in columns:
            uid = int(column.key[1:])
            hours = sorted(
                (r.starts.hour * 60 + r.starts.minute, r.ends.hour * 60 + r.ends.minute)
                for r in data.staff_hours
                if r.user_id == uid and r.weekday == day.weekday()
            )
            for s, e in _complement(hours, lo, hi):
                column.shades.append(Shade(s - lo, e - s, "Not working", "off"))
            for off in data.time_off:
                if off.user_id == uid:
                    _add_shade(
                        column, off.starts_at, off.ends_at, day_start, lo, hi, off.reason or "Time off", "time-off"
                    )
            for closure in _closures_for(data, None):
                if closure.resource_id is None:
                    _add_shade(column, closure.starts_at, closure.ends_at, day_start, lo, hi, closure.reason, "closure")
    else:
        columns = _resource_columns(data, drawn)
        by_key = {c.key: c for c in columns}
        for a in drawn:
            by_key[_space_key(a)].blocks.append(_block(a, day_start, lo, hi, zone))
        for column in columns:
            rid = int(column.key[1:]) if column.key.startswith("r") else None
            for closure in _closures_for(data, rid):
                _add_shade(column, closure.starts_at, closure.ends_at, day_start, lo, hi, closure.reason, "closure")
    for column in columns:
        assign_lanes(column.blocks)
        column.shades.sort(key=lambda s: s.start)

    now_local = now.astimezone(zone)
    now_offset = None
    if now_local.date() == day:
        minute = now_local.hour * 60 + now_local.minute
        if lo <= minute <= hi:
            now_offset = minute - lo
    return DayLayout(
        day=day,
        start_minute=lo,
        minutes=hi - lo,
        columns=columns,
        hours=[HourMark(m - lo, f"{m // 60:02d}:00") for m in range(lo, hi, 60)],
        lines=list(range(0, hi - lo, STEP_MINUTES)),
        open_label=_open_label(opening),
        is_open=bool(opening),
        now=now_offset,
        cancelled=cancelled,
        visit_count=len(drawn),
    )


def _add_shade(
    column: Column,
    starts: datetime.datetime,
    ends: datetime.datetime,
    day_start: datetime.datetime,
    lo: int,
    hi: int,
    reason: str,
    kind: str,
) -> None:
    s = max(_minute_of(starts, day_start), lo)
    e = min(_minute_of(ends, day_start), hi)
    if e > s:
        column.shades.append(Shade(s - lo, e - s, reason, kind))


def _open_label(opening: Sequence[tuple[int, int]]) -> str:
    if not opening:
        return "Closed"
    return ", ".join(f"{s // 60:02d}:{s % 60:02d}–{e // 60:02d}:{e % 60:02d}" for s, e in opening)


# --- week -------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Bar:
    appointment: Appointment
    left: float  # percent of the day's timeline
    width: float
    visit_share: float  # percent of the bar that is the visit (the rest is the buffer)
    status: Status
    title: str
    lane: int = 0
    lanes: int = 1


@dataclasses.dataclass
class WeekCell:
    day: datetime.date
    bars: list[Bar]
    shades: list[Shade]
    closed: bool


@dataclasses.dataclass
class WeekRow:
    key: str
    label: str
    sub: str
    cells: list[WeekCell]


@dataclasses.dataclass
class WeekDay:
    day: datetime.date
    count: int
    open_label: str
    is_today: bool
    is_open: bool


@dataclasses.dataclass
class WeekLayout:
    monday: datetime.date
    days: list[WeekDay]
    rows: list[WeekRow]
    cancelled: list[Appointment]
    visit_count: int


def week_of(day: datetime.date) -> list[datetime.date]:
    monday = day - datetime.timedelta(days=day.weekday())
    return [monday + datetime.timedelta(days=n) for n in range(7)]


def _pct(value: float) -> float:
    return round(max(0.0, min(100.0, value)), 3)


def week_layout(data: CalendarData, day: datetime.date, *, by: str, now: datetime.datetime) -> WeekLayout:
    zone = data.zone
    days = week_of(day)
    today = now.astimezone(zone).date()
    drawn = [a for a in data.appointments if a.state != AppointmentState.CANCELLED]
    cancelled = [a for a in data.appointments if a.state == AppointmentState.CANCELLED]

    by_day: dict[datetime.date, list[Appointment]] = defaultdict(list)
    for a in drawn:
        by_day[a.starts_at.astimezone(zone).date()].append(a)

    # Each day's timeline: its opening hours, widened to the whole hours of any visit outside them.
    spans: dict[datetime.date, tuple[int, int]] = {}
    heads: list[WeekDay] = []
    for d in days:
        opening = _opening_of(data, d)
        day_start = datetime.datetime.combine(d, datetime.time.min, tzinfo=zone)
        if opening:
            lo, hi = opening[0][0], max(e for _, e in opening)
        elif by_day.get(d):
            lo, hi = 24 * 60, 0
        else:
            lo, hi = DEFAULT_OPEN[0].hour * 60, DEFAULT_OPEN[1].hour * 60
        for a in by_day.get(d, []):
            lo = min(lo, max(_minute_of(a.starts_at, day_start), 0) // 60 * 60)
            hi = max(hi, min(-(-_minute_of(a.held_until, day_start) // 60) * 60, 24 * 60))
        spans[d] = (lo, hi)
        heads.append(WeekDay(d, len(by_day.get(d, [])), _open_label(opening), d == today, bool(opening)))

    if by == "staff":
        keys = [(key, name, role) for key, name, role, _ in _staff_columns(data, range(7))]
        seen = {k for k, _, _ in keys}
        for a in drawn:
            for uid, user in _staff_of(a):
                if f"u{uid}" not in seen:
                    seen.add(f"u{uid}")
                    keys.append((f"u{uid}", user.full_name, "No hours here"))
    else:
        keys = [(c.key, c.label, c.sub) for c in _resource_columns(data, drawn)]

    rows: list[WeekRow] = []
    for key, label, sub in keys:
        cells: list[WeekCell] = []
        for d in days:
            lo, hi = spans[d]
            length = max(hi - lo, 1)
            day_start = datetime.datetime.combine(d, datetime.time.min, tzinfo=zone)
            bars: list[Bar] = []
            for a in by_day.get(d, []):
                if key.startswith("u"):
                    if int(key[1:]) not in (uid for uid, _ in _staff_of(a)):
                        continue
                elif _space_key(a) != key:
                    continue
                s = _minute_of(a.starts_at, day_start)
                e = _minute_of(a.ends_at, day_start)
                h = _minute_of(a.held_until, day_start)
                total = max(h - s, 1)
                status = status_of(a)
                bars.append(
                    Bar(
                        appointment=a,
                        left=_pct((s - lo) * 100 / length),
                        width=_pct(total * 100 / length),
                        visit_share=_pct((e - s) * 100 / total),
                        status=status,
                        title=(
                            f"{_time_label(a.starts_at, a.ends_at, a.held_until, zone)} · "
                            f"{patient_name(a.patient)} · {a.appointment_type.name} · {status.word}"
                        ),
                    )
                )
            _bar_lanes(bars)
            shades: list[Shade] = []
            if key.startswith("u"):
                uid = int(key[1:])
                hours = sorted(
                    (r.starts.hour * 60 + r.starts.minute, r.ends.hour * 60 + r.ends.minute)
                    for r in data.staff_hours
                    if r.user_id == uid and r.weekday == d.weekday()
                )
                for s, e in _complement(hours, lo, hi):
                    shades.append(
                        Shade(_pct((s - lo) * 100 / length), _pct((e - s) * 100 / length), "Not working", "off")
                    )
                marks: list[tuple[datetime.datetime, datetime.datetime, str, str]] = [
                    (o.starts_at, o.ends_at, o.reason or "Time off", "time-off")
                    for o in data.time_off
                    if o.user_id == uid
                ]
                closures = [c for c in data.closures if c.resource_id is None]
            else:
                rid = int(key[1:]) if key.startswith("r") else None
                closures = _closures_for(data, rid)
                marks = []
            marks += [(c.starts_at, c.ends_at, c.reason, "closure") for c in closures]
            for starts, ends, reason, kind in marks:
                s = max(_minute_of(starts, day_start), lo)
                e = min(_minute_of(ends, day_start), hi)
                if e > s:
                    shades.append(Shade(_pct((s - lo) * 100 / length), _pct((e - s) * 100 / length), reason, kind))
            cells.append(WeekCell(d, bars, shades, closed=not heads[days.index(d)].is_open and not bars))
        rows.append(WeekRow(key, label, sub, cells))
    return WeekLayout(monday=days[0], days=heads, rows=rows, cancelled=cancelled, visit_count=len(drawn))


BAR_MIN_PERCENT = 18.0  # a bar is drawn at least this wide (CSS min-width), so lanes count it so


def _bar_lanes(bars: list[Bar]) -> None:
    """Bars that would touch in one cell go on separate lanes (same rule as the day's lanes)."""
    ordered = sorted(bars, key=lambda b: (b.left, -b.width))
    lane_ends: list[float] = []
    for bar in ordered:
        end = bar.left + max(bar.width, BAR_MIN_PERCENT)
        for n, ends in enumerate(lane_ends):
            if ends <= bar.left:
                bar.lane = n
                lane_ends[n] = end
                break
        else:
            bar.lane = len(lane_ends)
            lane_ends.append(end)
    for bar in bars:
        bar.lanes = max(len(lane_ends), 1)


# --- a patient's series on one line ------------------------------------------------------------------


@dataclasses.dataclass
class Marker:
    appointment: Appointment
    number: int
    left: float  # percent along the track
    status: Status
    label: str


@dataclasses.dataclass
class SeriesLine:
    series: Series
    title: str
    first: datetime.date
    last: datetime.date
    markers: list[Marker]
    today: float | None  # percent along the track, None when outside it
    today_label: str
    done: int
    left: int


def series_line(series: Series, visits: Sequence[Appointment], *, zone: Any, today: datetime.date) -> SeriesLine:
    """One series as a track from its first to its last visit's local date, a marker per visit."""
    ordered = sorted(visits, key=lambda a: (a.starts_at, a.pk))
    dates = [a.starts_at.astimezone(zone).date() for a in ordered]
    first = dates[0] if dates else today
    last = dates[-1] if dates else today
    span = max((last - first).days, 0)
    markers: list[Marker] = []
    for n, (a, d) in enumerate(zip(ordered, dates, strict=True), start=1):
        number = a.sequence or n
        left = 50.0 if span == 0 else _pct((d - first).days * 100 / span)
        status = status_of(a)
        when = a.starts_at.astimezone(zone)
        markers.append(
            Marker(
                appointment=a,
                number=number,
                left=left,
                status=status,
                label=f"Visit {number} of {series.count}, {when:%a %d %b %H:%M}, {status.word}",
            )
        )
    if span == 0:
        position: float | None = 50.0 if today == first else None
    else:
        position = _pct((today - first).days * 100 / span) if first <= today <= last else None
    if today < first:
        today_label = f"Today is before the first visit ({(first - today).days} days to go)"
    elif today > last:
        today_label = "Today is after the last visit"
    else:
        today_label = f"Today, {today:%a %d %b}"
    live = [a for a in ordered if a.state != AppointmentState.CANCELLED]
    done = sum(1 for a in live if a.state == AppointmentState.COMPLETED)
    return SeriesLine(
        series=series,
        title=f"{series.appointment_type.name} · {series.count} visits",
        first=first,
        last=last,
        markers=markers,
        today=position,
        today_label=today_label,
        done=done,
        left=len([a for a in live if a.state in (AppointmentState.BOOKED, AppointmentState.CHECKED_IN)]),
    )


def series_lines(patient: Patient, *, zone: Any, today: datetime.date) -> list[SeriesLine]:
    """Every series of the patient, newest first, each on one line (two queries)."""
    series = list(
        Series.objects.filter(clinic=patient.clinic, patient=patient)
        .select_related("appointment_type", "location")
        .order_by("-created_at", "-pk")
    )
    visits: dict[int, list[Appointment]] = defaultdict(list)
    for a in (
        Appointment.objects.filter(clinic=patient.clinic, series__in=series)
        .select_related("appointment_type", "patient")
        .order_by("starts_at", "pk")
    ):
        if a.series_id is not None:
            visits[a.series_id].append(a)
    return [series_line(s, visits[s.pk], zone=zone, today=today) for s in series]
