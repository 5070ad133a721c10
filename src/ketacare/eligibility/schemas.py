"""Shapes of /api/v1/eligibility."""

from __future__ import annotations

import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

RouteIn = Literal["iv", "im", "intranasal_esketamine", "oral"]
DecisionIn = Literal["eligible", "eligible_with_precautions", "not_eligible"]


class RuleResultOut(Schema):
    id: str
    title: str
    severity: str
    outcome: str
    reason: str
    sources: list[str]
    section: str
    citation: str  # source keys (clinical.md section 10) and the clinical.md section
    missing: list[str]


class EvaluationOut(Schema):
    id: int
    patient_id: int
    intake_id: int
    intake_version: int
    route: str
    ruleset: str
    ruleset_version: str
    status: str
    results: list[RuleResultOut]
    missing_facts: list[str]
    evaluated_at: datetime.datetime
    current: bool  # taken on the patient's current intake version


class OverrideOut(Schema):
    rule_id: str
    title: str
    outcome: str
    reason: str


class DecisionOut(Schema):
    id: int
    patient_id: int
    route: str
    decision: str
    evaluation_id: int
    precautions: str
    reason: str
    overrides: list[OverrideOut]
    decided_by: str
    decided_at: datetime.datetime
    is_current: bool
    superseded_at: datetime.datetime | None
    needs_review: bool
    review_reason: str
    flagged_at: datetime.datetime | None
    allows_plan: bool


class RouteOut(Schema):
    route: str
    label: str
    evaluation: EvaluationOut | None
    decision: DecisionOut | None


class IntakeRefOut(Schema):
    id: int
    version: int
    status: str


class EligibilityOut(Schema):
    patient_id: int
    intake: IntakeRefOut | None
    routes: list[RouteOut]


class EvaluateIn(Schema):
    intake_id: int
    route: RouteIn | None = Field(None, description="One route, or null for every route")


class DecisionCreateIn(Schema):
    patient_id: int
    route: RouteIn
    decision: DecisionIn
    evaluation_id: int
    reason: str = Field("", max_length=4000)
    precautions: str = Field("", max_length=4000)
    overrides: dict[str, str] = Field(
        default_factory=dict,
        description="{rule_id: reason} for each rule the decision disagrees with",
        examples=[{"hypertension_controlled": "BP controlled on two agents; checked before each session."}],
    )
