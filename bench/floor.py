#!/usr/bin/env python
"""The live floor board of a busy location: 12 active chairs and a day's sessions, refreshed N times.

    .venv/bin/python bench/floor.py [--refreshes 300] [--done 40] [--chairs 12]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kc_floor .venv/bin/python bench/floor.py

Without DATABASE_URL it builds a throwaway SQLite file (deleted at the end); with it, a PostgreSQL
database (created if missing; the bench clinic is rebuilt on each run). It makes a clinic with one
location of `--chairs` chairs, each holding a live session in a different phase (checked in,
pre-dose checks, dosing, observation, ready for discharge) with vital signs every 10–15 minutes
since the first dose and an open alert on every third chair, plus `--done` sessions discharged
earlier today with their vitals, two patients expected later, and one checked in without a chair.

Then it times `--refreshes` refreshes of the board's live region (`/sessions/board/tiles/`, what
HTMX polls every 10 s) through Django's test Client signed in as a nurse, and prints p50/p95/max in
ms and the number of queries per refresh (which must be the same on every refresh).

Target: p95 under 100 ms, with a fixed number of queries.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

TARGET_MS = 100.0
SEED = 70707
SLUG = "bench-floor"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refreshes", type=int, default=300, help="timed refreshes of the board")
    parser.add_argument("--chairs", type=int, default=12, help="active chairs (each with a live session)")
    parser.add_argument("--done", type=int, default=40, help="sessions already discharged today")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    return parser.parse_args()


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    end = "\n" if done >= total else ""
    print(f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, flush=True)


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketacare.settings")
    os.environ.setdefault("DEBUG", "0")  # as in production: no query log, no template debug
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    print("Migrating…", flush=True)
    call_command("migrate", verbosity=0)


def build(chairs: int, done: int) -> tuple[Any, Any]:
    """The clinic, its floor and its day. Returns (nurse user, location)."""
    from django.db import transaction
    from django.utils import timezone
    from tests.protocols.clinic_values import IV_CLINIC_VALUES, SPRAVATO_CLINIC_VALUES

    from ketacare.accounts.context import Actor
    from ketacare.accounts.models import Membership, User
    from ketacare.accounts.roles import Perm, Role
    from ketacare.clinics.models import Clinic, Location, Resource
    from ketacare.patients import actions as patient_actions
    from ketacare.protocols import actions as protocol_actions
    from ketacare.sessions import alerts, core
    from ketacare.sessions.lifecycle import State
    from ketacare.sessions.models import VitalPhase, VitalSigns

    rng = random.Random(SEED)
    stamp = int(time.time())
    clinic = Clinic.objects.create(
        slug=f"{SLUG}-{stamp}", name="Benchmark Floor Clinic", time_zone="America/Chicago", require_mfa=False
    )
    location = Location.objects.create(clinic=clinic, name="Main floor")
    users = {}
    for key, name, role in (
        ("nurse", "Bench Nurse, RN", Role.NURSE),
        ("prescriber", "Bench Prescriber, MD", Role.PRESCRIBER),
        ("admin", "Bench Admin", Role.ADMIN),
    ):
        user = User.objects.create(email=f"{key}-{stamp}@floor.bench.test", full_name=name)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        Membership.objects.create(user=user, clinic=clinic, role=role)
        users[key] = user

    def actor(key: str) -> Actor:
        return Actor.from_membership(
            Membership.objects.select_related("clinic", "user").get(user=users[key], clinic=clinic), None, via="cli"
        )

    ada, ben, ann = actor("prescriber"), actor("nurse"), actor("admin")
    versions = []
    for code, values in (("iv_racemic_ketamine", IV_CLINIC_VALUES), ("spravato_trd", SPRAVATO_CLINIC_VALUES)):
        draft = protocol_actions.adopt_protocol(ada, code, "1")
        edited = protocol_actions.edit_protocol(ada, draft.clinic_protocol, values, "Bench policy")
        versions.append(protocol_actions.publish_version(ada, edited))
    seats = [
        Resource.objects.create(clinic=clinic, location=location, kind="chair", name=f"Chair {i + 1:02d}")
        for i in range(chairs)
    ]

    now = timezone.now()
    zone = clinic.zone
    day_start = datetime.datetime.combine(now.astimezone(zone).date(), datetime.time(7, 0), tzinfo=zone)
    day_start = min(day_start, now - datetime.timedelta(hours=3))

    def patient(i: int) -> Any:
        return patient_actions.create_patient(
            ann,
            {
                "legal_first_name": f"Pat{i}",
                "legal_last_name": f"Floor{i:03d}",
                "date_of_birth": datetime.date(1970 + i % 30, 1 + i % 12, 1 + i % 28),
                "sex_at_birth": "female" if i % 2 else "male",
                "phone_mobile": f"(312) 555-{1000 + i:04d}",
                "status": "active",
            },
            [],
            confirm_not_duplicate=True,
        )

    def book(i: int, at: datetime.datetime, seat: Any) -> Any:
        version = versions[1] if i % 4 == 3 else versions[0]
        dose = Decimal("56") if version is versions[1] else Decimal("40")
        return core.order_session(
            ada,
            patient(i),
            protocol_version=version,
            dose_mg=dose,
            reason="Bench",
            scheduled_at=at,
            location=location,
            chair=seat,
        )

    def step(s: Any, states: list[tuple[State, datetime.datetime]]) -> Any:
        with transaction.atomic():
            s = core.locked_session(ben, s, Perm.SESSION_CHART)
            for state, at in states:
                s = core.transition(ben, s, state, at=at)
        return s

    def chart(s: Any, start: datetime.datetime, end: datetime.datetime, first: datetime.datetime | None) -> None:
        rows = [
            VitalSigns(
                clinic=clinic,
                session=s,
                phase=VitalPhase.PRE_DOSE,
                taken_at=start,
                systolic_bp=126,
                diastolic_bp=80,
                heart_rate=72,
                spo2=98,
                recorded_by=ben.user,
            )
        ]
        at = (first or end) + datetime.timedelta(minutes=rng.choice((10, 12, 15)))
        while first is not None and at <= end:
            rows.append(
                VitalSigns(
                    clinic=clinic,
                    session=s,
                    phase=VitalPhase.DURING,
                    taken_at=at,
                    systolic_bp=rng.randint(110, 150),
                    diastolic_bp=rng.randint(65, 95),
                    heart_rate=rng.randint(60, 100),
                    spo2=rng.randint(94, 100),
                    recorded_by=ben.user,
                )
            )
            at += datetime.timedelta(minutes=rng.choice((10, 12, 15)))
        for row in rows:
            row.save()

    # A day's finished sessions, 40 minutes apart across the chairs, vitals every 10–15 min.
    for i in range(done):
        at = day_start + datetime.timedelta(minutes=(i // chairs) * 40 + (i % chairs) * 3)
        at = min(at, now - datetime.timedelta(hours=2))
        s = book(1000 + i, at, seats[i % chairs])
        first = at + datetime.timedelta(minutes=25)
        ended = first + datetime.timedelta(minutes=40)
        out = ended + datetime.timedelta(minutes=rng.randint(30, 80))
        chart(s, at + datetime.timedelta(minutes=10), out, first)
        step(
            s,
            [
                (State.CHECKED_IN, at),
                (State.PRE_DOSE_CHECKS, at + datetime.timedelta(minutes=5)),
                (State.DOSING, first),
                (State.OBSERVATION, ended),
                (State.READY_FOR_DISCHARGE, out - datetime.timedelta(minutes=5)),
                (State.DISCHARGED, out),
            ],
        )
        progress("sessions done today", i + 1, done)

    # The live floor: one session per chair, phases in turn.
    phases = [State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING, State.OBSERVATION, State.READY_FOR_DISCHARGE]
    for i, seat in enumerate(seats):
        phase = phases[i % len(phases)]
        arrived = now - datetime.timedelta(minutes=20 + 12 * (i % len(phases)) + i)
        s = book(i, arrived, seat)
        first = arrived + datetime.timedelta(minutes=10) if phase in phases[2:] else None
        chart(s, arrived + datetime.timedelta(minutes=5), now, first)
        path = [(State.CHECKED_IN, arrived), (State.PRE_DOSE_CHECKS, arrived + datetime.timedelta(minutes=5))]
        if first is not None:
            path.append((State.DOSING, first))
        if phase in (State.OBSERVATION, State.READY_FOR_DISCHARGE):
            path.append((State.OBSERVATION, first + datetime.timedelta(minutes=8)))  # type: ignore[operator]
        if phase is State.READY_FOR_DISCHARGE:
            path.append((State.READY_FOR_DISCHARGE, now - datetime.timedelta(minutes=1)))
        s = step(s, path[: 1 if phase is State.CHECKED_IN else None])
        if i % 3 == 0:
            with transaction.atomic():
                fresh = core.locked_session(ben, s, Perm.SESSION_CHART)
                alerts.raise_alert(
                    ben, fresh, kind="vital_threshold", source_key=f"bench-{i}", summary="Heart rate 128 above 120"
                )
        progress("live chairs", i + 1, chairs)

    # Two expected later (or earlier and not yet arrived) and one checked in without a chair.
    book(2000, now + datetime.timedelta(minutes=30), seats[0])
    book(2001, now - datetime.timedelta(minutes=10), None)
    waiting = book(2002, now - datetime.timedelta(minutes=5), None)
    core.check_in(ben, waiting)
    return users["nurse"], location


def main() -> None:
    args = parse_args()
    throwaway = None
    url = args.database_url
    if not url:
        handle, throwaway = tempfile.mkstemp(prefix="kc-floor-", suffix=".sqlite3")
        os.close(handle)
        url = f"sqlite:///{throwaway}"
    elif url.startswith("postgres"):
        sys.path.insert(0, str(ROOT / "bench"))
        from patients import ensure_database  # bench/patients.py

        ensure_database(url, "")
    try:
        run(args, url)
    finally:
        if throwaway:
            Path(throwaway).unlink(missing_ok=True)


def run(args: argparse.Namespace, url: str) -> None:
    setup_django(url)
    import django
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from ketacare.sessions.models import TreatmentSession, VitalSigns

    nurse, location = build(args.chairs, args.done)
    sessions = TreatmentSession.objects.filter(location=location).count()
    vitals = VitalSigns.objects.filter(session__location=location).count()
    client = Client()
    client.force_login(nurse)
    path = f"/sessions/board/tiles/?location={location.pk}"
    page = client.get(f"/sessions/board/?location={location.pk}")
    if page.status_code != 200 or client.get(path).status_code != 200:
        raise SystemExit(f"The board answered {page.status_code}.")
    counts: set[int] = set()
    timings: list[float] = []
    for n in range(args.refreshes):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"The board answered {response.status_code}.")
        counts.add(len(ctx.captured_queries))
        if n % 10 == 9 or n + 1 == args.refreshes:
            progress("board refreshes", n + 1, args.refreshes)
    body = response.content.decode()
    shown = body.count("data-session=")
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[min(len(timings) - 1, round(0.95 * len(timings)) - 1)]
    engine = connection.vendor
    print(
        f"\n{args.chairs} chairs, {sessions} sessions at the location today ({args.done} done), "
        f"{vitals:,} vital-sign sets; "
        f"{shown} live sessions on the board; {args.refreshes} refreshes of the live region:"
    )
    print(
        f"  p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {timings[-1]:6.1f} ms   queries per refresh: {sorted(counts)}"
    )
    ok = p95 < TARGET_MS and len(counts) == 1
    print(f"  target p95 < {TARGET_MS:.0f} ms with a fixed query count: {'met' if ok else 'NOT MET'}")
    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, Django {django.get_version()}, {engine} database."
    )


if __name__ == "__main__":
    main()
