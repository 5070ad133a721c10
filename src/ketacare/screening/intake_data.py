"""The intake packet as one typed value, shared by the patient page, the staff form and the API.

`IntakeData` is what `actions.start_intake / submit_by_patient / update_intake` take. Facts follow the
vocabulary of `facts.py` (name -> True/False/number; a missing name or `None` is "not known yet" and is
stored absent). `PATIENT_QUESTIONS` lists, section by section, the facts a patient can answer in plain
language; every other fact (`CLINICIAN_FACTS`) is a clinician's judgement and appears only in the staff
form. The dose adequacy of a prior trial is also the prescriber's judgement.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import pydantic
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ketacare.screening.evaluate import FactsError, check_facts
from ketacare.screening.facts import FACTS, FACTS_BY_NAME

FactValue = bool | float | None

TEXT_FIELDS: tuple[str, ...] = (
    "reason_for_referral",
    "diagnoses",
    "referring_clinician",
    "psychiatric_history",
    "medical_history",
    "current_medications",
    "allergies",
    "substance_use",
)
MEASUREMENT_FIELDS: tuple[str, ...] = ("height_cm", "weight_kg", "systolic_mmhg", "diastolic_mmhg", "measured_on")
TRIAL_FIELDS: tuple[str, ...] = (
    "drug",
    "dose",
    "dose_adequate",
    "duration_weeks",
    "adherence",
    "response",
    "reason_stopped",
)
# Blood pressure facts come from the measured values (Intake.screening_facts); typed separately only by staff.
_DERIVED_FACTS = frozenset({"systolic_bp_mmhg", "diastolic_bp_mmhg"})


@dataclass(frozen=True)
class Question:
    fact: str
    text: str  # plain language, as the patient reads it
    help: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    intro: str
    questions: tuple[Question, ...]
    text_fields: tuple[str, ...] = ()


PATIENT_SECTIONS: tuple[Section, ...] = (
    Section(
        "referral",
        "Why you are coming to us",
        "Tell us in your own words. Your care team will go through it with you.",
        (),
        ("reason_for_referral", "diagnoses", "referring_clinician"),
    ),
    Section(
        "psychiatric",
        "Your mental health history",
        "These questions help us make ketamine treatment as safe as possible for you.",
        (
            Question(
                "psychotic_disorder",
                "Have you ever been diagnosed with schizophrenia, schizoaffective disorder "
                "or schizophreniform disorder?",
            ),
            Question(
                "psychosis_history",
                "Have you ever had psychosis (hearing or seeing things others did not, "
                "or beliefs others said were not real)?",
            ),
            Question(
                "bipolar_disorder", "Have you ever been diagnosed with bipolar disorder or had an episode of mania?"
            ),
            Question(
                "mood_stabiliser",
                "Do you take a mood stabilizer now (for example lithium, valproate or lamotrigine)?",
            ),
            Question("suicide_attempt_history", "Have you ever attempted suicide?"),
        ),
        ("psychiatric_history",),
    ),
    Section(
        "medical",
        "Your physical health",
        "Ketamine raises blood pressure for a short time, so we ask about your heart, blood vessels and brain.",
        (
            Question("hypertension", "Have you ever been told you have high blood pressure (hypertension)?"),
            Question(
                "ischaemic_heart_disease",
                "Have you ever had heart disease, such as angina, a heart attack or blocked heart arteries?",
            ),
            Question("cerebrovascular_disease", "Have you ever had a stroke or a mini-stroke (TIA)?"),
            Question(
                "aneurysmal_vascular_disease",
                "Have you ever been told you have an aneurysm "
                "(a bulging blood vessel in the brain, chest, belly or elsewhere)?",
            ),
            Question(
                "arteriovenous_malformation",
                "Have you ever been told you have an arteriovenous malformation (AVM), a tangle of blood vessels?",
            ),
            Question(
                "intracerebral_haemorrhage_history", "Have you ever had bleeding inside the brain (a brain hemorrhage)?"
            ),
            Question("seizures", "Have you ever had a seizure or been diagnosed with epilepsy?"),
            Question("liver_disease", "Have you ever been told you have liver disease or liver damage?"),
            Question(
                "sleep_apnoea",
                "Have you been diagnosed with sleep apnea (pauses in breathing while asleep)?",
            ),
        ),
        ("medical_history",),
    ),
    Section(
        "medicines",
        "Your medicines and allergies",
        "Some medicines change how ketamine works. Include ones you take only sometimes.",
        (
            Question(
                "takes_benzodiazepine",
                "Do you take a benzodiazepine, for example lorazepam (Ativan), clonazepam (Klonopin), "
                "alprazolam (Xanax) or diazepam (Valium)?",
            ),
            Question(
                "takes_sedative_hypnotic",
                "Do you take a sleeping pill such as zolpidem (Ambien) or eszopiclone (Lunesta)?",
            ),
            Question(
                "takes_opioid",
                "Do you take an opioid, for example oxycodone, hydrocodone, morphine, tramadol, "
                "buprenorphine or methadone?",
            ),
            Question(
                "takes_psychostimulant",
                "Do you take a stimulant, for example Adderall, Ritalin or Vyvanse?",
            ),
            Question(
                "takes_maoi",
                "Do you take an MAOI antidepressant: phenelzine (Nardil), tranylcypromine (Parnate), "
                "isocarboxazid (Marplan) or selegiline (Emsam)?",
            ),
            Question(
                "ketamine_hypersensitivity",
                "Have you ever had an allergic reaction to ketamine or esketamine (Spravato)?",
            ),
        ),
        ("current_medications", "allergies"),
    ),
    Section(
        "substances",
        "Alcohol and drugs",
        "Your answers are confidential and help us keep you safe.",
        (
            Question(
                "ketamine_or_pcp_misuse_history",
                "Have you ever used ketamine or PCP other than as prescribed by a doctor?",
            ),
        ),
        ("substance_use",),
    ),
    Section(
        "pregnancy",
        "Pregnancy and breastfeeding",
        "Ketamine is not given during pregnancy or breastfeeding. Answer “No” if this does not apply to you.",
        (
            Question("pregnant", "Are you pregnant?"),
            Question("breastfeeding", "Are you breastfeeding?"),
        ),
    ),
)

PATIENT_FACTS: tuple[str, ...] = tuple(q.fact for s in PATIENT_SECTIONS for q in s.questions)
CLINICIAN_FACTS: tuple[str, ...] = tuple(f.name for f in FACTS if f.name not in PATIENT_FACTS)

TEXT_LABELS: dict[str, tuple[str, str]] = {
    # field: (patient's label, staff label)
    "reason_for_referral": ("What brings you to the clinic? Why were you referred?", "Reason for referral"),
    "diagnoses": ("Mental health diagnoses you have been given, if any", "Diagnoses"),
    "referring_clinician": ("Who referred you (doctor or clinic), if anyone", "Referring clinician"),
    "psychiatric_history": (
        "Anything else about your mental health history (hospital stays, treatments that helped or not)",
        "Psychiatric history",
    ),
    "medical_history": ("Any other illnesses, operations or health problems", "Medical history"),
    "current_medications": (
        "All the medicines you take now: name, dose and how often (include over-the-counter medicines and supplements)",
        "Current medications",
    ),
    "allergies": ("Allergies (medicines, foods, latex) and what happens", "Allergies"),
    "substance_use": ("Alcohol, cannabis and other drugs: what you use and how often", "Substance use"),
}

Adherence = Literal["good", "partial", "poor"]
TrialResponse = Literal["none", "partial", "response", "remission"]


class TrialData(BaseModel):
    """One prior antidepressant trial. `dose_adequate` is the prescriber's judgement (None: not judged)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    drug: str = Field(min_length=1, max_length=120)
    dose: str = Field(default="", max_length=60)
    dose_adequate: bool | None = None
    duration_weeks: Decimal | None = Field(default=None, ge=0, le=Decimal("999.9"), decimal_places=1)
    adherence: Adherence | None = None
    response: TrialResponse | None = None
    reason_stopped: str = Field(default="", max_length=200)

    @field_validator("duration_weeks")
    @classmethod
    def _tenths(cls, value: Decimal | None) -> Decimal | None:
        return _tenths(value)


