"""The intake facts vocabulary: every fact a screening rule may name, as typed constants.

A fact is a yes/no answer or a number taken from the intake (issue #5 item 1). The vocabulary follows
the intake list of issue #5 and the items of ../shared/reference/clinical.md sections 1.1, 1.4, 2.4
and 2.5; `section` on each fact says where it comes from. A fact that is absent or `None` is
*unknown*: the evaluator reports the rules that need it as "not assessed", never as "no concern".

Some facts are a clinician's judgement, not a patient's answer (e.g. `bp_rise_serious_hazard`,
`interacting_medication`); their label says so and staff complete them at review.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

Route = Literal["iv", "im", "intranasal_esketamine", "oral"]
ROUTES: tuple[Route, ...] = ("iv", "im", "intranasal_esketamine", "oral")

FactKind = Literal["bool", "number"]


@dataclass(frozen=True)
class FactSpec:
    name: str
    kind: FactKind
    label: str
    section: str  # clinical.md section (or "issue #5") the fact comes from
    unit: str = ""


class Facts(TypedDict, total=False):
    """Intake facts for one patient. A missing key or `None` means "not known yet"."""

    # psychiatric history
    psychosis_current: bool | None
    mania_current: bool | None
    psychotic_disorder: bool | None
    psychosis_history: bool | None
    bipolar_disorder: bool | None
    mood_stabiliser: bool | None
    suicide_attempt_history: bool | None
    # cardiovascular and neurological
    hypertension: bool | None
    hypertension_uncontrolled: bool | None
    systolic_bp_mmhg: float | None
    diastolic_bp_mmhg: float | None
    bp_rise_serious_hazard: bool | None
    ischaemic_heart_disease: bool | None
    arrhythmia_significant: bool | None
    cerebrovascular_disease: bool | None
    cerebrovascular_disease_unstable: bool | None
    aneurysmal_vascular_disease: bool | None
    arteriovenous_malformation: bool | None
    intracerebral_haemorrhage_history: bool | None
    seizures: bool | None
    severe_medical_or_neurological_illness: bool | None
    liver_disease: bool | None
    sleep_apnoea: bool | None
    # substances and medicines
    substance_use_disorder_active: bool | None
    intoxication_or_withdrawal: bool | None
    ketamine_or_pcp_misuse_history: bool | None
    lorazepam_equivalent_mg_per_day: float | None
    takes_benzodiazepine: bool | None
    takes_sedative_hypnotic: bool | None
    takes_opioid: bool | None
    takes_psychostimulant: bool | None
    takes_maoi: bool | None
    interacting_medication: bool | None
    ketamine_hypersensitivity: bool | None
    spravato_excipient_hypersensitivity: bool | None
    # pregnancy
    pregnant: bool | None
    breastfeeding: bool | None


def _b(name: str, label: str, section: str) -> FactSpec:
    return FactSpec(name, "bool", label, section)


FACTS: tuple[FactSpec, ...] = (
    _b("psychosis_current", "Current psychosis", "2.4"),
    _b("mania_current", "Current mania", "2.4"),
    _b("psychotic_disorder", "Schizophrenia, schizoaffective or schizophreniform disorder", "2.4"),
    _b("psychosis_history", "History of psychosis", "issue #5"),
    _b("bipolar_disorder", "Bipolar disorder", "2.4"),
    _b("mood_stabiliser", "Currently takes a mood stabiliser", "2.4"),
    _b("suicide_attempt_history", "History of suicide attempt", "issue #5"),
    _b("hypertension", "Hypertension (history, controlled or not)", "2.5"),
    _b("hypertension_uncontrolled", "Uncontrolled hypertension", "2.4"),
    FactSpec("systolic_bp_mmhg", "number", "Systolic blood pressure at intake", "1.5, 2.5", "mmHg"),
    FactSpec("diastolic_bp_mmhg", "number", "Diastolic blood pressure at intake", "1.5, 2.5", "mmHg"),
    _b(
        "bp_rise_serious_hazard",
        "A condition where a significant rise in blood pressure would be a serious hazard (clinician's judgement)",
        "2.4",
    ),
    _b("ischaemic_heart_disease", "Ischaemic heart disease", "2.4"),
    _b("arrhythmia_significant", "Significant arrhythmia", "2.4"),
    _b("cerebrovascular_disease", "Cerebrovascular disease", "2.4"),
    _b("cerebrovascular_disease_unstable", "Unstable cerebrovascular disease", "2.4"),
    _b(
        "aneurysmal_vascular_disease",
        "Aneurysmal vascular disease (thoracic or abdominal aorta, intracranial or peripheral arteries)",
        "1.1",
    ),
    _b("arteriovenous_malformation", "Arteriovenous malformation", "1.1"),
    _b("intracerebral_haemorrhage_history", "History of intracerebral haemorrhage", "1.1"),
    _b("seizures", "Seizures", "issue #5"),
    _b("severe_medical_or_neurological_illness", "Severe medical or neurological illness", "2.4"),
    _b("liver_disease", "Liver disease or impairment", "1.1, 2.2"),
    _b("sleep_apnoea", "Sleep apnoea (known, or positive screen such as STOP-BANG)", "2.2"),
    _b("substance_use_disorder_active", "Active substance use disorder", "2.4"),
    _b("intoxication_or_withdrawal", "Acute intoxication or withdrawal", "2.4"),
    _b("ketamine_or_pcp_misuse_history", "Prior ketamine or PCP misuse", "2.4"),
    FactSpec(
        "lorazepam_equivalent_mg_per_day",
        "number",
        "Benzodiazepine load, lorazepam-equivalent",
        "2.4",
        "mg/day",
    ),
    _b("takes_benzodiazepine", "Takes a benzodiazepine", "1.4"),
    _b("takes_sedative_hypnotic", "Takes a non-benzodiazepine sedative hypnotic", "1.4"),
    _b("takes_opioid", "Takes an opioid", "1.4"),
    _b("takes_psychostimulant", "Takes a psychostimulant", "1.4"),
    _b("takes_maoi", "Takes an MAOI", "1.4"),
    _b("interacting_medication", "Takes a medicine that interacts with ketamine (clinician's judgement)", "2.4"),
    _b("ketamine_hypersensitivity", "Hypersensitivity or allergy to ketamine or esketamine", "1.1, 2.4"),
    _b("spravato_excipient_hypersensitivity", "Hypersensitivity to an excipient of Spravato", "1.1"),
    _b("pregnant", "Pregnant", "2.4"),
    _b("breastfeeding", "Breastfeeding", "2.4"),
)

FACTS_BY_NAME: dict[str, FactSpec] = {f.name: f for f in FACTS}
