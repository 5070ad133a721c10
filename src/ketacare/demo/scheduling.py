"""The demo clinic's schedule (issue #8): hours, staff, holidays, and a busy, realistic fortnight.

- Opening hours: Lincoln Park Monday to Friday 07:30-18:30 and Saturday mornings; Oak Park Monday to
  Friday 08:00-17:00. Two more nurses and a second prescriber join the demo staff (they do not sign
  in: no password), so the floor has the nurses its chairs need at two patients per nurse.
- Holidays: Thanksgiving and Christmas Day (the clinic is closed); one Lincoln Park chair is out of
  service for a morning next week.
- This week's treatment sessions so far (charted by `demo.sessions`) and today's floor get their
  appointments, holding their chair and a nurse's place.
- From now on, booked through the real booking actions (the same rules and database guarantees as
  the pages): the remaining visits of every signed plan as a series, consultations for patients
  still in intake, integration therapy, follow-ups and telehealth. Most dosing visits in the next
  days have their escort confirmed; a few do not yet (the front desk sees them flagged), one
  patient has asked to cancel by text, another cancelled by phone.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict

from django.contrib.auth.hashers import make_password
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.patients.models import Patient
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.scheduling import booking
from ketacare.scheduling.defaults import ensure_default_types
from ketacare.scheduling.models import (
    Appointment,
    AppointmentReply,
    AppointmentState,
    AppointmentType,
    Closure,
    Hold,
    OpeningHours,
    StaffHours,
    settings_for,
)
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import TreatmentSession

EXTRA_STAFF = [
    # email name, full name, credentials, role
    ("amoreno", "Alicia Moreno", "BSN, RN", Role.NURSE),
    ("tbecker", "Tom Becker", "RN", Role.NURSE),
    ("sosei", "Samuel Osei", "MD", Role.PRESCRIBER),
]
ESCORTS = [
    ("Jordan Ellis", "(312) 555-0142"),
    ("Maria Santos", "(773) 555-0188"),
    ("Chris Novak", "(708) 555-0127"),
    ("Priya Shah", "(312) 555-0163"),
    ("Dana Brooks", "(773) 555-0119"),
    ("Luis Ortega", "(312) 555-0175"),
]
CATEGORY_OF_ROUTE = {"iv": "iv-infusion", "im": "im-injection", "intranasal_esketamine": "spravato", "oral": "oral"}


def _t(hhmm: str) -> datetime.time:
    h, m = hhmm.split(":")
    return datetime.time(int(h), int(m))


def _thanksgiving(year: int) -> datetime.date:
    first = datetime.date(year, 11, 1)
    first_thursday = first + datetime.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + datetime.timedelta(weeks=3)


def _extra_staff(clinic: Clinic, domain: str) -> dict[str, User]:
    found: dict[str, User] = {}
    unusable = make_password(None)
    for name, full_name, credentials, role in EXTRA_STAFF:
        user, _ = User.objects.get_or_create(
            email=f"{name}@{domain}",
            defaults={"full_name": full_name, "credentials": credentials, "password": unusable},
        )
        Membership.objects.get_or_create(user=user, clinic=clinic, defaults={"role": role})
        found[name] = user
    return found


def _hours(clinic: Clinic, users: dict[Role, User], extra: dict[str, User]) -> tuple[Location, Location]:
    lincoln = Location.objects.get(clinic=clinic, name="Lincoln Park")
    oak = Location.objects.get(clinic=clinic, name="Oak Park")
    weekdays = range(5)
    opening = [(lincoln, d, "07:30", "18:30") for d in weekdays] + [(lincoln, 5, "08:00", "13:00")]
    opening += [(oak, d, "08:00", "17:00") for d in weekdays]
    OpeningHours.objects.bulk_create(
        [OpeningHours(clinic=clinic, location=loc, weekday=d, opens=_t(a), closes=_t(b)) for loc, d, a, b in opening]
    )
    staff = [(users[Role.NURSE], lincoln, d, "07:30", "16:00") for d in weekdays]
    staff += [(extra["amoreno"], lincoln, d, "10:00", "18:30") for d in weekdays]
    staff += [(extra["amoreno"], lincoln, 5, "08:00", "13:00")]
    staff += [(users[Role.PRESCRIBER], lincoln, d, "07:30", "17:00") for d in weekdays]
    staff += [(users[Role.PRESCRIBER], lincoln, 5, "08:00", "13:00")]
    staff += [(extra["tbecker"], oak, d, "08:00", "17:00") for d in weekdays]
    staff += [(extra["sosei"], oak, d, "08:00", "17:00") for d in weekdays]
    staff += [(users[Role.THERAPIST], lincoln, d, "09:00", "17:00") for d in (0, 2, 4)]
    staff += [(users[Role.THERAPIST], oak, d, "09:00", "17:00") for d in (1, 3)]
    StaffHours.objects.bulk_create(
        [
            StaffHours(clinic=clinic, user=u, location=loc, weekday=d, starts=_t(a), ends=_t(b))
            for u, loc, d, a, b in staff
        ]
    )
    return lincoln, oak


def _closures(clinic: Clinic, lincoln: Location, admin: User, today: datetime.date) -> None:
    zone = clinic.zone
    for day, reason in (
        (_thanksgiving(today.year), "Thanksgiving: clinic closed"),
        (datetime.date(today.year, 12, 25), "Christmas Day: clinic closed"),
    ):
        Closure.objects.create(
            clinic=clinic,
            starts_at=datetime.datetime.combine(day, datetime.time.min, tzinfo=zone),
            ends_at=datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone),
            reason=reason,
            created_by=admin,
        )
    chair = Resource.objects.filter(location=lincoln, kind=Resource.Kind.CHAIR).order_by("-name").first()
    repair = today + datetime.timedelta(days=7 - today.weekday() + 1)  # next Tuesday
    if chair is not None:
        Closure.objects.create(
            clinic=clinic,
            location=lincoln,
            resource=chair,
            starts_at=datetime.datetime.combine(repair, datetime.time(7, 30), tzinfo=zone),
            ends_at=datetime.datetime.combine(repair, datetime.time(12, 0), tzinfo=zone),
            reason="Recliner motor repair",
            created_by=admin,
        )


def _link_sessions(
    clinic: Clinic, types: dict[str, AppointmentType], since: datetime.datetime, rng: random.Random
) -> int:
    """Appointments for the sessions already charted or booked since `since` (this week and today's
    floor), each holding its chair and a free nurse's place, never overlapping another hold."""
    sessions = list(
        TreatmentSession.objects.filter(clinic=clinic, scheduled_at__gte=since)
        .exclude(state=State.CANCELLED.value)
        .select_related("location", "plan")
        .order_by("scheduled_at", "pk")
    )
    nurses_at: dict[int, list[int]] = defaultdict(list)
    for user_id, location_id in (
        StaffHours.objects.filter(clinic=clinic, user__memberships__role=Role.NURSE, user__memberships__clinic=clinic)
        .values_list("user_id", "location_id")
        .distinct()
    ):
        nurses_at[location_id].append(user_id)
    chairs_at: dict[int, list[int]] = defaultdict(list)
    for pk, location_id in (
        Resource.objects.filter(clinic=clinic, kind=Resource.Kind.CHAIR)
        .order_by("name")
        .values_list("pk", "location_id")
    ):
        chairs_at[location_id].append(pk)
    lanes = settings_for(clinic).patients_per_nurse
    held: dict[str, list[tuple[datetime.datetime, datetime.datetime]]] = defaultdict(list)

    def free(key: str, start: datetime.datetime, end: datetime.datetime) -> bool:
        return all(e <= start or s >= end for s, e in held[key])

    made = 0
    for session in sessions:
        t = types[CATEGORY_OF_ROUTE[session.route]]
        observation = session.protocol.observation.minimum_minutes
        buffer = observation if observation is not None else (t.buffer_minutes or 0)
        start = session.scheduled_at
        end = start + datetime.timedelta(minutes=t.duration_minutes)
        until = end + datetime.timedelta(minutes=buffer)
        chairs = chairs_at[session.location_id]
        preferred = [session.chair_id] if session.chair_id else []
        chair = next((c for c in preferred + chairs if free(f"resource:{c}", start, until)), None)
        nurse_key = next(
            (
                f"staff:{n}:{lane}"
                for lane in range(lanes)
                for n in nurses_at[session.location_id]
                if free(f"staff:{n}:{lane}", start, until)
            ),
            None,
        )
        if session.state in (State.SIGNED.value, State.DISCHARGED.value):
            state = AppointmentState.COMPLETED
        elif session.state == State.SCHEDULED.value:
            state = AppointmentState.BOOKED
        else:
            state = AppointmentState.CHECKED_IN
        escort = ESCORTS[rng.randrange(len(ESCORTS))]
        appointment = Appointment.objects.create(
            clinic=clinic,
            location=session.location,
            patient_id=session.patient_id,
            appointment_type=t,
            plan=session.plan,
            sequence=session.sequence,
            session=session,
            protocol_version_id=session.protocol_version_id,
            starts_at=start,
            ends_at=end,
            held_until=until,
            chair_id=chair,
            nurse_id=int(nurse_key.split(":")[1]) if nurse_key else None,
            state=state,
            escort_name=session.escort_name or escort[0],
            escort_phone=session.escort_phone or escort[1],
            escort_confirmed_at=start - datetime.timedelta(days=1),
            checked_in_at=session.checked_in_at,
            created_by=session.created_by,
            created_at=session.created_at,
        )
        for key in filter(None, [f"resource:{chair}" if chair else None, nurse_key]):
            kind, ident, *lane = key.split(":")
            Hold.objects.create(
                clinic=clinic,
                appointment=appointment,
                resource_id=int(ident) if kind == "resource" else None,
                staff_id=int(ident) if kind == "staff" else None,
                lane=int(lane[0]) if lane else 0,
                starts_at=start,
                ends_at=until,
            )
            held[key].append((start, until))
        if chair and session.chair_id != chair and session.state == State.SCHEDULED.value:
            TreatmentSession.objects.filter(pk=session.pk).update(chair_id=chair)
        made += 1
    return made


