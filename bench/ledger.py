#!/usr/bin/env python
"""The Schedule III ledger of one busy location over 5 years (about a million entries), in PostgreSQL.

    .venv/bin/python bench/ledger.py [--entries 1000000] [--years 5] [--repeat 7] [--explain]

Sets up Django against DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ketacare_bench;
created if missing and migrated), then generates, once (a re-run reuses it), a clinic with one
registrant location, three products (ketamine 50 mg/mL 10 mL vials, ketamine 100 mg/mL 5 mL
vials, Spravato 28 mg devices), 2,000 patients and a day-by-day simulation of the record:
receipts whenever a lot runs low, doses drawn from opened vials (a new vial opened when the open
one cannot give the dose), the remainder of every vial opened that day wasted under a witness at
closing, Spravato kits used whole, and a monthly witnessed destruction of one vial. Every entry
carries its deltas, so the running balances written at the end equal a replay of the ledger.
Lots, vials and entries are loaded with COPY (ids assigned here, sequences moved after), then
VACUUM ANALYZE.

Then it times, `--repeat` times each (median and worst):

- all current balances from the running-balance rows (`balances.current_balances`: every lot and
  vial that holds anything);
- all balances recomputed from scratch from the ledger (`balances.recompute_balances`: one pass
  over every entry of the location), and checks the two agree;
- a one-month report: that month's entries grouped by kind and lot, with counts and unit, mL and
  mg totals (the query a monthly Schedule III report runs), for a month in the last year;
- the same month's entries themselves with patient, actor and witness names (the report's detail);
- the real report (`inventory.reports.schedule_report`: opening and closing balances per lot,
  totals per kind, every entry with its names) for that month, and the same as CSV (`report_csv`).

Target: under one second each.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from patients import ensure_database, setup_django  # noqa: E402  (bench/patients.py)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ketacare_bench"
TARGET_S = 1.0
SEED = 606060
SLUG = "bench-ledger"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="about this many ledger entries")
    parser.add_argument("--years", type=int, default=5, help="years of history, ending today")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each measurement")
    parser.add_argument("--patients", type=int, default=2_000)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the report query")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    return parser.parse_args()


# --- setup ------------------------------------------------------------------------------------


@dataclass
class Bench:
    clinic: Any
    location: Any
    products: list[Any]
    nurse: Any
    prescriber: Any
    manager: Any
    patient_ids: list[int]


def ensure_setup(patients: int) -> Bench:
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from ketacare.accounts.models import Membership, User
    from ketacare.accounts.roles import Role
    from ketacare.clinics.models import Clinic, Location
    from ketacare.demo.synthetic import PatientGenerator
    from ketacare.inventory.models import DosageForm, Product, Substance
    from ketacare.patients.models import Patient

    clinic, _ = Clinic.objects.get_or_create(
        slug=SLUG,
        defaults={"name": "Benchmark Ledger Clinic", "time_zone": "America/Chicago", "require_mfa": False},
    )
    location, _ = Location.objects.get_or_create(clinic=clinic, name="Main", defaults={"dea_registration": "FB1234563"})
    users = {}
    for key, name, role in (
        ("nurse", "Bench Nurse, RN", Role.NURSE),
        ("prescriber", "Bench Prescriber, MD", Role.PRESCRIBER),
        ("manager", "Bench Inventory", Role.INVENTORY),
    ):
        user, created = User.objects.get_or_create(email=f"{key}@ledger.bench.test", defaults={"full_name": name})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        Membership.objects.get_or_create(user=user, clinic=clinic, defaults={"role": role})
        users[key] = user
    specs = [
        ("Ketamine HCl injection", "0409-2051-05", Substance.KETAMINE, DosageForm.VIAL, "50", "10", 10),
        ("Ketamine HCl injection", "0409-2053-10", Substance.KETAMINE, DosageForm.VIAL, "100", "5", 10),
        ("Spravato 56 mg kit", "50458-028-02", Substance.ESKETAMINE, DosageForm.NASAL_DEVICE, "28", "0.2", 2),
    ]
    products = []
    for name, ndc, substance, form, strength, volume, per_package in specs:
        product, _ = Product.objects.get_or_create(
            clinic=clinic,
            ndc=ndc,
            defaults={
                "name": name,
                "substance": substance,
                "form": form,
                "strength_mg": Decimal(strength),
                "container_volume_ml": Decimal(volume),
                "units_per_package": per_package,
            },
        )
        product.locations.add(location)
        products.append(product)
    have = Patient.objects.filter(clinic=clinic).count()
    if have < patients:
        generator = PatientGenerator(
            SEED,
            today=timezone.localdate(timezone=clinic.zone),
            clinician_ids=[users["prescriber"].pk],
            with_contacts=False,
        )
        batch = []
        for number, synthetic in enumerate(generator.patients(patients), start=1):
            if number <= have:
                continue
            values = dict(synthetic.values)
            values["primary_clinician_id"] = values.pop("primary_clinician")
            values["mrn"] = f"LB-{number:06d}"
            patient = Patient(clinic=clinic, **values)
            patient.refresh_search_keys()
            batch.append(patient)
        with transaction.atomic():
            Patient.objects.bulk_create(batch, batch_size=1000)
    patient_ids = list(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True))
    return Bench(clinic, location, products, users["nurse"], users["prescriber"], users["manager"], patient_ids)


# --- simulation ---------------------------------------------------------------------------------

ENTRY_COLUMNS = [
    "id",
    "clinic_id",
    "location_id",
    "kind",
    "lot_id",
    "container_id",
    "sealed_delta",
    "ml_delta",
    "quantity_units",
    "quantity_ml",
    "quantity_mg",
    "occurred_at",
    "actor_id",
    "actor_label",
    "witness_id",
    "second_witness_id",
    "patient_id",
    "session_ref",
    "counterparty_name",
    "counterparty_address",
    "counterparty_dea",
    "document_number",
    "received_on",
    "disposal_method",
    "peer_location_id",
    "transfer_peer_id",
    "corrects_id",
    "reason",
]


def cents(value: int) -> str:
    """Hundredths as a decimal string: 950 -> '9.50', -25 -> '-0.25'."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}{value // 100}.{value % 100:02d}"


