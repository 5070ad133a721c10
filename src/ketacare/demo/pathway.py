"""The care pathway before the first dose, for the demo clinic: intake, screening, consent, plan.

Everything goes through the real actions (as the nurse, the prescriber or the front desk, via "cli"),
so audit rows, PDFs, evaluations and locks are exactly what the pages would make. Each step happens
at the date it would have happened: the demo travels in time (time-machine, a dev dependency) to the
day before each patient's first session; without time-machine every step is dated today.

- The protocols: Bluestem adopts the library's IV racemic ketamine and Spravato (TRD) protocols,
  enters the values clinical.md leaves to the clinic, and its prescriber publishes them.
- Patients in treatment (those `mbc.py` gives scores): intake reviewed, screened, decided eligible
  (with precautions where a caution fired), treatment consent signed on the clinic tablet (Spravato:
  REMS enrolment countersigned by the prescriber), and a signed plan whose first session is their
  first induction visit. One has also withdrawn the optional research consent.
- New patients, one per stage: intake link sent and not answered; intake sent back and awaiting
  review; screened with cautions awaiting the prescriber; not eligible (aneurysm); eligible with
  precautions, consented and a signed plan starting next week; decided and then flagged for review
  because the intake changed; Spravato REMS enrolment awaiting the prescriber's countersignature.

Idempotent: a patient who already has an intake is left alone.
"""

from __future__ import annotations

import contextlib
import datetime
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ketacare.accounts.context import Actor, Origin
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic
from ketacare.consents import actions as consent_actions
from ketacare.demo.mbc import MBC_SEED
from ketacare.demo.mbc import plans as mbc_plans
from ketacare.eligibility import actions as eligibility_actions
from ketacare.patients.models import Patient, PatientStatus
from ketacare.plans import actions as plan_actions
from ketacare.protocols import actions as protocol_actions
from ketacare.protocols.models import ClinicProtocol, ClinicProtocolVersion, VersionStatus
from ketacare.screening import actions as intake_actions
from ketacare.screening.facts import FACTS
from ketacare.screening.intake_data import IntakeData, TrialData
from ketacare.screening.models import Intake

TABLET = Origin(remote_addr="10.20.0.31", user_agent="Bluestem front-desk tablet (demo)", via="kiosk")
PHONE = Origin(remote_addr="203.0.113.77", user_agent="Mozilla/5.0 (iPhone; demo)", via="link")

POLICY = "Bluestem Ketamine Clinic protocol review (demo)"
# Values clinical.md leaves to the clinic (see protocols/library/README.md); the fasting pair
# follows the 6 h / 2 h clinic example of clinical.md §2.7.
IV_VALUES: dict[str, Any] = {
    "dose.rounding_step_mg": "1",
    "dose.rounding_direction": "nearest",
    "dose.min_mg": "10",
    "dose.max_mg": "70",
    "dose.max_weight_age_days": 30,
    "series.min_interval_hours": 48,
    "observation.minimum_minutes": 45,
    "fasting.no_food_minutes": 360,
    "fasting.no_liquids_minutes": 120,
    "maintenance[maintenance].interval_days_options": [14, 21, 28],
    "alert_thresholds[heart_rate_high].value": 120,
    "alert_thresholds[spo2_low].value": 92,
}
SPRAVATO_VALUES: dict[str, Any] = {
    "series.min_interval_hours": 48,
    "alert_thresholds[spo2_low].value": 92,
}

# Every fact known and "no", the blood pressure from the intake measurement; stages change a few.
NO_CONCERNS: dict[str, Any] = {f.name: False for f in FACTS if f.kind == "bool"} | {
    "lorazepam_equivalent_mg_per_day": 0
}

TRIALS = (
    TrialData(drug="Sertraline", dose="150 mg/day", dose_adequate=True, duration_weeks=Decimal(10),
              adherence="good", response="none", reason_stopped="No benefit"),
    TrialData(drug="Bupropion XL", dose="300 mg/day", dose_adequate=True, duration_weeks=Decimal(8),
              adherence="good", response="partial", reason_stopped="Partial response, anxiety worse"),
    TrialData(drug="Venlafaxine XR", dose="225 mg/day", dose_adequate=True, duration_weeks=Decimal(12),
              adherence="partial", response="none", reason_stopped="Nausea, no benefit"),
)  # fmt: skip