def _book_series(
    desk: Actor,
    clinic: Clinic,
    types: dict[str, AppointmentType],
    places: list[Location],
    rng: random.Random,
    now: datetime.datetime,
) -> int:
    """The remaining visits of every signed plan, as one series each, from tomorrow."""
    made = 0
    tomorrow = datetime.datetime.combine(
        timezone.localdate(now, clinic.zone) + datetime.timedelta(days=1), datetime.time(7, 0), tzinfo=clinic.zone
    )
    plans = list(
        TreatmentPlan.objects.filter(clinic=clinic, status=PlanStatus.SIGNED).select_related("patient").order_by("pk")
    )
    for index, plan in enumerate(plans):
        t = types.get(CATEGORY_OF_ROUTE.get(plan.route, ""))
        if t is None:
            continue
        rule = booking.series_rule(plan)
        if rule.count == 0:
            continue
        count = min(rule.count, 6)
        # Spread the series over both locations and the first days, as patients would choose.
        location = places[index % len(places)] if t.code != "spravato" else places[0]
        after = tomorrow + datetime.timedelta(days=rng.randrange(0, 4), hours=rng.choice([1, 2, 3, 5, 7]))
        proposals = booking.propose_series(
            desk, plan=plan, appointment_type=t, location=location, after=after, count=count, limit=3
        )
        if not proposals:
            continue
        choice = proposals[rng.randrange(len(proposals))]
        try:
            series = booking.book_series(
                desk, plan=plan, appointment_type=t, location=location, starts=[v.starts_at for v in choice]
            )
        except booking.SlotTaken:
            continue
        visits = list(series.appointments.order_by("starts_at"))
        made += len(visits)
        # Escorts confirmed for the nearer visits, except now and then (flagged on the front desk's list).
        for visit in visits[:3]:
            if rng.random() < 0.8:
                name, phone = ESCORTS[rng.randrange(len(ESCORTS))]
                booking.confirm_escort(desk, visit, name=name, phone=phone)
    return made


