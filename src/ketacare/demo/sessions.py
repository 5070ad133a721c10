"""Treatment sessions for the demo clinic (issue #7): every past dose of the ledger's three months was
given in a charted, signed session, and a few sessions are in progress right now.

Each past session is charted the way the clinic would, through the real actions, at the times it
would have happened (time-machine travels through the session minute by minute): booking, check-in,
pre-dose checks and escort, baseline vitals, the dose drawn from the location's lot (the ledger's
administration points at the session), vitals at the protocol's checkpoints, sedation and
dissociation, the occasional side effect, the discharge gates, both signatures, and for Spravato the
REMS Patient Monitoring Form, submitted the next day except for the latest ones (one due, one overdue).

Today's floor at Lincoln Park (relative to the moment `seed_demo` runs): one infusion running, a
Spravato patient in observation whose SpO2 dipped below the clinic's 92 % (an acknowledged alert),
a patient in pre-dose checks whose high baseline waits for the prescriber, one discharged awaiting
signatures, and two arriving later.
Oak Park has one patient in observation.

Staff sign with their passwords; a check costs ~0.25 s, so the demo verifies each person's password
once and reuses the answer while seeding (`remembered_passwords`), which production never does.
"""

from __future__ import annotations

import contextlib
import datetime
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import User
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Location, Resource
from ketacare.inventory.models import Container, Lot
from ketacare.inventory.models import Product as StockProduct
from ketacare.plans.models import PlanRoute, TreatmentPlan
from ketacare.sessions import alerts, checks, core, discharge, dosing, monitoring, pmf, signing
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import TreatmentSession

CENT = Decimal("0.01")
ESCORTS = [
    ("Jordan Ellis", "(312) 555-0142"),
    ("Maria Santos", "(773) 555-0188"),
    ("Chris Novak", "(708) 555-0127"),
    ("Priya Shah", "(312) 555-0163"),
    ("Dana Brooks", "(773) 555-0119"),
]


@contextlib.contextmanager
def remembered_passwords() -> Iterator[None]:
    """Verify each staff password once while seeding (each check costs a quarter of a second)."""
    original = User.check_password
    known: dict[tuple[int, str], bool] = {}

    def check(self: Any, raw_password: str) -> bool:
        key = (self.pk, raw_password)
        if key not in known:
            known[key] = original(self, raw_password)
        return known[key]

    User.check_password = check  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        User.check_password = original  # type: ignore[method-assign]


class _Clock:
    """Travel to a moment and step through a session (no travel for moments in the future)."""

    def __init__(self, traveller: Any) -> None:
        self.traveller = traveller

    def to(self, moment: datetime.datetime) -> None:
        if self.traveller is not None:
            self.traveller.move_to(moment)


@contextlib.contextmanager
def _travel(moment: datetime.datetime) -> Iterator[_Clock]:
    try:
        import time_machine
    except ImportError:  # pragma: no cover - production installs have no dev dependencies
        yield _Clock(None)
        return
    with time_machine.travel(moment, tick=False) as traveller:
        yield _Clock(traveller)


def _password() -> str:
    from ketacare.demo.seed import DEMO_PASSWORD

    return DEMO_PASSWORD


def _vitals(rng: random.Random, *, base: tuple[int, int] = (124, 78), rise: int = 0) -> dict[str, Any]:
    return {
        "systolic_bp": base[0] + rise + rng.randint(-6, 6),
        "diastolic_bp": base[1] + rise // 2 + rng.randint(-4, 4),
        "heart_rate": 72 + rng.randint(-8, 10),
        "spo2": rng.choice([96, 97, 98, 98, 99]),
        "respiratory_rate": rng.choice([14, 15, 16, 16, 18]),
    }


def _at(t0: datetime.datetime, minutes: float) -> datetime.datetime:
    return t0 + datetime.timedelta(minutes=minutes)


class Floor:
    """Who does what at one location, and its chairs."""

    def __init__(self, location: Location, actors: dict[Role, Actor]) -> None:
        self.location = location
        self.desk = actors[Role.FRONT_DESK]
        self.nurse = actors[Role.NURSE]
        self.prescriber = actors[Role.PRESCRIBER]
        self.chairs = list(
            Resource.objects.filter(location=location, kind=Resource.Kind.CHAIR, is_active=True).order_by("name")
        )

    def chair(self, index: int) -> Resource | None:
        return self.chairs[index % len(self.chairs)] if self.chairs else None


