"""Months of measurement-based care for the demo patients: scores before sessions, some improving.

About two dozen active demo patients are "in treatment": a baseline visit (PHQ-9, GAD-7; QIDS-SR16,
PCL-5 and a clinician-rated MADRS for some), an induction series of six ketamine sessions over
about three weeks with PHQ-9 and GAD-7 before each (CADSS after the session for a few), a MADRS
after induction, then maintenance sessions every two to four weeks until a few days ago.

Outcomes are chosen per patient (remitter, responder, partial responder, non-responder) as a target
total per visit; answers are built by spreading that total over the instrument's own items and
options, then scored by the real scorer through `measures.actions.submit_response` (as the nurse,
the prescriber or the therapist, via "cli"). Safety items stay at 0 except for two patients: one
whose PHQ-9 a few weeks ago endorsed item 9 (alert acknowledged and closed with a documented
action) and exactly one whose latest PHQ-9, a few days ago, endorses item 9 (alert left open).

Idempotent: a patient who already has any response is left alone. Deterministic: one fixed seed;
dates count back from the day the seed runs, so a fresh demo always looks current.
"""

from __future__ import annotations

import datetime
import math
import random
from dataclasses import dataclass
from typing import Literal

from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic
from ketacare.measures import rules
from ketacare.measures.actions import close_alert, submit_response
from ketacare.measures.definitions import Instrument, get_instrument
from ketacare.measures.models import AlertNotification, Response, ResponseSource, SafetyAlert
from ketacare.patients.models import Patient, PatientStatus

MBC_PATIENTS = 22
MBC_SEED = 20260214

Outcome = Literal["remitter", "responder", "partial", "non_responder"]
# Cycled over the patients in treatment: mostly improving, as in the published case series, not all.
OUTCOMES: tuple[Outcome, ...] = ("responder", "remitter", "partial", "non_responder", "responder", "remitter")

# Safety items kept at 0 for everyone (but the two alert patients' PHQ-9 item 9).
SAFETY_ZERO = {"phq9": {"9"}, "qids_sr16": {"12"}, "madrs": {"10"}}
# PHQ-9 item 10 ("how difficult have these problems made it…") is unscored; answered from the total.
UNSCORED_FROM_TOTAL = {"phq9": ("10", 6)}

CLOSED_ALERT_ACTION = (
    "Called patient the same afternoon; passive thoughts only (\u201cwouldn't mind not waking up\u201d), "
    "no plan or intent, no access to firearms. Safety plan reviewed with patient and escort; "
    "988 and clinic numbers confirmed. Next visit moved up to this week."
)

INDUCTION_DAYS = (1, 3, 7, 10, 14, 17)  # six sessions over about three weeks, after the baseline visit


@dataclass(frozen=True)
class Plan:
    outcome: Outcome
    start: datetime.date  # baseline visit
    qids: bool
    pcl5: bool
    madrs: bool
    cadss: bool
    open_alert: bool = False
    closed_alert: bool = False