def _book_visits(
    desk: Actor,
    clinic: Clinic,
    types: dict[str, AppointmentType],
    places: list[Location],
    rng: random.Random,
    now: datetime.datetime,
) -> int:
    """Consultations for patients without a plan yet; integration therapy and follow-ups for the others."""
    made = 0
    planned = set(TreatmentPlan.objects.filter(clinic=clinic).values_list("patient_id", flat=True))
    patients = list(Patient.objects.filter(clinic=clinic, status="active").order_by("mrn"))
    new = [p for p in patients if p.pk not in planned]
    treated = [p for p in patients if p.pk in planned]
    start_day = timezone.localdate(now, clinic.zone)
    wishes: list[tuple[Patient, str]] = [(p, "consultation") for p in new[:10]]
    wishes += [(p, "integration") for p in treated[:14]]
    wishes += [(p, "follow-up") for p in treated[14:20]]
    wishes += [(p, "telehealth") for p in treated[20:24]]
    rng.shuffle(wishes)
    for n, (patient, code) in enumerate(wishes):
        day = start_day + datetime.timedelta(days=1 + n % 9)
        after = datetime.datetime.combine(
            day, datetime.time(rng.choice([8, 9, 10, 11, 13, 14, 15])), tzinfo=clinic.zone
        )
        location = places[n % len(places)]
        found = booking.propose_visits(desk, appointment_type=types[code], location=location, after=after, limit=1)
        if not found:
            continue
        try:
            booking.book_visit(
                desk, patient=patient, appointment_type=types[code], location=location, starts_at=found[0].starts_at
            )
            made += 1
        except booking.SlotTaken:
            continue
    return made


