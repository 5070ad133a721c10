"""The demo clinic's Schedule III ledger: months of receipts, doses, witnessed waste, disposals of
expired stock and monthly counts at both of Bluestem's registered locations (issue #6).

    seed_inventory(clinic, actors) -> int     # ledger entries created (0 on a second run)

`actors` maps Role.INVENTORY, Role.NURSE and Role.PRESCRIBER to their demo actors (via "cli").
Everything goes through the real actions (`inventory.actions`, `inventory.reconciliation`), so
audit rows, locks, witness checks (the witness types the demo password) and balances are exactly
what the pages would make, and `balances.verify_balances` holds. Each event happens on its own
date: the demo travels in time as `demo.pathway` does (`_on`).

- Each location gets a plausible DEA number (valid check digit) if it has none.
- Catalogue: ketamine HCl 50 mg/mL 10 mL vials and 100 mg/mL 5 mL vials (NDC-format codes under
  the unassigned labeler 99999, so clearly synthetic), and Spravato 28 mg devices in 56 mg kits.
- Receipts from a synthetic supplier on the first weekday of each month (and when a lot runs out);
  a short-dated lot at each location expires unused and goes to a reverse distributor.
- Doses: patients with a signed IV plan get their plan's dose on each planned session day in the
  window (Lincoln Park: 50 mg/mL vials; Oak Park: 100 mg/mL vials, by patient); Spravato plans get
  their devices. Without plans, the first active patients get 0.5 mg/kg-like fixed doses weekly.
- Vials are single-patient use (the clinic's policy): each dose opens a vial and the nurse wastes
  the remainder at once, witnessed by the prescriber with their own password.
- Counts: on the last weekday of each month the inventory manager counts, witnessed by the nurse,
  and every count agrees with the ledger except the latest one at Lincoln Park, where one sealed
  vial is missing: its discrepancy stays open for the demo.

Idempotent: a clinic that already has ledger entries is left alone.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic, Location
from ketacare.demo.pathway import _on
from ketacare.inventory import actions, reconciliation
from ketacare.inventory.models import (
    Container,
    CountKind,
    DisposalMethod,
    DosageForm,
    LedgerEntry,
    Lot,
    Product,
    Substance,
)
from ketacare.patients.models import Patient, PatientStatus
from ketacare.plans.models import PlanRoute, PlanStatus, TreatmentPlan

CENT = Decimal("0.01")
WINDOW_DAYS = 92  # three months of history (each waste and count checks a witness password: ~0.2 s)

# Check digits valid (inventory.actions.valid_dea_number); all invented.
LOCATION_DEA = {"Lincoln Park": "FB4182705", "Oak Park": "FB5329645"}
SUPPLIER = {
    "supplier_name": "Prairie Medical Supply (demo)",
    "supplier_address": "4100 W Diversey Ave, Chicago, IL 60639",
    "supplier_dea": "RP2048177",
}
REVERSE_DISTRIBUTOR = {
    "counterparty_name": "Midwest Pharmaceutical Returns (demo)",
    "counterparty_address": "2200 Channahon Rd, Joliet, IL 60436",
    "counterparty_dea": "RM7302158",
}


@dataclass(frozen=True)
class ProductSpec:
    key: str
    name: str
    ndc: str
    substance: str
    form: str
    strength: str
    volume: str
    per_package: int


PRODUCTS = (
    ProductSpec("k50", "Ketamine HCl injection (demo NDC)", "99999-0501-10", Substance.KETAMINE, DosageForm.VIAL,
                "50", "10", 10),
    ProductSpec("k100", "Ketamine HCl injection (demo NDC)", "99999-1005-10", Substance.KETAMINE, DosageForm.VIAL,
                "100", "5", 10),
    ProductSpec("spravato", "Spravato 56 mg kit (2 x 28 mg devices)", "50458-028-02", Substance.ESKETAMINE,
                DosageForm.NASAL_DEVICE, "28", "0.2", 2),
)  # fmt: skip
# Which vial each location draws from.
VIAL_AT = {"Lincoln Park": "k50", "Oak Park": "k100"}


def _password() -> str:
    from ketacare.demo.seed import DEMO_PASSWORD

    return DEMO_PASSWORD


def _witness(actor: Actor) -> actions.WitnessSignature:
    return actions.WitnessSignature(actor.user.email, _password())


def _weekday(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


def _last_weekday(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return day


def _catalogue(clinic: Clinic, locations: list[Location]) -> dict[str, Product]:
    products = {}
    for spec in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            clinic=clinic,
            ndc=spec.ndc,
            defaults={
                "name": spec.name,
                "substance": spec.substance,
                "form": spec.form,
                "strength_mg": Decimal(spec.strength),
                "container_volume_ml": Decimal(spec.volume),
                "units_per_package": spec.per_package,
            },
        )
        product.locations.add(*locations)
        products[spec.key] = product
    return products


def _locations(clinic: Clinic) -> list[Location]:
    found = []
    for location in Location.objects.filter(clinic=clinic, name__in=LOCATION_DEA).order_by("name"):
        if not location.dea_registration:
            location.dea_registration = LOCATION_DEA[location.name]
            location.save(update_fields=["dea_registration"])
        found.append(location)
    return found


@dataclass
class Dose:
    patient: Patient
    mg: Decimal
    devices: int = 0  # Spravato: devices used whole
    plan: TreatmentPlan | None = None  # given in a charted session of this plan (demo/sessions.py)


def _doses(
    clinic: Clinic, locations: list[Location], first: datetime.date, last: datetime.date
) -> dict[tuple[int, datetime.date], list[Dose]]:
    """(location id, day) -> the doses given there that day, from signed plans (or a fallback)."""
    by_day: dict[tuple[int, datetime.date], list[Dose]] = defaultdict(list)
    plans = list(
        TreatmentPlan.objects.filter(clinic=clinic, status=PlanStatus.SIGNED)
        .select_related("patient")
        .order_by("patient__mrn", "pk")
    )
    for plan in plans:
        location = locations[plan.patient_id % len(locations)]
        dose = Decimal(plan.dose_selected_mg or plan.dose_final_mg).quantize(CENT)
        spravato = plan.route == PlanRoute.INTRANASAL_ESKETAMINE
        if plan.route not in (PlanRoute.IV, PlanRoute.INTRANASAL_ESKETAMINE):
            continue
        for iso in plan.planned_sessions:
            day = datetime.date.fromisoformat(iso)
            if first <= day <= last and day.weekday() < 5:
                devices = max(1, int(dose // 28)) if spravato else 0
                by_day[(location.pk, day)].append(Dose(plan.patient, dose, devices, plan))
    if by_day:
        return by_day
    patients = list(Patient.objects.filter(clinic=clinic, status=PatientStatus.ACTIVE).order_by("mrn")[:6])
    for index, patient in enumerate(patients):
        location = locations[index % len(locations)]
        day = _weekday(first + datetime.timedelta(days=7 + index))
        while day <= last:
            by_day[(location.pk, day)].append(Dose(patient, Decimal(35 + 3 * index)))
            day = _weekday(day + datetime.timedelta(days=7))
    return by_day


class _Site:
    """One location's running state while the demo replays its months."""

    def __init__(self, location: Location, vial: Product, spravato: Product, actors: dict[Role, Actor]) -> None:
        self.location = location
        self.vial = vial
        self.spravato = spravato
        self.manager = actors[Role.INVENTORY]
        self.nurse = actors[Role.NURSE]
        self.prescriber = actors[Role.PRESCRIBER]
        self.lots_received = 0

    def receive(
        self, product: Product, day: datetime.date, *, packages: int = 1, expiry: datetime.date | None = None
    ) -> Lot:
        self.lots_received += 1
        prefix = "SP" if product.form == DosageForm.NASAL_DEVICE else ("KA" if product.strength_mg == 50 else "KB")
        entry = actions.receive_stock(
            self.manager,
            self.location,
            product,
            lot_number=f"{prefix}{day:%y%m}{self.location.pk:02d}{self.lots_received:02d}",
            expiry_date=expiry or day + datetime.timedelta(days=540),
            packages=packages,
            invoice_number=f"PMS-{day:%Y%m%d}-{self.location.pk}{self.lots_received:02d}",
            received_on=day,
            **SUPPLIER,
        )
        return entry.lot

    def _usable_lot(self, product: Product, day: datetime.date, units: int = 1) -> Lot | None:
        return (
            Lot.objects.filter(location=self.location, product=product, sealed_units__gte=units, expiry_date__gte=day)
            .order_by("expiry_date", "pk")
            .first()
        )

    def waste_remainder(self, vial: Container, reason: str) -> None:
        ml = Decimal(vial.remaining_ml)
        mg = (ml * self.vial.concentration_mg_per_ml).quantize(CENT)
        actions.waste(
            self.nurse, vial, quantity_mg=mg, quantity_ml=ml, witness=_witness(self.prescriber), reason=reason
        )

    def ensure_stock(self, dose: Dose, day: datetime.date) -> Lot:
        """The lot a charted session's dose is drawn from (received that morning if none is left)."""
        if dose.devices:
            return self._usable_lot(self.spravato, day, dose.devices) or self.receive(self.spravato, day, packages=2)
        return self._usable_lot(self.vial, day) or self.receive(self.vial, day)

    def give(self, dose: Dose, day: datetime.date) -> None:
        if dose.devices:
            lot = self._usable_lot(self.spravato, day, dose.devices) or self.receive(self.spravato, day, packages=2)
            ml = self.spravato.container_volume_ml * dose.devices
            actions.administer(self.nurse, lot, dose.patient, quantity_mg=Decimal(28 * dose.devices), quantity_ml=ml)
            return
        concentration = self.vial.concentration_mg_per_ml
        ml = (dose.mg / concentration).quantize(CENT)
        mg = (ml * concentration).quantize(CENT)
        lot = self._usable_lot(self.vial, day) or self.receive(self.vial, day)
        given = actions.administer(self.nurse, lot, dose.patient, quantity_mg=mg, quantity_ml=ml)
        vial = given.container
        if vial is not None and vial.remaining_ml > 0:  # single-patient use: the rest is wasted at once
            self.waste_remainder(vial, "Remainder of a single-patient vial after the dose.")

    def count(self, *, one_missing: bool = False, initial: bool = False) -> None:
        """Count everything as the ledger has it; with `one_missing`, one sealed vial is not found
        (a variance, so the count opens a discrepancy)."""
        sheet = reconciliation.count_sheet(self.location)
        sealed = {line.lot.pk: line.expected_units for line in sheet if line.container is None}
        vials = {line.container.pk: (line.expected_ml, False) for line in sheet if line.container is not None}
        if one_missing:
            lot_id = next(line.lot.pk for line in sheet if line.container is None and line.lot.product == self.vial)
            sealed[lot_id] -= 1
        reconciliation.record_count(
            self.manager,
            self.location,
            kind=CountKind.INITIAL if initial else CountKind.DAILY,
            witness=_witness(self.nurse),
            sealed=sealed,
            vials=vials,
            note="Initial inventory on the first day of handling (21 CFR 1304.11, clinical.md section 5)."
            if initial
            else "Month-end count of the safe and the opened vials.",
        )