def _tenths(value: Decimal | None) -> Decimal | None:
    return value.quantize(Decimal("0.1")) if value is not None else None


class IntakeData(BaseModel):
    """Everything an intake holds, typed. Any field left out is empty/unknown."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason_for_referral: str = Field(default="", max_length=5000)
    diagnoses: str = Field(default="", max_length=5000)
    referring_clinician: str = Field(default="", max_length=200)
    psychiatric_history: str = Field(default="", max_length=10000)
    medical_history: str = Field(default="", max_length=10000)
    current_medications: str = Field(default="", max_length=10000)
    allergies: str = Field(default="", max_length=5000)
    substance_use: str = Field(default="", max_length=5000)
    facts: dict[str, FactValue] = Field(default_factory=dict)
    height_cm: Decimal | None = Field(default=None, gt=0, lt=300, decimal_places=1)
    weight_kg: Decimal | None = Field(default=None, gt=0, lt=1000, decimal_places=1)
    systolic_mmhg: int | None = Field(default=None, ge=40, le=300)
    diastolic_mmhg: int | None = Field(default=None, ge=20, le=250, validate_default=True)
    measured_on: datetime.date | None = Field(default=None, validate_default=True)
    trials: list[TrialData] = Field(default_factory=list, max_length=30)

    @field_validator("facts", mode="before")
    @classmethod
    def _fact_kinds(cls, value: Any) -> Any:
        # JSON `1` for a yes/no fact must not silently become True; numbers stay numbers.
        if isinstance(value, dict):
            try:
                check_facts(value)
            except FactsError as exc:
                raise ValueError(str(exc)) from None
            return {
                k: (float(v) if v is not None and FACTS_BY_NAME[k].kind == "number" else v) for k, v in value.items()
            }
        return value

    @field_validator("height_cm", "weight_kg")
    @classmethod
    def _one_decimal(cls, value: Decimal | None) -> Decimal | None:
        return _tenths(value)

    @field_validator("diastolic_mmhg")
    @classmethod
    def _both_numbers(cls, value: int | None, info: ValidationInfo) -> int | None:
        systolic = info.data.get("systolic_mmhg")
        if "systolic_mmhg" not in info.data:
            return value  # the top number was itself refused
        if (systolic is None) != (value is None):
            raise ValueError("Give both blood pressure numbers (top and bottom).")
        if systolic is not None and value is not None and value >= systolic:
            raise ValueError("The bottom number must be lower than the top number.")
        return value

    @field_validator("measured_on")
    @classmethod
    def _date_taken(cls, value: datetime.date | None, info: ValidationInfo) -> datetime.date | None:
        measured = any(info.data.get(f) is not None for f in MEASUREMENT_FIELDS if f != "measured_on")
        if measured and value is None:
            raise ValueError("Give the date the height, weight or blood pressure was taken.")
        # A day's slack: "today" differs across the clinic's and the server's zones.
        if value is not None and value > timezone.now().date() + datetime.timedelta(days=1):
            raise ValueError("The date taken cannot be in the future.")
        return value

    def known_facts(self) -> dict[str, bool | float]:
        return {k: v for k, v in self.facts.items() if v is not None}

    def for_patient(self) -> IntakeData:
        """The same data without what only a clinician judges (clinician facts, dose adequacy)."""
        return self.model_copy(
            update={
                "facts": {k: v for k, v in self.facts.items() if k in PATIENT_FACTS},
                "trials": [t.model_copy(update={"dose_adequate": None}) for t in self.trials],
            }
        )


def data_errors(exc: pydantic.ValidationError) -> dict[str, list[str]]:
    """Pydantic errors as {"field": [messages]} (`facts`, `trials.0.drug`, `measured_on`)."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        field = ".".join(loc) or "__all__"
        message = str(error.get("msg", "Invalid value."))
        errors.setdefault(field, []).append(message.removeprefix("Value error, "))
    return errors


def fact_label(name: str) -> str:
    spec = FACTS_BY_NAME.get(name)
    return spec.label if spec else name


def is_derived_fact(name: str) -> bool:
    return name in _DERIVED_FACTS
