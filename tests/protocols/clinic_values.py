"""A test clinic's values for the library's clinic-set fields (clinical.md gives no number for these;
the fasting pair follows the 6 h / 2 h clinic example of §2.7 [AMG-KET])."""

from __future__ import annotations

from typing import Any

IV_CLINIC_VALUES: dict[str, Any] = {
    "dose.rounding_step_mg": "5",
    "dose.rounding_direction": "down",
    "dose.min_mg": "10",
    "dose.max_mg": "60",
    "dose.max_weight_age_days": 30,
    "series.min_interval_hours": 48,
    "observation.minimum_minutes": 30,
    "fasting.no_food_minutes": 360,
    "fasting.no_liquids_minutes": 120,
    "maintenance[maintenance].interval_days_options": [14, 28],
    "alert_thresholds[heart_rate_high].value": 120,
    "alert_thresholds[spo2_low].value": 92,
}
SPRAVATO_CLINIC_VALUES: dict[str, Any] = {
    "series.min_interval_hours": 48,
    "alert_thresholds[spo2_low].value": 92,
}
