"""A clinic's starting appointment types (issue #8); an admin adapts them on the settings page.

Lengths of the dosing visits: arrival and pre-dose checks, then the dose. An IV infusion runs about
40 minutes (clinical.md §2.3 [MEDSCAPE-SANACORA, ANAND-NEJM]); Spravato's devices go at 5-minute
intervals (§1.1). The buffer after a dosing visit is the protocol's minimum observation (Spravato:
120 minutes, §1.3 [REMS-FDA]); where the protocol leaves it to the clinic and the clinic has not set
it, the buffer here is used: 30 minutes after IV (practice examples 20-30 minutes after a ~40-minute
infusion, §2.6 [NEWLIFE-KET, KETWELL]), and the same for IM and oral until the clinic says otherwise.
"""

from __future__ import annotations

from ketacare.clinics.models import Clinic
from ketacare.scheduling.models import AppointmentType, Category, ClinicianRole, Space

# code, name, category, duration, buffer, space, nurse, clinician, prescriber on site
DEFAULT_TYPES: list[tuple[str, str, str, int, int | None, str, bool, str, bool]] = [
    ("consultation", "Consultation", Category.CONSULTATION, 60, 0, Space.ROOM, False, ClinicianRole.PRESCRIBER, False),
    ("iv-infusion", "IV ketamine infusion", Category.IV_INFUSION, 60, 30, Space.CHAIR, True, ClinicianRole.NONE, False),
    ("im-injection", "IM ketamine", Category.IM, 30, 30, Space.CHAIR, True, ClinicianRole.NONE, False),
    ("spravato", "Spravato (esketamine)", Category.SPRAVATO, 30, 120, Space.CHAIR, True, ClinicianRole.NONE, True),
    ("oral", "Oral / sublingual ketamine", Category.ORAL, 30, 30, Space.CHAIR, True, ClinicianRole.NONE, False),
    (
        "integration",
        "Integration therapy",
        Category.INTEGRATION,
        50,
        10,
        Space.ROOM,
        False,
        ClinicianRole.THERAPIST,
        False,
    ),
    ("follow-up", "Follow-up", Category.FOLLOW_UP, 30, 0, Space.ROOM, False, ClinicianRole.PRESCRIBER, False),
    ("telehealth", "Telehealth visit", Category.TELEHEALTH, 30, 0, Space.NONE, False, ClinicianRole.PRESCRIBER, False),
]


def ensure_default_types(clinic: Clinic) -> list[AppointmentType]:
    """Create the default types the clinic does not have yet (by code); returns all of the clinic's."""
    have = set(AppointmentType.objects.filter(clinic=clinic).values_list("code", flat=True))
    for order, (code, name, category, duration, buffer, space, nurse, clinician, onsite) in enumerate(DEFAULT_TYPES):
        if code in have:
            continue
        AppointmentType.objects.create(
            clinic=clinic,
            code=code,
            name=name,
            category=category,
            duration_minutes=duration,
            buffer_minutes=buffer,
            space=space,
            needs_nurse=nurse,
            clinician_role=clinician,
            needs_prescriber_on_site=onsite,
            sort_order=order,
        )
    return list(AppointmentType.objects.filter(clinic=clinic))