def _weekday(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:  # the clinic treats on weekdays
        day += datetime.timedelta(days=1)
    return day


def answers_for(instrument: Instrument, target: int, rng: random.Random, zero: set[str]) -> dict[str, int]:
    """Answers to every item whose total (by the instrument's components) is `target`.

    Items in `zero` are answered 0; a "max" component gets its value on one item, the others lower.
    `target` is clamped to what the remaining items can reach.
    """
    components = instrument.scoring.components
    top = {item.id: max(item.values) for item in instrument.items}
    capacity: dict[str, int] = {}
    for comp in components:
        free = [i for i in comp.items if i not in zero]
        if not free:
            capacity[comp.id] = 0
        elif comp.combine == "sum":
            capacity[comp.id] = sum(top[i] for i in free)
        else:
            capacity[comp.id] = max(top[i] for i in free)
    target = max(0, min(target, sum(capacity.values())))
    levels = dict.fromkeys(capacity, 0)
    for _ in range(target):
        open_ids = [c for c in capacity if levels[c] < capacity[c]]
        # Prefer spreading evenly, with some randomness, as real answers are.
        weights = [1 + capacity[c] - levels[c] for c in open_ids]
        levels[rng.choices(open_ids, weights)[0]] += 1
    answers: dict[str, int] = {item.id: 0 for item in instrument.items if item.scored}
    for comp in components:
        free = [i for i in comp.items if i not in zero]
        value = levels[comp.id]
        if comp.combine == "sum":
            for _ in range(value):
                item_id = rng.choice([i for i in free if answers[i] < top[i]])
                answers[item_id] += 1
        elif free:
            chosen = rng.choice(free)
            for i in free:
                answers[i] = value if i == chosen else rng.randint(0, value)
    for item in instrument.items:
        if not item.scored and item.required:  # pragma: no cover - none of the seeded instruments
            answers[item.id] = min(item.values)
    return answers


def _ratio(plan: Plan, visit: int, rng: random.Random) -> float:
    """Fraction of the baseline score at `visit` (0 = baseline): an exponential approach to the plan's end."""
    final = {"remitter": 0.15, "responder": 0.38, "partial": 0.65, "non_responder": 0.95}[plan.outcome]
    progress = 1 - math.exp(-visit / 3.0)
    return 1 - (1 - final) * progress + rng.uniform(-0.06, 0.06)


@dataclass
class _Writer:
    clinic: Clinic
    nurse: Actor
    prescriber: Actor
    therapist: Actor
    rng: random.Random
    responses: int = 0

    def at(self, day: datetime.date, minutes: int) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time(0), tzinfo=self.clinic.zone) + datetime.timedelta(
            minutes=minutes
        )

    def submit(
        self,
        actor: Actor,
        patient: Patient,
        code: str,
        target: int,
        when: datetime.datetime,
        *,
        item9: int = 0,
    ) -> Response:
        instrument = get_instrument(code)
        answers = answers_for(instrument, target, self.rng, SAFETY_ZERO.get(code, set()))
        if code == "phq9" and item9:
            answers["9"] = item9
        if code in UNSCORED_FROM_TOTAL:
            item_id, per_step = UNSCORED_FROM_TOTAL[code]
            total = rules.score(instrument, answers).total or 0
            answers[item_id] = min(max(instrument.item(item_id).values), total // per_step)
        self.responses += 1
        return submit_response(actor, patient, code, answers, source=ResponseSource.STAFF, completed_at=when)


def plans(patients: list[Patient], today: datetime.date, rng: random.Random) -> list[tuple[Patient, Plan]]:
    chosen: list[tuple[Patient, Plan]] = []
    for index, patient in enumerate(patients):
        outcome = OUTCOMES[index % len(OUTCOMES)]
        open_alert = index == 3  # a non-responder, seen a few days ago
        closed_alert = index == 4  # a responder, whose alert was early in induction
        weeks = 8 + (index * 5) % 14  # two to five months in treatment
        start = _weekday(today - datetime.timedelta(weeks=weeks, days=rng.randint(0, 4)))
        chosen.append(
            (
                patient,
                Plan(
                    outcome=outcome,
                    start=start,
                    qids=index % 3 == 0,
                    pcl5=index % 5 == 1,
                    madrs=index % 2 == 0,
                    cadss=index % 4 == 2,
                    open_alert=open_alert,
                    closed_alert=closed_alert,
                ),
            )
        )
    return chosen


def _visit_days(plan: Plan, today: datetime.date, rng: random.Random) -> list[datetime.date]:
    """Baseline, six induction sessions, then maintenance every 2-4 weeks; all before today."""
    days = [plan.start] + [_weekday(plan.start + datetime.timedelta(days=d)) for d in INDUCTION_DAYS]
    last = today - datetime.timedelta(days=3)
    while True:
        following = _weekday(days[-1] + datetime.timedelta(days=rng.choice((14, 21, 21, 28))))
        if following >= today:
            break
        days.append(following)
    if plan.open_alert:
        # The latest visit is exactly a few days ago (and nothing after it).
        days = [d for d in days if d < last - datetime.timedelta(days=6)] + [last]
    return sorted({d for d in days if d < today})


def _close_old_alert(writer: _Writer, response: Response, actor: Actor) -> None:
    """Acknowledge and close the alert the response raised, dated as it happened (the visit's afternoon).

    `submit_response` raises alerts at the moment of entry; the demo's history entered it weeks
    ago, so the alert's own clock is moved back to the response, and its first notifications are
    marked as sent then (the outbox must not mail staff today about an alert closed weeks ago).
    """
    raised = response.completed_at + datetime.timedelta(minutes=4)
    alert = SafetyAlert.objects.get(response=response)
    SafetyAlert.objects.filter(pk=alert.pk).update(
        raised_at=raised, ack_due_at=raised + datetime.timedelta(minutes=writer.clinic.alert_ack_minutes)
    )
    AlertNotification.objects.filter(alert=alert, sent_at__isnull=True).update(
        sent_at=raised + datetime.timedelta(minutes=1), attempts=1
    )
    # Closing an open alert also acknowledges it; `acknowledge_alert` alone would audit an
    # acknowledgement weeks after the (back-dated) raise.
    close_alert(actor, alert.pk, CLOSED_ALERT_ACTION, raised + datetime.timedelta(minutes=35))
    SafetyAlert.objects.filter(pk=alert.pk).update(
        acknowledged_at=raised + datetime.timedelta(minutes=9), closed_at=raised + datetime.timedelta(minutes=52)
    )


def _treat(writer: _Writer, patient: Patient, plan: Plan, today: datetime.date) -> int:
    """Write one patient's history; returns the number of alerts raised."""
    rng = writer.rng
    alerts = 0
    base = {
        "phq9": rng.randint(15, 23),
        "gad7": rng.randint(9, 18),
        "qids_sr16": rng.randint(14, 21),
        "pcl5": rng.randint(38, 58),
        "madrs": rng.randint(26, 36),
    }
    if plan.outcome == "remitter":
        base["phq9"] = min(base["phq9"], 18)  # so that 15 % of baseline is below 5
    days = _visit_days(plan, today, rng)
    alert_visit = 3 if plan.closed_alert else (len(days) - 1 if plan.open_alert else -1)
    for visit, day in enumerate(days):
        minutes = rng.choice((8 * 60 + 30, 9 * 60 + 15, 10 * 60, 11 * 60 + 30, 13 * 60, 14 * 60 + 15))
        before = writer.at(day, minutes - 15)
        ratio = _ratio(plan, visit, rng)

        late = visit >= len(INDUCTION_DAYS) + 2

        def target(code: str, ratio: float = ratio, late: bool = late) -> int:
            value = round(base[code] * ratio)
            if code == "phq9" and plan.outcome == "remitter" and late:
                value = min(value, 4)
            return value

        item9 = 1 if visit == alert_visit else 0
        phq = writer.submit(writer.nurse, patient, "phq9", target("phq9"), before, item9=item9)
        if item9:
            alerts += 1
            if plan.closed_alert:
                _close_old_alert(writer, phq, writer.prescriber)
        writer.submit(writer.nurse, patient, "gad7", target("gad7"), before + datetime.timedelta(minutes=3))
        induction_end = visit == len(INDUCTION_DAYS)
        maintenance = visit > len(INDUCTION_DAYS)
        if plan.qids and (visit == 0 or induction_end or maintenance):
            writer.submit(
                writer.nurse, patient, "qids_sr16", target("qids_sr16"), before + datetime.timedelta(minutes=5)
            )
        if plan.pcl5 and (visit == 0 or induction_end or maintenance):
            # PTSD symptoms move more slowly than depressive ones.
            pcl = round(base["pcl5"] * (1 - (1 - ratio) * 0.7))
            writer.submit(writer.therapist, patient, "pcl5", pcl, before + datetime.timedelta(minutes=7))
        if plan.madrs and (visit == 0 or induction_end):
            writer.submit(writer.prescriber, patient, "madrs", target("madrs"), before - datetime.timedelta(minutes=20))
        if plan.cadss and 1 <= visit <= len(INDUCTION_DAYS):
            # Rated about 40 minutes after the dose; dissociation fades over the induction series.
            writer.submit(
                writer.nurse,
                patient,
                "cadss",
                max(2, 22 - 3 * visit + rng.randint(-3, 3)),
                writer.at(day, minutes + 40),
            )
    return alerts


def seed_measures(clinic: Clinic, actors: dict[Role, Actor], count: int = MBC_PATIENTS) -> tuple[int, int]:
    """Give the first `count` active patients (by MRN) their treatment history. Returns (responses, alerts)."""
    today = timezone.localdate(timezone=clinic.zone)
    patients = list(Patient.objects.filter(clinic=clinic, status=PatientStatus.ACTIVE).order_by("mrn")[:count])
    treated = set(Response.objects.filter(patient__in=patients).values_list("patient_id", flat=True))
    writer = _Writer(
        clinic,
        nurse=actors[Role.NURSE],
        prescriber=actors[Role.PRESCRIBER],
        therapist=actors[Role.THERAPIST],
        rng=random.Random(MBC_SEED),  # noqa: S311 (synthetic data, not security)
    )
    alerts = 0
    for patient, plan in plans(patients, today, random.Random(MBC_SEED)):  # noqa: S311
        # One generator per patient, so a patient's history does not depend on who else was seeded.
        writer.rng = random.Random(f"{MBC_SEED}-{patient.mrn}")  # noqa: S311
        if patient.pk in treated:
            continue
        alerts += _treat(writer, patient, plan, today)
    return writer.responses, alerts
