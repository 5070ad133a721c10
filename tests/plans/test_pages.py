"""Plan pages: the list and new-plan form, recording a weight, signing with a password, the lock, revising."""

from __future__ import annotations

import datetime
import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import BodyMeasurement
from ketacare.plans import actions
from ketacare.plans.models import PlanStatus, TreatmentPlan
from tests.conftest import ALL_PERSONAS, PASSWORD
from tests.plans.conftest import TODAY

FIRST = (TODAY + datetime.timedelta(days=1)).isoformat()


def create_body(version, **extra):
    return {"protocol_version": version.pk, "first_session_on": FIRST, "form_token": str(uuid.uuid4()), **extra}


def test_list_shows_weight_working_and_creates_a_draft(client_for, weighed, iv_version):
    client = client_for("ben")
    page = client.get(reverse("plans-list", args=[weighed.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="latest-weight">82.4 kg' in html
    assert "2026-11-22" in html
    assert "0.5 mg/kg × 82.4 kg = 41.2 mg → rounded down to 40 mg (step 5 mg)" in html
    assert "6 sessions, 2 per week, within 21 days, at least 48 h apart" in html

    body = create_body(iv_version)
    response = client.post(reverse("plans-list", args=[weighed.pk]), body)
    again = client.post(reverse("plans-list", args=[weighed.pk]), body)  # double click

    plan = TreatmentPlan.objects.get()
    assert response.status_code == again.status_code == 302
    assert response["Location"] == reverse("plans-detail", args=[plan.pk])
    detail = client.get(response["Location"]).content.decode()
    assert 'data-testid="plan-dose">40 mg' in detail
    assert "Sat 2026-11-28" in detail
    assert "After session 3" in detail  # review points of the protocol


def test_missing_weight_shows_the_field_error_and_the_weight_form(client_for, patient, iv_version):
    client = client_for("ben")
    response = client.post(reverse("plans-list", args=[patient.pk]), create_body(iv_version))

    html = response.content.decode()
    assert response.status_code == 422
    assert "no weight with its date on record" in html
    assert 'data-testid="weight-form"' in html
    assert not TreatmentPlan.objects.exists()

    # Record today's weight from the page, then the plan is made.
    token = str(uuid.uuid4())
    weight = {"weight_kg": "82.4", "measured_on": TODAY.isoformat(), "form_token": token}
    assert client.post(reverse("plans-weight", args=[patient.pk]), weight).status_code == 302
    client.post(reverse("plans-weight", args=[patient.pk]), weight)  # double click: one measurement
    assert BodyMeasurement.objects.filter(patient=patient).count() == 1
    assert client.post(reverse("plans-list", args=[patient.pk]), create_body(iv_version)).status_code == 302


def test_weight_too_old_is_shown_on_the_list(client_for, actors, patient, iv_version):
    actions.record_weight(actors["ben"], patient, Decimal("82.4"), TODAY - datetime.timedelta(days=40))

    html = client_for("ben").get(reverse("plans-list", args=[patient.pk])).content.decode()

    assert "40 days old; this protocol allows 30: re-measure before dosing" in html
    assert re.search(r"<details open>\s*<summary>Record today", html)


def test_sign_with_password_then_the_page_refuses_edits(client_for, actors, weighed, iv_version, gate):
    plan = actions.create_plan(
        actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1)
    )
    client = client_for("ada")

    wrong = client.post(reverse("plans-sign", args=[plan.pk]), {"password": "nope"})
    assert wrong.status_code == 422
    assert "The password is not correct" in wrong.content.decode()
    assert AuditEvent.objects.filter(event_type="plan.sign_refused", detail__password_wrong=True).exists()

    signed = client.post(reverse("plans-sign", args=[plan.pk]), {"password": PASSWORD})
    assert signed.status_code == 302
    html = client.get(reverse("plans-detail", args=[plan.pk])).content.decode()
    assert "Signed by Ada Okafor on" in html
    assert 'data-testid="edit-plan-form"' not in html
    assert 'data-testid="sign-form"' not in html
    assert 'data-testid="revise-plan"' in html

    edit = client.post(
        reverse("plans-detail", args=[plan.pk]),
        {"protocol_version": iv_version.pk, "first_session_on": "2026-12-01", "interval_days": "4"},
    )
    assert edit.status_code == 409
    assert "This plan is signed and locked; revise it to make a new version" in edit.content.decode()
    assert TreatmentPlan.objects.get(pk=plan.pk).first_session_on == TODAY + datetime.timedelta(days=1)


def test_sign_refusal_names_eligibility_and_consent(client_for, actors, weighed, iv_version, gate):
    from ketacare.consents.queries import MissingConsent

    gate.eligible, gate.message = False, "No eligibility decision for IV ketamine yet."
    gate.missing = [MissingConsent("ketamine_iv", "IV ketamine informed consent", "never signed")]
    plan = actions.create_plan(
        actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1)
    )

    response = client_for("ada").post(reverse("plans-sign", args=[plan.pk]), {"password": PASSWORD})

    html = response.content.decode()
    assert response.status_code == 422
    assert "No eligibility decision for IV ketamine yet." in html
    assert "Missing consent: IV ketamine informed consent (never signed)." in html
    assert TreatmentPlan.objects.get(pk=plan.pk).status == PlanStatus.DRAFT
    assert AuditEvent.objects.filter(event_type="plan.sign_refused").count() == 1


def test_revise_and_update_draft_from_the_pages(client_for, actors, weighed, iv_version, gate):
    plan = actions.create_plan(
        actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1)
    )
    actions.sign_plan(actors["ada"], plan, PASSWORD)
    client = client_for("ben")

    response = client.post(reverse("plans-revise", args=[plan.pk]))

    draft = TreatmentPlan.objects.get(previous=plan)
    assert response["Location"] == reverse("plans-detail", args=[draft.pk])
    update = client.post(
        reverse("plans-detail", args=[draft.pk]),
        {"protocol_version": iv_version.pk, "first_session_on": "2026-11-26", "interval_days": "4", "notes": "later"},
    )
    assert update.status_code == 302
    draft.refresh_from_db()
    assert (draft.planned_sessions[0], draft.planned_sessions[1], draft.notes) == ("2026-11-26", "2026-11-30", "later")
    html = client.get(reverse("plans-detail", args=[draft.pk])).content.decode()
    assert html.count('data-testid="plan-lineage"') == 1
    assert 'Version 1</a> <span class="kc-status kc-status-active">Signed' in html


