"""The eligibility review page, the decision form (HTMX and plain), the chart summary and the queue:
what each role sees and may do, and that a refused request changes nothing."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.eligibility.models import EligibilityDecision, ScreeningEvaluation
from ketacare.screening.models import Intake
from ketacare.screening.signals import intake_changed
from tests.conftest import ALL_PERSONAS
from tests.eligibility.conftest import make_intake

VIEWERS = {"ann", "ada", "ben", "tess", "aud"}  # eligibility.view
EVALUATORS = {"ann", "ada", "ben"}  # complete intakes or decide: running the screening stores it


def _counts() -> tuple[int, int]:
    return ScreeningEvaluation.objects.count(), EligibilityDecision.objects.count()


@pytest.mark.parametrize("key", [*ALL_PERSONAS, "anon"])
def test_review_page_authorization(key, client_for, patient):
    make_intake(patient, hypertension_uncontrolled=True)
    response = client_for(key).get(reverse("eligibility-review", args=[patient.pk]))
    if key in VIEWERS:
        assert response.status_code == 200
        assert 'data-testid="route-iv"' in response.content.decode()
        assert ScreeningEvaluation.objects.count() == (4 if key in EVALUATORS else 0)
        event = AuditEvent.objects.filter(event_type="eligibility.viewed").get()
        assert event.patient_id == patient.pk
    else:
        assert response.status_code == {"anon": 302, "dee": 404}.get(key, 403)
        assert _counts() == (0, 0)
        assert not AuditEvent.objects.filter(event_type="eligibility.viewed").exists()


def test_review_shows_the_flagged_rule_with_its_source_and_missing_facts(client_for, patient):
    make_intake(patient, hypertension_uncontrolled=True, sleep_apnoea=None)
    html = client_for("ada").get(reverse("eligibility-review", args=[patient.pk])).content.decode()
    iv = html[html.index('data-testid="route-iv"') : html.index('data-testid="route-im"')]
    assert "✕ Contraindicated" in iv
    rule = iv[iv.index('data-testid="rule-hypertension_uncontrolled"') :]
    assert "Uncontrolled hypertension was a trial exclusion" in rule
    assert re.search(r'data-testid="rule-source">Source: <cite>PMC10812090 · clinical.md §2.4</cite>', rule)
    assert 'name="iv-override_hypertension_uncontrolled"' in rule
    assert "Reason to override: Uncontrolled hypertension" in rule
    # an unassessed rule names the missing fact in words
    assert "Missing from the intake: Sleep apnoea (known, or positive screen such as STOP-BANG)" in iv
    assert 'value="eligible_with_precautions"' in iv
    assert "Eligible with precautions" in iv


def test_read_only_roles_see_the_screening_without_a_form(client_for, patient):
    make_intake(patient, hypertension=True)
    html = client_for("tess").get(reverse("eligibility-review", args=[patient.pk])).content.decode()
    assert "! Caution" in html
    assert "Hypertension" in html
    assert "decision-form-iv" not in html
    assert "A prescriber decides." in html


def test_without_a_submitted_intake_the_page_says_so_and_links_to_the_intake(client_for, patient):
    Intake.objects.create(clinic=patient.clinic, patient=patient, status="sent", facts={})
    html = client_for("ada").get(reverse("eligibility-review", args=[patient.pk])).content.decode()
    assert 'data-testid="no-intake"' in html
    assert reverse("screening-intake", args=[patient.pk]) in html
    assert "decision-form" not in html
    assert _counts() == (0, 0)


def _post(client, patient, evaluation, data, htmx=True, token=None):
    route = evaluation.route
    body = {
        "form_token": token or str(uuid.uuid4()),
        f"{route}-evaluation_id": evaluation.pk,
        **{f"{route}-{k}": v for k, v in data.items()},
    }
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse("eligibility-decide", args=[patient.pk, route]), body, **headers)


@pytest.mark.parametrize("key", [*ALL_PERSONAS, "anon"])
def test_decide_authorization(key, client_for, patient, evaluate):
    evaluation = evaluate(make_intake(patient), "iv")
    client = client_for(key)
    before = AuditEvent.objects.count()
    response = _post(client, patient, evaluation, {"decision": "eligible"}, htmx=False)
    if key == "ada":
        assert response.status_code == 302
        assert EligibilityDecision.objects.get().decision == "eligible"
    else:
        # Dee is an administrator elsewhere: no administrator decides, so her role is refused first.
        assert response.status_code == (302 if key == "anon" else 403)
        assert not EligibilityDecision.objects.exists()
        assert not AuditEvent.objects.filter(event_type="eligibility_decision.recorded").exists()
        assert AuditEvent.objects.count() - before <= 1  # at most the refusal itself


def test_htmx_decision_with_precautions_and_a_reason_swaps_the_card(client_for, patient, evaluate):
    evaluation = evaluate(make_intake(patient, hypertension_uncontrolled=True), "iv")
    response = _post(
        client_for("ada"),
        patient,
        evaluation,
        {
            "decision": "eligible_with_precautions",
            "precautions": "BP before and every 15 minutes",
            "reason": "Controlled on amlodipine since referral.",
            "override_hypertension_uncontrolled": "128/82 today; controlled.",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<section")
    assert 'id="route-iv"' in html
    assert 'data-testid="decision-saved"' in html
    assert "BP before and every 15 minutes" in html
    assert "128/82 today; controlled." in html
    made = EligibilityDecision.objects.get()
    assert made.decision == "eligible_with_precautions"
    assert made.reason == "Controlled on amlodipine since referral."


def test_a_refused_decision_names_the_rule_next_to_it_and_changes_nothing(client_for, patient, evaluate):
    evaluation = evaluate(make_intake(patient, hypertension_uncontrolled=True), "iv")
    response = _post(client_for("ada"), patient, evaluation, {"decision": "eligible"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_iv-override_hypertension_uncontrolled_error"' in html
    assert "is a contraindication: give your reason" in html
    assert "The decision was not recorded" in html
    assert not EligibilityDecision.objects.exists()
    # without HTMX: the whole page, same errors
    response = _post(client_for("ada"), patient, evaluation, {"decision": "eligible"}, htmx=False)
    assert response.status_code == 422
    assert "<html" in response.content.decode()
    assert "is a contraindication: give your reason" in response.content.decode()


def test_a_stale_form_is_refreshed_with_the_new_screening(client_for, actors, patient, evaluate):
    intake = make_intake(patient)
    evaluation = evaluate(intake, "iv")
    Intake.objects.filter(pk=intake.pk).update(version=2)
    response = _post(client_for("ada"), patient, evaluation, {"decision": "eligible"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="stale"' in html
    assert "re-evaluate" in html
    assert not EligibilityDecision.objects.exists()
    fresh = ScreeningEvaluation.objects.get(intake_version=2, route="iv")
    assert f'value="{fresh.pk}"' in html


def test_a_double_submit_records_one_decision(client_for, patient, evaluate):
    evaluation = evaluate(make_intake(patient), "iv")
    client, token = client_for("ada"), str(uuid.uuid4())
    for _ in range(2):
        response = _post(client, patient, evaluation, {"decision": "eligible"}, token=token)
        assert response.status_code == 200
    assert EligibilityDecision.objects.count() == 1


def test_the_page_shows_the_flag_and_the_history(client_for, actors, patient, evaluate, decide):
    intake = make_intake(patient, hypertension=True)
    evaluation = evaluate(intake, "iv")
    decide(evaluation, "not_eligible", reason="First look.")
    decide(evaluation, "eligible_with_precautions", precautions="BP checks")
    Intake.objects.filter(pk=intake.pk).update(version=2)
    intake.refresh_from_db()
    intake_changed.send(sender=Intake, intake=intake, actor=actors["ben"], changed=["pregnant"])
    html = client_for("aud").get(reverse("eligibility-review", args=[patient.pk])).content.decode()
    assert "Flagged for review:</strong> Intake changed (version 2): Pregnant." in html
    assert 'data-testid="decision-history"' in html
    assert "Superseded" in html


@pytest.mark.parametrize("key", [*ALL_PERSONAS, "anon"])
def test_chart_summary_authorization(key, client_for, patient, evaluate, decide):
    decide(evaluate(make_intake(patient, hypertension=True), "iv"), "eligible_with_precautions", precautions="BP")
    response = client_for(key).get(reverse("eligibility-chart", args=[patient.pk]), HTTP_HX_REQUEST="true")
    if key in VIEWERS:
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-testid="chart-route-iv"' in html
        assert "Eligible with precautions" in html
        assert "! Caution" in html
    else:
        assert response.status_code == {"anon": 302, "dee": 404}.get(key, 403)


def test_chart_summary_shows_the_review_flag(client_for, actors, patient, evaluate, decide):
    intake = make_intake(patient)
    decide(evaluate(intake, "iv"), "eligible")
    intake_changed.send(sender=Intake, intake=intake, actor=None, changed=["pregnant"])
    html = client_for("ben").get(reverse("eligibility-chart", args=[patient.pk])).content.decode()
    assert 'data-testid="chart-review-flag"' in html


@pytest.mark.parametrize("key", [*ALL_PERSONAS, "anon"])
def test_queue_authorization(key, client_for, patient, outside_patient):
    make_intake(patient)
    make_intake(outside_patient)
    response = client_for(key).get(reverse("eligibility-queue"))
    if key in VIEWERS | {"dee"}:
        assert response.status_code == 200
        html = response.content.decode()
        # each clinic sees only its own patients
        assert (patient.mrn in html) == (key != "dee")
        assert (outside_patient.mrn in html) == (key == "dee")
    else:
        assert response.status_code == (302 if key == "anon" else 403)


def test_queue_lists_flagged_and_undecided_patients_only(client_for, make_patient, evaluate, decide, actors):
    waiting = make_patient(legal_first_name="Wai", legal_last_name="Ting")
    make_intake(waiting)
    decided = make_patient(legal_first_name="Dee", legal_last_name="Cided")
    decide(evaluate(make_intake(decided), "iv"), "eligible")
    flagged = make_patient(legal_first_name="Flag", legal_last_name="Ged")
    intake = make_intake(flagged)
    decide(evaluate(intake, "iv"), "eligible")
    intake_changed.send(sender=Intake, intake=intake, actor=actors["ben"], changed=["pregnant"])
    make_patient(legal_first_name="No", legal_last_name="Intake")
    html = client_for("ada").get(reverse("eligibility-queue")).content.decode()
    rows = re.findall(r'data-testid="queue-row"', html)
    assert len(rows) == 2
    assert html.index(flagged.mrn) < html.index(waiting.mrn)  # flagged first
    assert decided.mrn not in html
    assert "Flagged for review: intake changed" in html
    event = AuditEvent.objects.filter(event_type="patient.searched").order_by("-id").first()
    assert event is not None
    assert event.detail["rows_returned"] == 2


QUEUE_QUERIES = 10


def test_queue_query_count_does_not_grow_with_rows(client_for, make_patient, django_assert_num_queries):
    client = client_for("ada")
    make_intake(make_patient(legal_first_name="One"))
    with django_assert_num_queries(QUEUE_QUERIES):
        assert client.get(reverse("eligibility-queue")).status_code == 200
    for name in ("Two", "Three", "Four"):
        make_intake(make_patient(legal_first_name=name))
    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(reverse("eligibility-queue"))
    assert response.content.decode().count('data-testid="queue-row"') == 4


def test_a_decided_route_folds_the_form_under_record_a_new_decision(client_for, patient, evaluate, decide):
    decide(evaluate(make_intake(patient, hypertension=True), "iv"), "eligible_with_precautions", precautions="BP")
    html = client_for("ada").get(reverse("eligibility-review", args=[patient.pk])).content.decode()
    iv = html[html.index('data-testid="route-iv"') : html.index('data-testid="route-im"')]
    assert 'data-testid="new-decision-iv"' in iv
    # the override field is inside the folded form, once, not beside the rule
    assert iv.count('name="iv-override_hypertension_history"') == 1
    assert iv.index('name="iv-override_hypertension_history"') > iv.index('data-testid="new-decision-iv"')
    im = html[html.index('data-testid="route-im"') :]
    assert 'data-testid="new-decision-im"' not in im


def test_facts_the_rules_cannot_take_are_shown_not_crashed(client_for, patient):
    Intake.objects.create(clinic=patient.clinic, patient=patient, status="submitted", facts={"pregnant": "yes"})
    response = client_for("ada").get(reverse("eligibility-review", args=[patient.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="screening-error"' in html
    assert "pregnant must be true or false" in html
    assert not ScreeningEvaluation.objects.exists()