@contextlib.contextmanager
def _on(day: datetime.date, clinic: Clinic, hour: int = 10) -> Iterator[None]:
    """Act as if it were `hour` o'clock on `day` in the clinic (no travel without time-machine)."""
    try:
        import time_machine
    except ImportError:  # pragma: no cover - production installs have no dev dependencies
        yield
        return
    moment = datetime.datetime.combine(day, datetime.time(hour), tzinfo=clinic.zone)
    if moment >= timezone.now():
        yield
        return
    with time_machine.travel(moment, tick=True):
        yield


def _intake_data(patient: Patient, facts: dict[str, Any], *, weight: str, bp: tuple[int, int], day: datetime.date,
                 trials: int = 3, reason: str = "") -> IntakeData:  # fmt: skip
    return IntakeData(
        reason_for_referral=reason or "Treatment-resistant depression; referred by primary care for ketamine.",
        diagnoses="Major depressive disorder, recurrent, severe without psychotic features",
        referring_clinician="Dr. Lena Whitfield, Prairie Family Medicine",
        psychiatric_history="Recurrent depressive episodes since early twenties; outpatient therapy (CBT).",
        medical_history="No significant medical history reported.",
        current_medications="Escitalopram 20 mg daily",
        allergies="No known drug allergies",
        substance_use="Alcohol 1-2 drinks a week; no other substances.",
        facts=NO_CONCERNS | facts,
        height_cm=Decimal("172.0"),
        weight_kg=Decimal(weight),
        systolic_mmhg=bp[0],
        diastolic_mmhg=bp[1],
        measured_on=day,
        trials=list(TRIALS[:trials]),
    )


def _weight_for(patient: Patient) -> str:
    return f"{58 + (patient.pk * 7) % 45}.{patient.pk % 10}"


def _protocols(clinic: Clinic, admin: Actor, prescriber: Actor, day: datetime.date) -> dict[str, int]:
    """Adopt, complete and publish the clinic's IV and Spravato protocols. Returns code -> version id."""
    published: dict[str, int] = {}
    for code, values in (("iv_racemic_ketamine", IV_VALUES), ("spravato_trd", SPRAVATO_VALUES)):
        existing = (
            ClinicProtocolVersion.objects.filter(
                clinic=clinic, clinic_protocol__based_on_code=code, status=VersionStatus.PUBLISHED
            )
            .order_by("-version")
            .first()
        )
        if existing is None:
            with _on(day, clinic, hour=9):
                if not ClinicProtocol.objects.filter(clinic=clinic, based_on_code=code).exists():
                    protocol_actions.adopt_protocol(admin, code, "1")
                copy = ClinicProtocol.objects.get(clinic=clinic, based_on_code=code)
                draft = protocol_actions.edit_protocol(admin, copy, values, POLICY)
                existing = protocol_actions.publish_version(prescriber, draft)
        published[code] = existing.pk
    return published


def _screen_and_decide(
    prescriber: Actor, intake: Intake, route: str, *, decision: str, precautions: str = "", reason: str = ""
) -> None:
    evaluation = eligibility_actions.evaluate_intake(prescriber, intake, route)
    eligibility_actions.decide(
        prescriber,
        intake.patient,
        route,
        decision=decision,
        evaluation_id=evaluation.pk,
        precautions=precautions,
        reason=reason,
    )


def _sign_on_tablet(staff: Actor, patient: Patient, codes: list[str]) -> list[int]:
    handover = consent_actions.start_tablet_signing(staff, patient, codes)
    today = timezone.localdate(timezone=patient.clinic.zone)
    return [
        consent_actions.sign_on_tablet(
            handover, code, signed_name=patient.legal_name, signed_on=today, agreed=True, origin=TABLET
        ).pk
        for code in codes
    ]


def _reviewed_intake(nurse: Actor, patient: Patient, data: IntakeData) -> Intake:
    return intake_actions.mark_reviewed(nurse, intake_actions.start_intake(nurse, patient, data))


