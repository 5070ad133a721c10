"""Height, weight and blood pressure: the one place that records them and picks the latest weight."""

from __future__ import annotations

import datetime
from decimal import Decimal

from ketacare.accounts.models import User
from ketacare.patients.models import BodyMeasurement, MeasurementSource, Patient


def latest_weight(patient: Patient) -> BodyMeasurement | None:
    """The most recent measurement with a weight (by the date it was taken, then when recorded)."""
    return (
        BodyMeasurement.objects.filter(patient=patient, weight_kg__isnull=False)
        .order_by("-measured_on", "-recorded_at", "-id")
        .first()
    )


def add_measurement(
    patient: Patient,
    *,
    measured_on: datetime.date,
    source: MeasurementSource,
    recorded_by: User | None,
    weight_kg: Decimal | None = None,
    height_cm: Decimal | None = None,
    systolic_mmhg: int | None = None,
    diastolic_mmhg: int | None = None,
) -> BodyMeasurement | None:
    """Append a measurement (None when every value is empty). Call inside the caller's audited action."""
    if all(v is None for v in (weight_kg, height_cm, systolic_mmhg, diastolic_mmhg)):
        return None
    return BodyMeasurement.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        measured_on=measured_on,
        source=source,
        recorded_by=recorded_by,
        weight_kg=weight_kg,
        height_cm=height_cm,
        systolic_mmhg=systolic_mmhg,
        diastolic_mmhg=diastolic_mmhg,
    )