@dataclass
class LotState:
    id: int
    product_index: int
    number: str
    expiry: datetime.date
    created_at: datetime.datetime
    sealed: int = 0
    vials_opened: int = 0


@dataclass
class VialState:
    id: int
    lot: LotState
    number: int
    content: int  # hundredths of a mL
    remaining: int
    opened_at: datetime.datetime
    opened_by: int


@dataclass
class Simulation:
    bench: Bench
    next_ids: dict[str, int]
    rng: random.Random
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[LotState] = field(default_factory=list)
    vials: list[VialState] = field(default_factory=list)
    current_lot: dict[int, LotState] = field(default_factory=dict)

    def _id(self, table: str) -> int:
        self.next_ids[table] += 1
        return self.next_ids[table]

    def entry(self, when: datetime.datetime, kind: str, lot: LotState, actor: Any, **values: Any) -> None:
        row = {
            "id": self._id("entry"),
            "clinic_id": self.bench.clinic.pk,
            "location_id": self.bench.location.pk,
            "kind": kind,
            "lot_id": lot.id,
            "container_id": None,
            "sealed_delta": 0,
            "ml_delta": "0.00",
            "quantity_units": 0,
            "quantity_ml": "0.00",
            "quantity_mg": "0.00",
            "occurred_at": when,
            "actor_id": actor.pk,
            "actor_label": actor.full_name,
            "witness_id": None,
            "second_witness_id": None,
            "patient_id": None,
            "session_ref": None,
            "counterparty_name": "",
            "counterparty_address": "",
            "counterparty_dea": "",
            "document_number": "",
            "received_on": None,
            "disposal_method": "",
            "peer_location_id": None,
            "transfer_peer_id": None,
            "corrects_id": None,
            "reason": "",
            **values,
        }
        self.entries.append(tuple(row[c] for c in ENTRY_COLUMNS))

    def receive(self, when: datetime.datetime, index: int) -> LotState:
        product = self.bench.products[index]
        lot_id = self._id("lot")
        number = f"{'ABC'[index]}{when:%y%m%d}-{lot_id}"
        lot = LotState(lot_id, index, number, when.date() + datetime.timedelta(days=730), when)
        self.lots.append(lot)
        packages = 20 if product.is_vial else 100  # 200 vials, or 200 Spravato devices
        units = packages * product.units_per_package
        volume = int(product.container_volume_ml * 100)
        content_mg = int(product.content_mg * 100)
        lot.sealed += units
        self.entry(
            when,
            "receipt",
            lot,
            self.bench.manager,
            sealed_delta=units,
            quantity_units=units,
            quantity_ml=cents(units * volume),
            quantity_mg=cents(units * content_mg),
            counterparty_name="Henry Schein Medical",
            counterparty_address="135 Duryea Rd, Melville, NY 11747",
            counterparty_dea="RC7654329",
            document_number=f"INV-{lot.id:07d}",
            received_on=when.date(),
        )
        self.current_lot[index] = lot
        return lot

    def lot_for(self, when: datetime.datetime, index: int, units: int) -> LotState:
        lot = self.current_lot.get(index)
        if lot is None or lot.sealed < units:
            lot = self.receive(when, index)
        return lot

    def day(self, day: datetime.date, doses: int, zone: Any) -> None:
        rng = self.rng
        bench = self.bench
        opening = datetime.datetime.combine(day, datetime.time(8), zone)
        open_vials: dict[int, VialState] = {}
        times = sorted(rng.randint(0, 9 * 3600) for _ in range(doses))
        for second in times:
            when = opening + datetime.timedelta(seconds=second)
            index = rng.choices((0, 1, 2), weights=(45, 35, 20))[0]
            product = bench.products[index]
            patient = rng.choice(bench.patient_ids)
            actor = bench.nurse if rng.random() < 0.7 else bench.prescriber
            session = f"S{self.next_ids['entry'] + 1}"
            if index == 2:  # Spravato: 2 or 3 devices of 28 mg, used whole
                devices = rng.choice((2, 2, 3))
                lot = self.lot_for(when, index, devices)
                lot.sealed -= devices
                self.entry(
                    when,
                    "administration",
                    lot,
                    actor,
                    sealed_delta=-devices,
                    quantity_units=devices,
                    quantity_ml=cents(devices * 20),
                    quantity_mg=cents(devices * 2800),
                    patient_id=patient,
                    session_ref=session,
                )
                continue
            concentration = int(product.strength_mg)  # mg per mL
            volume = int(product.container_volume_ml * 100)
            mg = rng.randint(25, 70)  # 0.5 mg/kg for 50-140 kg (clinical.md section 2.3)
            ml = mg * 100 // concentration  # hundredths of a mL
            mg_cents = ml * concentration  # mg = mL x concentration, exactly
            vial = open_vials.get(index)
            if vial is not None and vial.remaining >= ml:
                vial.remaining -= ml
                self.entry(
                    when,
                    "administration",
                    vial.lot,
                    actor,
                    container_id=vial.id,
                    ml_delta=cents(-ml),
                    quantity_ml=cents(ml),
                    quantity_mg=cents(mg_cents),
                    patient_id=patient,
                    session_ref=session,
                )
                continue
            if vial is not None:
                self.waste(when, vial, actor)
            lot = self.lot_for(when, index, 1)
            lot.sealed -= 1
            lot.vials_opened += 1
            vial = VialState(self._id("container"), lot, lot.vials_opened, volume, volume - ml, when, actor.pk)
            self.vials.append(vial)
            open_vials[index] = vial
            self.entry(
                when,
                "administration",
                lot,
                actor,
                container_id=vial.id,
                sealed_delta=-1,
                ml_delta=cents(volume - ml),
                quantity_ml=cents(ml),
                quantity_mg=cents(mg_cents),
                patient_id=patient,
                session_ref=session,
            )
        closing = datetime.datetime.combine(day, datetime.time(17, 30), zone)
        for vial in open_vials.values():
            self.waste(closing, vial, bench.nurse)
        if day.day == 28:  # a monthly witnessed destruction of one (damaged) vial
            lot = self.lot_for(closing, 0, 1)
            lot.sealed -= 1
            self.entry(
                closing + datetime.timedelta(minutes=5),
                "disposal",
                lot,
                bench.manager,
                sealed_delta=-1,
                quantity_units=1,
                quantity_ml="10.00",
                quantity_mg="500.00",
                disposal_method="destruction",
                witness_id=bench.nurse.pk,
                second_witness_id=bench.prescriber.pk,
                document_number=f"F41-{day:%Y%m}",
                reason="Vial cracked in the safe",
            )

    def waste(self, when: datetime.datetime, vial: VialState, actor: Any) -> None:
        if vial.remaining <= 0:
            return
        concentration = int(self.bench.products[vial.lot.product_index].strength_mg)
        left = vial.remaining
        vial.remaining = 0
        witness = self.bench.prescriber if actor.pk == self.bench.nurse.pk else self.bench.nurse
        self.entry(
            when,
            "waste",
            vial.lot,
            actor,
            container_id=vial.id,
            ml_delta=cents(-left),
            quantity_ml=cents(left),
            quantity_mg=cents(left * concentration),
            witness_id=witness.pk,
            reason="Remainder of the vial at closing",
        )