def _ready_for_treatment(
    actors: dict[Role, Actor],
    patient: Patient,
    versions: dict[str, int],
    *,
    first_session: datetime.date,
    spravato: bool,
    facts: dict[str, Any],
    precautions: str,
    research: bool,
) -> None:
    """Intake reviewed, eligible, consented and a signed plan, the week before `first_session`."""
    nurse, prescriber, desk = actors[Role.NURSE], actors[Role.PRESCRIBER], actors[Role.FRONT_DESK]
    clinic = patient.clinic
    day = first_session - datetime.timedelta(days=6)
    with _on(day, clinic):
        intake = _reviewed_intake(
            nurse, patient, _intake_data(patient, facts, weight=_weight_for(patient), bp=(124, 78), day=day)
        )
        route = "intranasal_esketamine" if spravato else "iv"
        decision = "eligible_with_precautions" if precautions else "eligible"
        _screen_and_decide(prescriber, intake, route, decision=decision, precautions=precautions)
        codes = ["spravato_rems_enrolment" if spravato else "ketamine_treatment"]
        if research:
            codes.append("research_data_use")
        signed = _sign_on_tablet(desk, patient, codes)
        if spravato:
            consent_actions.countersign_consent(prescriber, signed[0])
        plan = plan_actions.create_plan(
            nurse,
            patient,
            versions["spravato_trd" if spravato else "iv_racemic_ketamine"],
            first_session_on=first_session,
            selected_mg=Decimal(56) if spravato else None,
            notes="Induction series; review response after the third session (protocol review point).",
        )
        plan_actions.sign_plan(prescriber, plan, _password())


def _password() -> str:
    from ketacare.demo.seed import DEMO_PASSWORD

    return DEMO_PASSWORD


def seed_pathway(clinic: Clinic, actors: dict[Role, Actor], in_treatment: int) -> int:
    """Give demo patients their pathway records. Returns the number of patients given one."""
    today = timezone.localdate(timezone=clinic.zone)
    active = list(Patient.objects.filter(clinic=clinic, status=PatientStatus.ACTIVE).order_by("mrn"))
    with_intake = set(Intake.objects.filter(clinic=clinic).values_list("patient_id", flat=True))
    treated = mbc_plans(active[:in_treatment], today, random.Random(MBC_SEED))  # noqa: S311 - synthetic data
    earliest = min((plan.start for _, plan in treated), default=today) - datetime.timedelta(days=30)
    versions = _protocols(clinic, actors[Role.ADMIN], actors[Role.PRESCRIBER], earliest)
    done = 0
    for index, (patient, plan) in enumerate(treated):
        if patient.pk in with_intake:
            continue
        caution = index % 4 == 1  # controlled hypertension: a caution, eligible with precautions
        _ready_for_treatment(
            actors,
            patient,
            versions,
            first_session=plan.start + datetime.timedelta(days=1),
            spravato=index % 7 == 5,
            facts={"hypertension": True} if caution else {},
            precautions=(
                "Controlled hypertension on lisinopril: take the usual morning dose; recheck BP before "
                "dosing and every 15 minutes; prescriber to be called above the protocol threshold."
            )
            if caution
            else "",
            research=index % 3 == 0,
        )
        done += 1
        if index == 6:  # one patient later withdrew the optional research consent
            _withdraw_research(actors[Role.FRONT_DESK], patient, plan.start + datetime.timedelta(days=20))
    newcomers = active[in_treatment:]
    if not any(p.pk in with_intake for p in newcomers):  # the stages are seeded once, together
        done += _stages(actors, newcomers, versions, today)
    return done


def _withdraw_research(desk: Actor, patient: Patient, day: datetime.date) -> None:
    from ketacare.consents.queries import consent_in_force

    consent = consent_in_force(patient, "research_data_use")
    if consent is None:
        return
    with _on(day, patient.clinic, hour=14):
        consent_actions.withdraw_consent(
            desk, consent.pk, "Patient asked by phone not to have their data used for research.", "telephone"
        )