class _Charted:
    """Plan doses given in charted sessions (demo/sessions.py), with the REMS forms' submissions:
    every Spravato PMF is submitted the next day, except one left overdue and one still due."""

    def __init__(self, actors: dict[Role, Actor], today: datetime.date) -> None:
        self.actors = actors
        self.today = today
        self.floors: dict[int, Any] = {}
        self.rng = random.Random(4242)  # noqa: S311 - synthetic demo data
        self.left_overdue = False
        self.left_due = False

    def chart(self, location: Location, plan: TreatmentPlan, day: datetime.date, hour: int, lot: Lot) -> None:
        from ketacare.demo.sessions import Floor, chart_past_session

        floor = self.floors.setdefault(location.pk, Floor(location, self.actors))
        submit = True
        if plan.route == PlanRoute.INTRANASAL_ESKETAMINE:
            age = (self.today - day).days
            if 8 <= age <= 12 and not self.left_overdue:
                submit, self.left_overdue = False, True
            elif 1 <= age <= 6 and not self.left_due:
                submit, self.left_due = False, True
        chart_past_session(floor, plan, day, hour, self.rng, lot=lot, submit_pmf=submit)


def seed_inventory(clinic: Clinic, actors: dict[Role, Actor]) -> int:
    """Months of Schedule III records for the demo clinic. Returns the ledger entries created."""
    locations = _locations(clinic)
    if not locations:
        return 0
    products = _catalogue(clinic, locations)
    if LedgerEntry.objects.filter(clinic=clinic).exists():
        return 0
    today = timezone.localdate(timezone=clinic.zone)
    last = today - datetime.timedelta(days=1)
    first = _weekday(today - datetime.timedelta(days=WINDOW_DAYS))
    doses = _doses(clinic, locations, first, last)
    sites = {loc.pk: _Site(loc, products[VIAL_AT[loc.name]], products["spravato"], actors) for loc in locations}
    charted = _Charted(actors, today)
    short_dated: dict[int, Lot] = {}
    # Month ends with a count; the last one at the first location (Lincoln Park) finds a vial short.
    month_ends = []
    day = first
    while day <= last:
        end = _last_weekday(
            (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)
        )
        if end <= last and end not in month_ends:
            month_ends.append(end)
        day = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    day = first
    while day <= last:
        if day.weekday() < 5:
            for site in sites.values():
                loc = site.location
                if day == first:
                    with _on(day, clinic, hour=8):
                        site.receive(site.vial, day, packages=1)
                        site.receive(site.spravato, day, packages=3)
                        # A short-dated lot of the strength this location does not draw from: it
                        # expires unopened and goes back through the reverse distributor.
                        spare = products["k100"] if site.vial == products["k50"] else products["k50"]
                        short_dated[loc.pk] = site.receive(spare, day, expiry=day + datetime.timedelta(days=40))
                    with _on(day, clinic, hour=9):
                        site.count(initial=True)
                elif day.day <= 3 and day.weekday() < 5 and _weekday(day.replace(day=1)) == day:
                    with _on(day, clinic, hour=8):
                        site.receive(site.vial, day)
                        site.receive(site.spravato, day, packages=2)
                expired = short_dated.get(loc.pk)
                if expired is not None and day > expired.expiry_date + datetime.timedelta(days=5):
                    del short_dated[loc.pk]
                    expired.refresh_from_db()
                    with _on(day, clinic, hour=16):
                        actions.dispose(
                            site.manager,
                            expired,
                            method=DisposalMethod.REVERSE_DISTRIBUTOR,
                            witnesses=[_witness(site.nurse)],
                            units=expired.sealed_units,
                            document_number=f"RET-{day:%Y%m%d}-{loc.pk}",
                            reason="Expired, unopened: returned for destruction.",
                            counterparty_name=REVERSE_DISTRIBUTOR["counterparty_name"],
                            counterparty_address=REVERSE_DISTRIBUTOR["counterparty_address"],
                            counterparty_dea=REVERSE_DISTRIBUTOR["counterparty_dea"],
                        )
                todays = doses.get((loc.pk, day), [])
                for hour, dose in enumerate(todays):
                    if dose.plan is not None and Role.FRONT_DESK in actors:
                        with _on(day, clinic, hour=8):
                            lot = site.ensure_stock(dose, day)
                        charted.chart(loc, dose.plan, day, min(9 + hour, 16), lot)
                        continue
                    with _on(day, clinic, hour=min(9 + hour, 17)):
                        site.give(dose, day)
                if day in month_ends:
                    is_latest = day == month_ends[-1] and loc.pk == locations[0].pk
                    with _on(day, clinic, hour=18):
                        site.count(one_missing=is_latest)
        day += datetime.timedelta(days=1)
    return LedgerEntry.objects.filter(clinic=clinic).count()