def _lot_for(session: TreatmentSession, day: datetime.date, units: int = 1) -> Lot | None:
    spravato = session.route == PlanRoute.INTRANASAL_ESKETAMINE
    return (
        Lot.objects.filter(
            location=session.location,
            product__form="nasal_device" if spravato else "vial",
            sealed_units__gte=units,
            expiry_date__gte=day,
        )
        .order_by("expiry_date", "pk")
        .first()
    )


def _prepare(floor: Floor, session: TreatmentSession, clock: _Clock, t0: datetime.datetime, rng: random.Random) -> None:
    """Check-in, pre-dose checks, escort and baseline (t0 = the planned first dose)."""
    clock.to(_at(t0, -25))
    core.check_in(floor.desk, session)
    clock.to(_at(t0, -20))
    checks.begin_checks(floor.nurse, session)
    checks.record_check(floor.nurse, session, "identity", status="passed", value={"name": True, "date_of_birth": True})
    checks.record_check(
        floor.nurse,
        session,
        "fasting",
        status="passed",
        value={"last_food_at": _at(t0, -400), "last_liquid_at": _at(t0, -150)},
    )
    if checks.pregnancy_applies(session):
        checks.record_check(
            floor.nurse, session, "pregnancy", status="passed", value={"answer": "not_pregnant_history"}
        )
    checks.record_check(
        floor.nurse, session, "concomitant_meds", status="passed", value={"drugs": []}, note="None today."
    )
    name, phone = ESCORTS[session.patient_id % len(ESCORTS)]
    checks.confirm_escort(floor.nurse, session, name=name, phone=phone)
    clock.to(_at(t0, -12))
    checks.record_baseline(floor.nurse, session, taken_at=_at(t0, -12), **_vitals(rng))


