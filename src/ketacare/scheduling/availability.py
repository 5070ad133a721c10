"""From the database to the slot finder: what a visit needs, and each candidate's calendar (issue #8).

`shape_of` says how long a visit is and how long its buffer (the protocol's minimum observation for a
dosing visit). `needs_for` builds one `slots.Need` per kind of resource the appointment type needs,
each with the calendars of its candidates over a time range:

- a chair or room at the location: open during the location's opening hours, minus holidays and
  closures of the clinic, the location or that chair;
- a nurse: `patients_per_nurse` places per nurse (one calendar per place, key `staff:<id>:<lane>`),
  open during the nurse's hours at the location minus time off and holidays;
- an exclusive clinician (prescriber for a consultation, therapist for integration therapy): one
  place, key `staff:<id>:0`;
- a prescriber on site (Spravato): open during a prescriber's hours at the location; never held,
  since one prescriber on site covers every patient there (key `onsite:<id>`).

A type may be limited to some chairs or rooms (`AppointmentType.resources`, e.g. integration therapy
in the integration room). Busy times are the live holds overlapping the range (one query).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError

from ketacare.accounts.models import Membership
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.protocols.definitions import Protocol
from ketacare.scheduling import slots
from ketacare.scheduling.models import (
    AppointmentType,
    ClinicianRole,
    Closure,
    Hold,
    OpeningHours,
    Space,
    StaffHours,
    TimeOff,
    settings_for,
)

Interval = slots.Interval


@dataclasses.dataclass(frozen=True)
class VisitShape:
    appointment_type: AppointmentType
    location: Location
    duration: datetime.timedelta  # the visit itself
    buffer: datetime.timedelta  # recovery or observation after it

    @property
    def held(self) -> datetime.timedelta:
        return self.duration + self.buffer


def shape_of(appointment_type: AppointmentType, location: Location, protocol: Protocol | None = None) -> VisitShape:
    """The visit's length and buffer. A dosing visit's buffer is its protocol's minimum observation
    (Spravato: 120 minutes, clinical.md §1.3 [REMS-FDA]); where the protocol leaves it to the clinic
    and the clinic has not set it, the type's own buffer."""
    buffer = appointment_type.buffer_minutes
    if appointment_type.is_dosing and protocol is not None and protocol.observation.minimum_minutes is not None:
        buffer = protocol.observation.minimum_minutes
    return VisitShape(
        appointment_type=appointment_type,
        location=location,
        duration=datetime.timedelta(minutes=appointment_type.duration_minutes),
        buffer=datetime.timedelta(minutes=buffer or 0),
    )


def local_days(clinic: Clinic, start: datetime.datetime, end: datetime.datetime) -> list[datetime.date]:
    zone = clinic.zone
    first = start.astimezone(zone).date() - datetime.timedelta(days=1)
    last = end.astimezone(zone).date() + datetime.timedelta(days=1)
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


def _weekly(
    clinic: Clinic, rules: Iterable[tuple[int, datetime.time, datetime.time]], days: Sequence[datetime.date]
) -> list[Interval]:
    """Weekly local-time rules expanded over `days` (DST-aware: 9:00 is 9:00 local on either side)."""
    zone = clinic.zone
    by_day: dict[int, list[tuple[datetime.time, datetime.time]]] = defaultdict(list)
    for weekday, opens, closes in rules:
        by_day[weekday].append((opens, closes))
    out: list[Interval] = []
    for day in days:
        for opens, closes in by_day.get(day.weekday(), []):
            out.append(
                (
                    datetime.datetime.combine(day, opens, tzinfo=zone),
                    datetime.datetime.combine(day, closes, tzinfo=zone),
                )
            )
    # In UTC, as the holds, closures and time off read from the database: comparing datetimes of
    # one tzinfo skips utcoffset() (ZoneInfo) on every bisect and sort in the slot finder.
    return slots.merge((s.astimezone(datetime.UTC), e.astimezone(datetime.UTC)) for s, e in out)