def test_chart_partial_shows_the_plan(client_for, actors, weighed, iv_version):
    actions.create_plan(actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1))

    html = client_for("tess").get(reverse("plans-chart", args=[weighed.pk])).content.decode()

    assert 'data-testid="chart-plan"' in html
    assert "40 mg" in html


@pytest.mark.parametrize("who", [*ALL_PERSONAS, "anon"])
def test_authorization_matrix(who, client_for, actors, weighed, iv_version, gate):
    """View: clinicians and the auditor. Draft: prescriber and nurse. Sign: prescriber. Dee: 404 on reads."""
    plan = actions.create_plan(
        actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1)
    )
    client = client_for(who)
    before = (TreatmentPlan.objects.count(), BodyMeasurement.objects.count())

    view = client.get(reverse("plans-list", args=[weighed.pk])).status_code
    detail = client.get(reverse("plans-detail", args=[plan.pk])).status_code
    chart = client.get(reverse("plans-chart", args=[weighed.pk])).status_code
    create = client.post(
        reverse("plans-list", args=[weighed.pk]), create_body(iv_version, first_session_on="2026-11-30")
    )
    weight = client.post(
        reverse("plans-weight", args=[weighed.pk]), {"weight_kg": "80", "measured_on": TODAY.isoformat()}
    )
    sign = client.post(reverse("plans-sign", args=[plan.pk]), {"password": PASSWORD}).status_code

    expected_view = {"ann": 200, "ada": 200, "ben": 200, "tess": 200, "aud": 200, "cy": 403, "ivy": 403, "dee": 404}
    if who == "anon":
        assert {view, detail, chart, create.status_code, weight.status_code, sign} == {302}
    else:
        assert view == detail == chart == expected_view[who]
        drafts = who in ("ada", "ben")
        # Dee is an administrator (elsewhere): the role check refuses before the clinic check.
        assert create.status_code == (302 if drafts else 403)
        assert weight.status_code == (302 if drafts else 403)
        assert sign == (302 if who == "ada" else 403)
    if who not in ("ada", "ben"):
        assert (TreatmentPlan.objects.count(), BodyMeasurement.objects.count()) == before
        assert TreatmentPlan.objects.get(pk=plan.pk).status == PlanStatus.DRAFT


def test_list_query_count_does_not_grow_with_plans(client_for, actors, weighed, iv_version, django_assert_num_queries):
    client = client_for("ben")
    url = reverse("plans-list", args=[weighed.pk])
    actions.create_plan(actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1))
    client.get(url)  # warm the session and middleware caches

    with django_assert_num_queries(13) as one:
        client.get(url)
    for _ in range(3):
        actions.create_plan(actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=2))
    with django_assert_num_queries(len(one.captured_queries)):
        client.get(url)


@pytest.mark.parametrize("who", [*ALL_PERSONAS, "anon"])
def test_revise_and_cancel_authorization(who, client_for, actors, weighed, iv_version, gate):
    """Revise: prescriber and nurse. Cancel a signed plan: prescriber only (the action checks PLAN_SIGN)."""
    signed = actions.sign_plan(
        actors["ada"],
        actions.create_plan(actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1)),
        PASSWORD,
    )
    client = client_for(who)

    revise = client.post(reverse("plans-revise", args=[signed.pk])).status_code
    cancel = client.post(reverse("plans-cancel", args=[signed.pk]), {"reason": "stop"})

    if who == "anon":
        assert (revise, cancel.status_code) == (302, 302)
        assert TreatmentPlan.objects.count() == 1
    elif who in ("ada", "ben"):
        assert revise == 302
        assert TreatmentPlan.objects.filter(previous=signed).count() == 1
    else:
        assert (revise, cancel.status_code) == (403, 403)
        assert TreatmentPlan.objects.count() == 1
    expected = PlanStatus.CANCELLED if who == "ada" else PlanStatus.SIGNED
    assert TreatmentPlan.objects.get(pk=signed.pk).status == expected


def test_chart_query_count_does_not_grow(client_for, actors, weighed, iv_version, django_assert_num_queries):
    client = client_for("ben")
    url = reverse("plans-chart", args=[weighed.pk])
    actions.create_plan(actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=1))
    client.get(url)

    with django_assert_num_queries(11) as one:
        client.get(url)
    for _ in range(3):
        actions.create_plan(actors["ben"], weighed, iv_version.pk, first_session_on=TODAY + datetime.timedelta(days=2))
    with django_assert_num_queries(len(one.captured_queries)):
        client.get(url)