def seed_schedule(clinic: Clinic, users: dict[Role, User], domain: str) -> int:
    """Hours, staff, holidays and the fortnight's appointments. Idempotent (skips a clinic that has them)."""
    if Appointment.objects.filter(clinic=clinic).exists():
        return 0
    rng = random.Random(808)  # noqa: S311 - synthetic demo data
    now = timezone.now()
    today = timezone.localdate(now, clinic.zone)
    settings = settings_for(clinic)
    settings.patients_per_nurse = 2
    settings.save()
    types = {t.code: t for t in ensure_default_types(clinic)}
    rooms = Resource.objects.filter(clinic=clinic, kind=Resource.Kind.ROOM)
    types["integration"].resources.set(rooms.filter(name="Integration Room"))
    for code in ("consultation", "follow-up"):
        types[code].resources.set(rooms.filter(name="Consult Room"))
    extra = _extra_staff(clinic, domain)
    lincoln, oak = _hours(clinic, users, extra)
    _closures(clinic, lincoln, users[Role.ADMIN], today)
    monday = datetime.datetime.combine(
        today - datetime.timedelta(days=today.weekday()), datetime.time.min, tzinfo=clinic.zone
    )
    made = _link_sessions(clinic, types, monday, rng)
    membership = Membership.objects.select_related("user", "clinic").get(user=users[Role.FRONT_DESK], clinic=clinic)
    desk = Actor.from_membership(membership, None, via="cli")
    made += _book_series(desk, clinic, types, [lincoln, oak], rng, now)
    made += _book_visits(desk, clinic, types, [lincoln, oak], rng, now)
    # One patient asked by text to cancel tomorrow's visit; one visit next week was cancelled late.
    upcoming = list(
        Appointment.objects.filter(clinic=clinic, state=AppointmentState.BOOKED, starts_at__gt=now).order_by(
            "starts_at"
        )[:12]
    )
    if upcoming:
        AppointmentReply.objects.create(clinic=clinic, appointment=upcoming[-1], reply="cancel", channel="sms", raw="X")
        for visit in upcoming[:6]:
            if visit.pk != upcoming[-1].pk and rng.random() < 0.7:
                AppointmentReply.objects.create(
                    clinic=clinic, appointment=visit, reply="confirm", channel="sms", raw="C"
                )
                Appointment.objects.filter(pk=visit.pk).update(patient_confirmed_at=now)
    if len(upcoming) > 2:
        booking.cancel(desk, upcoming[1], reason="Patient called: car trouble, will rebook", by_patient=True)
    return made