@dataclasses.dataclass
class _Closures:
    clinic_wide: list[Interval]
    by_location: dict[int, list[Interval]]
    by_resource: dict[int, list[Interval]]

    def for_location(self, location_id: int) -> list[Interval]:
        return self.clinic_wide + self.by_location.get(location_id, [])


def _closures(clinic: Clinic, start: datetime.datetime, end: datetime.datetime) -> _Closures:
    result = _Closures([], defaultdict(list), defaultdict(list))
    rows = Closure.objects.filter(clinic=clinic, ends_at__gt=start, starts_at__lt=end).values_list(
        "location_id", "resource_id", "starts_at", "ends_at"
    )
    for location_id, resource_id, s, e in rows:
        if resource_id is not None:
            result.by_resource[resource_id].append((s, e))
        elif location_id is not None:
            result.by_location[location_id].append((s, e))
        else:
            result.clinic_wide.append((s, e))
    return result


def _busy(
    clinic: Clinic,
    start: datetime.datetime,
    end: datetime.datetime,
    exclude_appointment_ids: Sequence[int] = (),
) -> dict[str, list[Interval]]:
    """Live holds overlapping [start, end), by calendar key."""
    rows = Hold.objects.filter(clinic=clinic, released_at__isnull=True, ends_at__gt=start, starts_at__lt=end)
    if exclude_appointment_ids:
        rows = rows.exclude(appointment_id__in=list(exclude_appointment_ids))
    busy: dict[str, list[Interval]] = defaultdict(list)
    for resource_id, staff_id, lane, s, e in rows.values_list(
        "resource_id", "staff_id", "lane", "starts_at", "ends_at"
    ):
        key = f"resource:{resource_id}" if resource_id is not None else f"staff:{staff_id}:{lane}"
        busy[key].append((s, e))
    return busy


def _staff_open(
    clinic: Clinic,
    location: Location,
    roles: Sequence[str],
    days: Sequence[datetime.date],
    start: datetime.datetime,
    end: datetime.datetime,
    closed: list[Interval],
    only_user_id: int | None = None,
) -> dict[int, list[Interval]]:
    """Each active staff member of `roles`: their hours at the location, minus time off and holidays."""
    members = Membership.objects.filter(clinic=clinic, role__in=list(roles), is_active=True, user__is_active=True)
    if only_user_id is not None:
        members = members.filter(user_id=only_user_id)
    user_ids = list(members.order_by("user_id").values_list("user_id", flat=True))
    rules: dict[int, list[tuple[int, datetime.time, datetime.time]]] = defaultdict(list)
    for user_id, weekday, begins, finishes in StaffHours.objects.filter(
        clinic=clinic, location=location, user_id__in=user_ids
    ).values_list("user_id", "weekday", "starts", "ends"):
        rules[user_id].append((weekday, begins, finishes))
    off: dict[int, list[Interval]] = defaultdict(list)
    for user_id, off_start, off_end in TimeOff.objects.filter(
        clinic=clinic, user_id__in=user_ids, ends_at__gt=start, starts_at__lt=end
    ).values_list("user_id", "starts_at", "ends_at"):
        off[user_id].append((off_start, off_end))
    return {
        user_id: slots.subtract(_weekly(clinic, rules[user_id], days), closed + off[user_id])
        for user_id in user_ids
        if rules.get(user_id)
    }


@dataclasses.dataclass(frozen=True)
class Pinned:
    """Resources the person booking chose (None: any free one)."""

    chair_id: int | None = None
    nurse_id: int | None = None
    clinician_id: int | None = None