def _stages(actors: dict[Role, Actor], patients: list[Patient], versions: dict[str, int], today: datetime.date) -> int:
    """One new patient at each stage before treatment."""
    nurse, prescriber, desk = actors[Role.NURSE], actors[Role.PRESCRIBER], actors[Role.FRONT_DESK]
    if len(patients) < 9:
        return 0
    p = iter(patients)

    def ago(days: int) -> datetime.date:
        return today - datetime.timedelta(days=days)

    # 1-2. Intake link sent, not answered yet (one yesterday, one four days ago).
    for days in (1, 4):
        with _on(ago(days), desk.clinic, hour=11):
            intake_actions.send_intake_link(desk, next(p))

    # 3. The patient sent the intake back through the link; awaiting staff review.
    patient = next(p)
    with _on(ago(3), desk.clinic, hour=9):
        _, link = intake_actions.send_intake_link(desk, patient)
    with _on(ago(2), desk.clinic, hour=20):
        intake_actions.submit_by_patient(
            link,
            _intake_data(patient, {"sleep_apnoea": True, "takes_benzodiazepine": True}, weight="91.6",
                         bp=(132, 84), day=ago(2), trials=2),
            PHONE,
        )  # fmt: skip

    # 4. Reviewed and screened with cautions (sleep apnoea; bipolar II on lamotrigine): awaiting the prescriber.
    patient = next(p)
    with _on(ago(2), desk.clinic):
        intake = _reviewed_intake(
            nurse,
            patient,
            _intake_data(
                patient,
                {"sleep_apnoea": True, "bipolar_disorder": True, "mood_stabiliser": True},
                weight="77.3",
                bp=(128, 82),
                day=ago(2),
            ),
        )
        eligibility_actions.evaluate_all_routes(nurse, intake)

    # 5. Not eligible: aneurysmal vascular disease (absolute contraindication on the ketamine label).
    patient = next(p)
    with _on(ago(9), desk.clinic):
        intake = _reviewed_intake(
            nurse, patient, _intake_data(patient, {"aneurysmal_vascular_disease": True}, weight="84.0",
                                         bp=(138, 86), day=ago(9))
        )  # fmt: skip
        for route in ("iv", "intranasal_esketamine"):
            _screen_and_decide(
                prescriber,
                intake,
                route,
                decision="not_eligible",
                reason="Known 4.1 cm abdominal aortic aneurysm under vascular surgery follow-up: a blood-pressure "
                "rise is a serious hazard. Discussed other options; referred back to psychiatry for ECT assessment.",
            )

    # 6. Eligible with precautions, consented, signed plan starting next week.
    _ready_for_treatment(
        actors,
        next(p),
        versions,
        first_session=_next_weekday(today + datetime.timedelta(days=6)),
        spravato=False,
        facts={"liver_disease": True},
        precautions="Mild fatty liver (ALT 58): LFTs before session 4 and at the end of induction.",
        research=True,
    )

    # 7. Decided eligible, then the intake changed (new, high blood pressure): flagged for review.
    patient = next(p)
    with _on(ago(8), desk.clinic):
        data = _intake_data(patient, {}, weight="69.8", bp=(122, 76), day=ago(8))
        intake = _reviewed_intake(nurse, patient, data)
        _screen_and_decide(prescriber, intake, "iv", decision="eligible")
    with _on(ago(1), desk.clinic, hour=15):
        intake_actions.update_intake(
            nurse,
            intake,
            data.model_copy(
                update={"systolic_mmhg": 168, "diastolic_mmhg": 104, "measured_on": ago(1),
                         "facts": data.facts | {"hypertension": True}}
            ),
        )  # fmt: skip

    # 8. Spravato: eligible, REMS enrolment signed by the patient, awaiting the prescriber's countersignature.
    patient = next(p)
    with _on(ago(1), desk.clinic):
        intake = _reviewed_intake(nurse, patient, _intake_data(patient, {}, weight="80.2", bp=(126, 80), day=ago(1)))
        _screen_and_decide(prescriber, intake, "intranasal_esketamine", decision="eligible")
        _sign_on_tablet(desk, patient, ["spravato_rems_enrolment"])
    return 8


def _next_weekday(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day
