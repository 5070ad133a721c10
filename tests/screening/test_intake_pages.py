"""Staff intake pages: who sees what (front desk: status and link, never answers), who edits, the
trial count and verdicts, review, sending links and baseline questionnaires, the chart summary and
the clinic queue with its pinned query count."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ketacare.measures.models import QuestionnaireRequest
from ketacare.patients.models import PatientLink
from ketacare.screening import actions
from ketacare.screening.models import Intake, IntakeStatus

from .conftest import complete_data

ALL = ["ann", "ada", "ben", "tess", "cy", "ivy", "aud", "dee", "anon"]
READ_ANSWERS = {"ann", "ada", "ben", "tess", "aud"}
SEE_STATUS = READ_ANSWERS | {"cy"}
EDIT = {"ann", "ada", "ben"}


def expected(who: str, allowed: set[str]) -> int:
    if who == "anon":
        return 302
    if who == "dee":
        return 404
    return 200 if who in allowed else 403


def staff_post(intake: Intake, **overrides) -> dict[str, str]:
    """The staff form as the page renders it, with every fact answered and one trial."""
    from ketacare.screening.facts import FACTS

    data = {f"fact_{f.name}": "no" for f in FACTS if f.kind == "bool"}
    data.update(
        {
            "reason_for_referral": "TRD",
            "weight_kg": "82.4",
            "systolic_mmhg": "120",
            "diastolic_mmhg": "80",
            "measured_on": "2026-01-05",
            "trials-TOTAL_FORMS": "2",
            "trials-INITIAL_FORMS": "0",
            "trials-MIN_NUM_FORMS": "0",
            "trials-MAX_NUM_FORMS": "30",
            "trials-0-drug": "Sertraline",
            "trials-0-dose_adequate": "yes",
            "trials-0-duration_weeks": "10",
            "trials-0-adherence": "good",
            "trials-0-response": "none",
        }
    )
    data.update(overrides)
    return data


@pytest.mark.parametrize("who", ALL)
def test_intake_page_matrix(client_for, submitted, patient, who):
    response = client_for(who).get(reverse("screening-intake", args=[patient.pk]))
    assert response.status_code == expected(who, SEE_STATUS)
    if response.status_code != 200:
        return
    html = response.content.decode()
    assert 'data-testid="intake-status"' in html
    answers_shown = "Depression not helped by two medicines" in html
    assert answers_shown == (who in READ_ANSWERS)
    assert ('data-testid="trial-count"' in html) == (who in READ_ANSWERS)
    assert ("Save the intake" in html) == (who in EDIT)
    assert ("Mark reviewed" in html) == (who in EDIT)


def test_front_desk_sees_status_and_link_only(client_for, sent, patient):
    html = client_for("cy").get(reverse("screening-intake", args=[patient.pk])).content.decode()
    assert "Sent — waiting for the patient" in html
    assert 'data-testid="link-url"' in html
    assert "<svg" in html  # QR code
    assert "Prior antidepressant trials" not in html


def test_page_shows_trial_count_verdicts_and_latest_weight(client_for, submitted, patient):
    html = client_for("ada").get(reverse("screening-intake", args=[patient.pk])).content.decode()
    assert "0</strong> adequate failed trials" in html
    assert "2</strong> undetermined" in html
    assert "Undetermined" in html
    assert "minimum duration (not set by the clinic)" in html
    assert "Sertraline" in html
    assert "82.4 kg, taken" in html
    assert "eligibility page" in html  # changes after a decision are eligibility's business


@pytest.mark.parametrize("who", ALL)
def test_edit_matrix_and_denials_change_nothing(client_for, submitted, who):
    url = reverse("screening-intake-edit", args=[submitted.pk])
    response = client_for(who).post(url, staff_post(submitted))
    submitted.refresh_from_db()
    if who in EDIT:
        assert response.status_code == 302
        assert submitted.version == 2
        assert submitted.reason_for_referral == "TRD"
        return
    assert response.status_code == {"anon": 302, "dee": 404}.get(who, 403)
    assert submitted.version == 1
    assert submitted.reason_for_referral == "Depression not helped by two medicines"


def test_edit_then_count_a_judged_trial(client_for, submitted, patient, settings):
    client = client_for("ada")
    client.post(reverse("screening-intake-edit", args=[submitted.pk]), staff_post(submitted))
    html = client.get(reverse("screening-intake", args=[patient.pk])).content.decode()
    assert "dose adequate" not in html.lower() or "(adequate)" in html
    assert "(adequate)" in html


def test_edit_with_bad_values_names_the_field_and_saves_nothing(client_for, submitted):
    response = client_for("ben").post(
        reverse("screening-intake-edit", args=[submitted.pk]), staff_post(submitted, diastolic_mmhg="130")
    )
    assert response.status_code == 422
    assert "The bottom number must be lower than the top number." in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.version == 1


def test_review_lists_what_is_missing(client_for, submitted):
    response = client_for("ada").post(reverse("screening-intake-review", args=[submitted.pk]))
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="review-errors"' in html
    assert "(clinician&#x27;s judgement): not answered yet." in html
    submitted.refresh_from_db()
    assert submitted.status == IntakeStatus.SUBMITTED


def test_review_when_complete(client_for, actors, patient):
    intake = actions.start_intake(actors["ben"], patient, complete_data())
    assert client_for("tess").post(reverse("screening-intake-review", args=[intake.pk])).status_code == 403
    response = client_for("ben").post(reverse("screening-intake-review", args=[intake.pk]))
    assert response.status_code == 302
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.REVIEWED


@pytest.mark.parametrize("who", ALL)
def test_send_link_matrix(client_for, patient, who):
    response = client_for(who).post(reverse("screening-intake-send", args=[patient.pk]))
    sends = {"ann", "ada", "ben", "tess", "cy"}
    if who in sends:
        assert response.status_code == 302
        assert PatientLink.objects.filter(patient=patient).count() == 1
    else:
        assert response.status_code == {"anon": 302, "dee": 404}.get(who, 403)
        assert not PatientLink.objects.exists()
        assert not Intake.objects.exists()


def test_double_click_on_send_makes_one_link(client_for, patient):
    client = client_for("cy")
    page = client.get(reverse("screening-intake", args=[patient.pk]))
    token = str(page.context["form_token"])
    for _ in range(2):
        client.post(reverse("screening-intake-send", args=[patient.pk]), {"form_token": token})
    assert PatientLink.objects.filter(patient=patient).count() == 1


def test_start_by_staff(client_for, patient):
    assert client_for("cy").post(reverse("screening-intake-start", args=[patient.pk])).status_code == 403
    assert client_for("ben").post(reverse("screening-intake-start", args=[patient.pk])).status_code == 302
    assert Intake.objects.get(patient=patient).status == IntakeStatus.DRAFT


def test_send_baseline_questionnaires(client_for, make_patient):
    patient = make_patient(email="jordan@example.org")
    assert client_for("aud").post(reverse("screening-baseline-send", args=[patient.pk])).status_code == 403
    response = client_for("cy").post(reverse("screening-baseline-send", args=[patient.pk]))
    assert response.status_code == 302
    assert QuestionnaireRequest.objects.get(patient=patient).instrument_codes == ["phq9", "gad7"]


@pytest.mark.parametrize("who", ALL)
def test_chart_summary_matrix(client_for, submitted, patient, who):
    response = client_for(who).get(reverse("screening-chart", args=[patient.pk]))
    assert response.status_code == expected(who, SEE_STATUS)
    if response.status_code == 200:
        html = response.content.decode()
        assert "Submitted — awaiting review" in html
        assert ('data-testid="trial-count"' in html) == (who in READ_ANSWERS)


@pytest.mark.parametrize("who", ALL)
def test_queue_matrix(client_for, submitted, who):
    response = client_for(who).get(reverse("screening-queue"))
    if who == "dee":  # her own clinic's (empty) queue: nothing of Harbor Light
        assert response.status_code == 200
        assert b"Avery" not in response.content
        return
    assert response.status_code == {"anon": 302}.get(who, 200 if who in SEE_STATUS else 403)
    if response.status_code == 200:
        assert b"Avery" in response.content


QUEUE_QUERIES = 10


def test_queue_query_count_does_not_grow(client_for, actors, make_patient, django_assert_num_queries):
    client = client_for("cy")
    url = reverse("screening-queue")
    client.get(url)

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            actions.send_intake_link(actors["cy"], make_patient(legal_last_name=f"Queue{i}"))

    add(2, 0)
    with django_assert_num_queries(QUEUE_QUERIES):
        few = client.get(url)
    add(28, 2)
    with django_assert_num_queries(QUEUE_QUERIES):
        many = client.get(url)
    assert few.context["page"].paginator.count == 2
    assert many.context["page"].paginator.count == 30
    assert len(many.context["rows"]) == 25


def test_page_without_an_intake_offers_to_send_or_start(client_for, patient):
    front = client_for("cy").get(reverse("screening-intake", args=[patient.pk])).content.decode()
    assert "No intake yet" in front
    assert "Send the intake link" in front
    assert "Start the intake here" not in front
    nurse = client_for("ben").get(reverse("screening-intake", args=[patient.pk])).content.decode()
    assert "Start the intake here" in nurse


def test_baseline_scores_for_clinicians_only(client_for, actors, patient):
    from ketacare.measures.actions import submit_response

    submit_response(actors["ben"], patient, "phq9", {str(i): 1 for i in range(1, 11)} | {"9": 0})
    nurse = client_for("ben").get(reverse("screening-intake", args=[patient.pk])).content.decode()
    assert 'data-testid="baseline-scores"' in nurse
    assert "PHQ-9: 8 (" in nurse  # items 1-8 at 1, item 9 at 0; item 10 is not scored
    front = client_for("cy").get(reverse("screening-intake", args=[patient.pk])).content.decode()
    assert 'data-testid="baseline-scores"' not in front
    assert "Send baseline questionnaires" in front