def needs_for(
    shape: VisitShape,
    *,
    start: datetime.datetime,
    end: datetime.datetime,
    exclude_appointment_ids: Sequence[int] = (),
    pinned: Pinned | None = None,
) -> list[slots.Need]:
    """The visit's needs with every candidate's calendar over [start, end) (bookings starting in it)."""
    appointment_type, location = shape.appointment_type, shape.location
    clinic = location.clinic
    pinned = pinned or Pinned()
    horizon_end = end + shape.held
    days = local_days(clinic, start, horizon_end)
    closures = _closures(clinic, start, horizon_end)
    closed = closures.for_location(location.pk)
    busy = _busy(clinic, start, horizon_end, exclude_appointment_ids)
    needs: list[slots.Need] = []

    if appointment_type.space != Space.NONE:
        hours = _weekly(
            clinic,
            OpeningHours.objects.filter(location=location).values_list("weekday", "opens", "closes"),
            days,
        )
        open_location = slots.subtract(hours, closed)
        spaces = Resource.objects.filter(location=location, kind=appointment_type.space, is_active=True).order_by(
            "name", "pk"
        )
        allowed = list(appointment_type.resources.values_list("pk", flat=True))
        if allowed:
            spaces = spaces.filter(pk__in=allowed)
        if pinned.chair_id is not None:
            spaces = spaces.filter(pk=pinned.chair_id)
        calendars = tuple(
            slots.Calendar(
                key=f"resource:{r.pk}",
                open=slots.subtract(open_location, closures.by_resource.get(r.pk, [])),
                busy=busy.get(f"resource:{r.pk}", []),
            )
            for r in spaces
        )
        needs.append(slots.Need(appointment_type.space, calendars))

    if appointment_type.clinician_role:
        role = Role.PRESCRIBER if appointment_type.clinician_role == ClinicianRole.PRESCRIBER else Role.THERAPIST
        staff = _staff_open(clinic, location, [role], days, start, horizon_end, closed, pinned.clinician_id)
        calendars = tuple(
            slots.Calendar(key=f"staff:{uid}:0", open=windows, busy=busy.get(f"staff:{uid}:0", []))
            for uid, windows in staff.items()
        )
        needs.append(slots.Need("clinician", calendars))

    if appointment_type.needs_nurse:
        lanes = settings_for(clinic).patients_per_nurse
        staff = _staff_open(clinic, location, [Role.NURSE], days, start, horizon_end, closed, pinned.nurse_id)
        # Places interleaved (every nurse's first place, then every second place) spread the load.
        calendars = tuple(
            slots.Calendar(key=f"staff:{uid}:{lane}", open=windows, busy=busy.get(f"staff:{uid}:{lane}", []))
            for lane in range(lanes)
            for uid, windows in staff.items()
        )
        needs.append(slots.Need("nurse", calendars))

    if appointment_type.needs_prescriber_on_site:
        staff = _staff_open(clinic, location, [Role.PRESCRIBER], days, start, horizon_end, closed)
        calendars = tuple(slots.Calendar(key=f"onsite:{uid}", open=windows) for uid, windows in staff.items())
        needs.append(slots.Need("prescriber_on_site", calendars))

    if not needs:
        raise ValidationError({"appointment_type": "This appointment type needs no chair, room or staff member."})
    return needs


def parse_key(key: str) -> tuple[str, int, int]:
    """`resource:12` -> ("resource", 12, 0); `staff:5:1` -> ("staff", 5, 1); `onsite:9` -> ("onsite", 9, 0)."""
    kind, _, rest = key.partition(":")
    ident, _, lane = rest.partition(":")
    return kind, int(ident), int(lane or 0)


def location_hours(location: Location, day: datetime.date) -> list[Interval]:
    """The location's opening hours on a local day, minus holidays and closures (for the calendars)."""
    clinic = location.clinic
    hours = _weekly(
        clinic, OpeningHours.objects.filter(location=location).values_list("weekday", "opens", "closes"), [day]
    )
    if not hours:
        return []
    closures = _closures(clinic, hours[0][0], hours[-1][1])
    return slots.subtract(hours, closures.for_location(location.pk))


def closures_between(clinic: Clinic, start: datetime.datetime, end: datetime.datetime) -> list[Closure]:
    return list(
        Closure.objects.filter(clinic=clinic, ends_at__gt=start, starts_at__lt=end).select_related(
            "location", "resource"
        )
    )