def _dose(
    floor: Floor,
    session: TreatmentSession,
    clock: _Clock,
    t0: datetime.datetime,
    day: datetime.date,
    stock: Lot | None = None,
) -> list[Any]:
    """Give the planned dose from the location's stock; returns the doses."""
    given = []
    if session.is_spravato:
        devices = max(1, int(session.planned_dose_mg // 28))
        lot = stock or _lot_for(session, day, devices)
        if lot is None:
            return []
        device_ml = lot.product.container_volume_ml
        for n in range(1, devices + 1):
            at = _at(t0, 5 * (n - 1))
            clock.to(at)
            given.append(
                dosing.give_dose(
                    floor.nurse,
                    session,
                    lot=lot,
                    quantity_mg=Decimal(28),
                    quantity_ml=device_ml,
                    started_at=at,
                    device_number=n,
                )
            )
        clock.to(_at(t0, 5 * devices))
        dosing.end_dosing(floor.nurse, session, ended_at=_at(t0, 5 * (devices - 1) + 1))
        return given
    lot = stock or _lot_for(session, day)
    if lot is None:
        return []
    product: StockProduct = lot.product
    concentration = product.concentration_mg_per_ml
    ml = (session.planned_dose_mg / concentration).quantize(CENT)
    mg = (ml * concentration).quantize(CENT)
    clock.to(t0)
    dose = dosing.give_dose(
        floor.nurse,
        session,
        lot=lot,
        quantity_mg=mg,
        quantity_ml=ml,
        started_at=t0,
        rate_ml_per_hour=(ml * 60 / 40).quantize(CENT),
    )
    given.append(dose)
    vial: Container | None = dose.ledger_entry.container
    if vial is not None:
        vial.refresh_from_db()
        if vial.remaining_ml > 0:
            from ketacare.inventory.actions import WitnessSignature

            dosing.waste_remainder(
                floor.nurse,
                session,
                container=vial,
                quantity_ml=Decimal(vial.remaining_ml),
                witness=WitnessSignature(email=floor.prescriber.user.email, password=_password()),
            )
    return given


def _monitor_and_discharge(
    floor: Floor,
    session: TreatmentSession,
    clock: _Clock,
    t0: datetime.datetime,
    rng: random.Random,
    *,
    until: datetime.datetime | None = None,
) -> bool:
    """Vitals at the checkpoints, ratings, discharge when the gates pass. False if `until` came first."""
    spravato = session.is_spravato
    if spravato:
        marks = [40, 70, 100, 118]
    else:
        marks = [10, 20, 30, 40]
    for minutes in marks:
        at = _at(t0, minutes)
        if until is not None and at > until:
            return False
        clock.to(at)
        rise = 14 if minutes == 40 else 6
        monitoring.record_vitals(floor.nurse, session, taken_at=at, **_vitals(rng, rise=rise))
        if minutes in (40, 70) or (not spravato and minutes == 20):
            monitoring.record_assessment(
                floor.nurse,
                session,
                taken_at=at,
                moaas=5 if minutes > 40 else rng.choice([4, 5]),
                dissociation=rng.choice(["mild", "mild", "none", "moderate"]) if minutes == 40 else "none",
            )
    observation = session.protocol.observation.minimum_minutes or 30
    if spravato:
        ready = _at(t0, max(120, observation) + 2)
    else:
        end = _at(t0, 40)
        clock.to(end)
        dosing.end_dosing(floor.nurse, session, ended_at=end)
        ready = _at(end, observation + 2)
        for minutes in range(55, 40 + observation + 1, 15):
            at = _at(t0, minutes)
            if until is not None and at > until:
                return False
            clock.to(at)
            monitoring.record_vitals(floor.nurse, session, taken_at=at, **_vitals(rng, rise=2))
    if rng.random() < 0.2:
        monitoring.record_side_effect(
            floor.nurse,
            session,
            kind=rng.choice(["nausea", "dizziness", "headache"]),
            severity="mild",
            onset_at=_at(t0, 30),
            action_taken="Reassurance; resolved before discharge.",
        )
    if until is not None and ready > until:
        return False
    clock.to(ready)
    session.refresh_from_db()
    for item in session.protocol.discharge_checklist:
        discharge.tick_checklist(floor.nurse, session, item.id, True)
    discharge.escort_present(floor.nurse, session)
    monitoring.record_vitals(floor.nurse, session, taken_at=ready, **_vitals(rng))
    discharge.mark_ready(floor.nurse, session)
    clock.to(_at(ready, 3))
    discharge.discharge(floor.nurse, session)
    return True


def _sign(floor: Floor, session: TreatmentSession, clock: _Clock, when: datetime.datetime) -> None:
    clock.to(when)
    if session.is_spravato:
        with transaction.atomic():
            pmf.update_values(floor.nurse, session, {"ready_to_leave_minutes": 95})
    signing.sign(floor.nurse, session, password=_password())
    clock.to(_at(when, 20))
    signing.sign(floor.prescriber, session, password=_password())


def chart_past_session(
    floor: Floor,
    plan: TreatmentPlan,
    day: datetime.date,
    hour: int,
    rng: random.Random,
    *,
    lot: Lot | None = None,
    submit_pmf: bool = True,
) -> TreatmentSession | None:
    """A whole session of `plan` on `day` at `hour` (clinic time), from booking to both signatures."""
    zone = plan.clinic.zone
    t0 = datetime.datetime.combine(day, datetime.time(hour, 0), tzinfo=zone)
    with _travel(_at(t0, -60)) as clock:
        session = core.create_from_plan(
            floor.desk, plan, scheduled_at=_at(t0, -30), location=floor.location, chair=floor.chair(plan.pk)
        )
        _prepare(floor, session, clock, t0, rng)
        if not _dose(floor, session, clock, t0, day, lot):
            return None
        _monitor_and_discharge(floor, session, clock, t0, rng)
        _sign(floor, session, clock, _at(t0, 180))
        if session.is_spravato and submit_pmf:
            clock.to(_at(t0, 60 * 24))
            form = session.rems_form
            pmf.record_submission(
                floor.nurse,
                form,
                submitted_on=(t0 + datetime.timedelta(days=1)).date(),
                method="online",
                confirmation_number=f"PMF-{day:%y%m%d}-{session.pk:05d}",
            )
    return session


def seed_today(clinic: Any, actors: dict[Role, Actor]) -> int:
    """Sessions in progress now at both locations, and two recent Spravato forms (see the module docstring)."""
    # Today in the clinic's zone (a `__date` lookup would take the UTC date: wrong every evening).
    midnight = datetime.datetime.combine(
        timezone.localdate(timezone=clinic.zone), datetime.time.min, tzinfo=clinic.zone
    )
    if TreatmentSession.objects.filter(
        clinic=clinic, scheduled_at__gte=midnight, scheduled_at__lt=midnight + datetime.timedelta(days=1)
    ).exists():
        return 0
    rng = random.Random(707)  # noqa: S311 - synthetic demo data
    now = timezone.now().replace(second=0, microsecond=0)
    places = {loc.name: loc for loc in Location.objects.filter(clinic=clinic)}
    plans = list(
        TreatmentPlan.objects.filter(clinic=clinic, status="signed").select_related("patient").order_by("patient__mrn")
    )
    # Patients part-way through their series (the next session is one of the plan's).
    booked = {
        row["plan"]: row["n"]
        for row in TreatmentSession.objects.filter(clinic=clinic, plan__isnull=False)
        .exclude(state=State.CANCELLED)
        .values("plan")
        .annotate(n=Count("id"))
    }
    plans = [p for p in plans if booked.get(p.pk, 0) < len(p.planned_sessions)]
    iv = [p for p in plans if p.route == PlanRoute.IV]
    spravato = [p for p in plans if p.route == PlanRoute.INTRANASAL_ESKETAMINE]
    made = 0
    lincoln = Floor(places["Lincoln Park"], actors)
    oak = Floor(places["Oak Park"], actors)

    def book(floor: Floor, plan: TreatmentPlan, chair: int, start: datetime.datetime) -> TreatmentSession:
        return core.create_from_plan(
            floor.desk, plan, scheduled_at=start, location=floor.location, chair=floor.chair(chair)
        )

    with _travel(_at(now, -240)) as clock:
        # Chair 1: an infusion running for 25 minutes.
        if iv:
            t0 = _at(now, -25)
            s = book(lincoln, iv[0], 0, _at(t0, -20))
            _prepare(lincoln, s, clock, t0, rng)
            _dose(lincoln, s, clock, t0, t0.date())
            _monitor_and_discharge(lincoln, s, clock, t0, rng, until=now)
            made += 1
        # Chair 2: Spravato 70 minutes after the first device; SpO2 dipped at 40 minutes (alert acknowledged).
        if spravato:
            t0 = _at(now, -70)
            s = book(lincoln, spravato[0], 1, _at(t0, -20))
            _prepare(lincoln, s, clock, t0, rng)
            _dose(lincoln, s, clock, t0, t0.date())
            clock.to(_at(t0, 40))
            monitoring.record_vitals(
                lincoln.nurse,
                s,
                taken_at=_at(t0, 40),
                systolic_bp=152,
                diastolic_bp=90,
                heart_rate=88,
                spo2=91,
                respiratory_rate=12,
                note="Drowsy; deep breaths prompted, SpO2 back to 96 % within a minute.",
            )
            for alert in alerts.open_alerts(s):
                monitoring.acknowledge_alert(lincoln.nurse, s, alert.pk)
            clock.to(_at(t0, 55))
            monitoring.record_vitals(lincoln.nurse, s, taken_at=_at(t0, 55), **_vitals(rng, rise=8))
            monitoring.record_assessment(lincoln.nurse, s, taken_at=_at(t0, 55), moaas=4, dissociation="moderate")
            made += 1
        # Chair 3: checked in 10 minutes ago, baseline above the protocol's threshold.
        if len(iv) > 1:
            s = book(lincoln, iv[1], 2, _at(now, -15))
            clock.to(_at(now, -10))
            core.check_in(lincoln.desk, s)
            checks.begin_checks(lincoln.nurse, s)
            checks.record_check(
                lincoln.nurse, s, "identity", status="passed", value={"name": True, "date_of_birth": True}
            )
            clock.to(_at(now, -4))
            checks.record_baseline(
                lincoln.nurse,
                s,
                taken_at=_at(now, -4),
                systolic_bp=186,
                diastolic_bp=104,
                heart_rate=92,
                spo2=98,
                respiratory_rate=16,
            )
            made += 1
        # Chair 4: discharged 15 minutes ago, awaiting signatures.
        if len(iv) > 2:
            t0 = _at(now, -90)
            s = book(lincoln, iv[2], 3, _at(t0, -20))
            _prepare(lincoln, s, clock, t0, rng)
            _dose(lincoln, s, clock, t0, t0.date())
            _monitor_and_discharge(lincoln, s, clock, t0, rng)
            made += 1
        # Oak Park: one infusion finished, in observation.
        if len(iv) > 3:
            t0 = _at(now, -50)
            s = book(oak, iv[3], 0, _at(t0, -20))
            _prepare(oak, s, clock, t0, rng)
            _dose(oak, s, clock, t0, t0.date())
            _monitor_and_discharge(oak, s, clock, t0, rng, until=now)
            made += 1
        clock.to(now)
    # A Spravato patient whose last two Patient Monitoring Forms are not submitted yet: one is past its
    # 7 days (the queue shows it overdue), one is due in four days.
    if len(spravato) > 1:
        today = timezone.localdate(timezone=clinic.zone)
        for days_ago in (9, 3):
            day = today - datetime.timedelta(days=days_ago)
            while day.weekday() >= 5:
                day -= datetime.timedelta(days=1)
            if chart_past_session(lincoln, spravato[1], day, 10, rng, submit_pmf=False) is not None:
                made += 1
    # Arriving later today.
    for index, plan in enumerate(iv[4:6]):
        book(lincoln, plan, index, _at(now, 60 + 45 * index))
        made += 1
    return made