def generate(bench: Bench, entries: int, years: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone
    from tqdm import tqdm

    from ketacare.inventory.models import Container, LedgerEntry, Lot

    have = LedgerEntry.objects.filter(location=bench.location).count()
    if have:
        print(f"Reusing {have:,} ledger entries of {bench.clinic.name}.")
        return
    columns = [f.column for f in LedgerEntry._meta.concrete_fields]
    if sorted(columns) != sorted(ENTRY_COLUMNS):
        raise SystemExit(f"LedgerEntry columns changed: {sorted(set(columns) ^ set(ENTRY_COLUMNS))}")
    zone = bench.clinic.zone
    today = timezone.localdate(timezone=zone)
    first = today - datetime.timedelta(days=365 * years)
    days = (today - first).days
    # Entries per dose: 1, plus a waste per opened vial and the receipts; weekends are quieter.
    doses_per_day = max(1, round(entries / days / 1.035))
    next_ids = {
        "entry": LedgerEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        "lot": Lot.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        "container": Container.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
    }
    sim = Simulation(bench, next_ids, random.Random(SEED))
    started = time.perf_counter()
    with tqdm(total=days, unit=" days", desc="Simulating") as progress:
        for offset in range(days):
            day = first + datetime.timedelta(days=offset)
            doses = int(doses_per_day * (0.6 if day.weekday() >= 5 else 1.1))
            sim.day(day, doses, zone)
            progress.update(1)
    print(
        f"Simulated {len(sim.entries):,} entries, {len(sim.lots):,} lots, {len(sim.vials):,} vials "
        f"in {time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    clinic_id, location_id = bench.clinic.pk, bench.location.pk
    lot_rows = [
        (
            lot.id,
            clinic_id,
            location_id,
            bench.products[lot.product_index].pk,
            lot.number,
            lot.expiry,
            lot.sealed,
            lot.created_at,
        )
        for lot in sim.lots
    ]
    vial_rows = [
        (v.id, clinic_id, v.lot.id, v.number, cents(v.content), cents(v.remaining), v.opened_at, v.opened_by)
        for v in sim.vials
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor: COPY
        copies: list[tuple[str, list[str], list[tuple[Any, ...]]]] = [
            (
                Lot._meta.db_table,
                [
                    "id",
                    "clinic_id",
                    "location_id",
                    "product_id",
                    "lot_number",
                    "expiry_date",
                    "sealed_units",
                    "created_at",
                ],
                lot_rows,
            ),
            (
                Container._meta.db_table,
                ["id", "clinic_id", "lot_id", "number", "content_ml", "remaining_ml", "opened_at", "opened_by_id"],
                vial_rows,
            ),
            (LedgerEntry._meta.db_table, ENTRY_COLUMNS, sim.entries),
        ]
        for table, cols, rows in copies:
            with (
                tqdm(total=len(rows), unit=" rows", desc=f"COPY {table}", miniters=10_000) as progress,
                raw.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy,
            ):
                for index, row in enumerate(rows, start=1):
                    copy.write_row(row)
                    if index % 10_000 == 0:
                        progress.update(10_000)
                progress.update(len(rows) % 10_000)
        for model in (Lot, Container, LedgerEntry):
            table = model._meta.db_table
            # Table names come from the models, not from input.
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")  # noqa: S608
    print(f"Loaded in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (Lot, Container, LedgerEntry):
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
    print(f"VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")


# --- measurements ------------------------------------------------------------------------------


def month_report(location: Any, start: datetime.datetime, end: datetime.datetime) -> list[dict[str, Any]]:
    """One month's entries of a location grouped by kind and lot, with counts and totals."""
    from ketacare.inventory.queries import period_summary

    return period_summary(location, start, end)


def month_detail(location: Any, start: datetime.datetime, end: datetime.datetime) -> list[tuple[Any, ...]]:
    from ketacare.inventory.models import LedgerEntry

    return list(
        LedgerEntry.objects.filter(location=location, occurred_at__gte=start, occurred_at__lt=end)
        .order_by("occurred_at", "id")
        .values_list(
            "id",
            "occurred_at",
            "kind",
            "lot__lot_number",
            "quantity_units",
            "quantity_ml",
            "quantity_mg",
            "actor_label",
            "witness__full_name",
            "patient__legal_last_name",
            "patient__legal_first_name",
            "patient__mrn",
        )
    )


def timed(name: str, work: Callable[[], Any], repeat: int) -> tuple[str, list[float], Any]:
    work()  # warm the caches once
    timings = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        timings.append(time.perf_counter() - started)
    print(f"  {name:<52} median {statistics.median(timings) * 1000:8.1f} ms   worst {max(timings) * 1000:8.1f} ms")
    return name, timings, result


def main() -> None:
    args = parse_args()
    ensure_database(args.database_url, "en-US")
    setup_django(args.database_url)

    import django
    from django.db import connection
    from django.utils import timezone

    from ketacare.inventory.balances import current_balances, recompute_balances
    from ketacare.inventory.models import Container, LedgerEntry, Lot
    from ketacare.inventory.reports import report_csv, schedule_report

    bench = ensure_setup(args.patients)
    generate(bench, args.entries, args.years)
    location = bench.location
    total = LedgerEntry.objects.filter(location=location).count()
    lots = Lot.objects.filter(location=location).count()
    vials = Container.objects.filter(lot__location=location).count()
    zone = bench.clinic.zone
    today = timezone.localdate(timezone=zone)
    month_start = datetime.datetime(today.year - 1, today.month, 1, tzinfo=zone)
    next_month = (month_start + datetime.timedelta(days=32)).replace(day=1)

    # The generation above leaves a large heap behind; a web worker serving a report has none. Freeze
    # it so the cyclic garbage collector does not rescan it on every allocation burst of the timings.
    gc.collect()
    gc.freeze()
    print(
        f"\n{total:,} entries, {lots:,} lots, {vials:,} opened vials at one location; timing {args.repeat} runs each:"
    )
    results = [
        timed("current balances (running-balance rows)", lambda: current_balances(location), args.repeat),
        timed("all balances from scratch (replay of the ledger)", lambda: recompute_balances(location), args.repeat),
        timed(
            f"one-month report, grouped by kind and lot ({month_start:%Y-%m})",
            lambda: month_report(location, month_start, next_month),
            args.repeat,
        ),
        timed(
            f"one-month entries with names ({month_start:%Y-%m})",
            lambda: month_detail(location, month_start, next_month),
            args.repeat,
        ),
        timed(
            f"Schedule III report, one month ({month_start:%Y-%m})",
            lambda: schedule_report(location, month_start.date(), (next_month - datetime.timedelta(days=1)).date()),
            args.repeat,
        ),
        timed(
            f"the same report as CSV ({month_start:%Y-%m})",
            lambda: report_csv(
                schedule_report(location, month_start.date(), (next_month - datetime.timedelta(days=1)).date())
            ),
            args.repeat,
        ),
    ]
    current, replay = results[0][2], results[1][2]
    agree = current.lots == replay.lots and current.containers == replay.containers
    print(
        f"\nRunning balances equal the replay of the ledger: {'yes' if agree else 'NO'} "
        f"({len(current.lots):,} lots, {len(current.containers):,} vials)"
    )
    report = results[2][2]
    print(
        f"Report rows for {month_start:%Y-%m}: {len(report)} (kind x lot); entries that month: "
        f"{sum(r['entries'] for r in report):,}; detail rows: {len(results[3][2]):,}"
    )
    schedule = results[4][2]
    print(
        f"Schedule III report {month_start:%Y-%m}: {len(schedule.entries):,} entries, {len(schedule.lines)} lots, "
        f"opening {schedule.opening_mg} mg + in {schedule.in_mg} - out {schedule.out_mg} "
        f"+ adjusted {schedule.adjusted_mg} = closing {schedule.closing_mg} mg: "
        f"{'reconciles' if schedule.reconciles else 'DOES NOT RECONCILE'}"
    )
    if args.explain:
        from django.db.models import Count

        query = (
            LedgerEntry.objects.filter(location=location, occurred_at__gte=month_start, occurred_at__lt=next_month)
            .values("kind", "lot_id")
            .annotate(n=Count("id"))
        )
        with connection.cursor() as cursor:
            sql, params = query.query.sql_with_params()
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            print("\n".join(row[0] for row in cursor.fetchall()))
        with connection.cursor() as cursor:
            sql, params = (
                LedgerEntry.objects.filter(location=location)
                .values("lot_id")
                .annotate(n=Count("id"))
                .order_by()
                .query.sql_with_params()
            )
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            print("\n".join(row[0] for row in cursor.fetchall()))

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        version = cursor.fetchone()[0]
    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, Django {django.get_version()}, PostgreSQL {version} on the same machine."
    )
    print(f"| {'measurement':<52} | {'median ms':>9} | {'worst ms':>8} | {'< 1 s':<5} |")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 10}|{'-' * 7}|")
    for name, timings, _ in results:
        ok = "yes" if max(timings) < TARGET_S else "NO"
        print(f"| {name:<52} | {statistics.median(timings) * 1000:>9.1f} | {max(timings) * 1000:>8.1f} | {ok:<5} |")


if __name__ == "__main__":
    main()
