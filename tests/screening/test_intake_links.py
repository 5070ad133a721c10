"""The patient's intake pages at /intake/<token>/: date-of-birth gate and lock, the neutral page for
any unusable link, the packet (patient questions only), submission once, and the thank-you page."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from ketacare.audit.models import AuditEvent
from ketacare.patients import links
from ketacare.patients.models import BodyMeasurement
from ketacare.screening.intake_data import CLINICIAN_FACTS, PATIENT_FACTS
from ketacare.screening.models import IntakeStatus

DOB = "1985-04-12"


def url_of(link) -> str:
    return links.link_path(link)


def verified(link) -> Client:
    client = Client()
    response = client.post(url_of(link), {"date_of_birth": DOB})
    assert response.status_code == 302
    return client


def packet_post(**overrides) -> dict[str, str]:
    data = {f"fact_{name}": "no" for name in PATIENT_FACTS}
    data.update(
        {
            "fact_aneurysmal_vascular_disease": "yes",
            "fact_pregnant": "unknown",
            "reason_for_referral": "Low mood for two years",
            "diagnoses": "Depression",
            "weight_kg": "82.4",
            "height_cm": "170",
            "systolic_mmhg": "131",
            "diastolic_mmhg": "84",
            "measured_on": (timezone.localdate() - datetime.timedelta(days=2)).isoformat(),
            "trials-TOTAL_FORMS": "3",
            "trials-INITIAL_FORMS": "0",
            "trials-MIN_NUM_FORMS": "0",
            "trials-MAX_NUM_FORMS": "30",
            "trials-0-drug": "Sertraline",
            "trials-0-dose": "150 mg a day",
            "trials-0-duration_weeks": "12",
            "trials-0-adherence": "good",
            "trials-0-response": "none",
            "trials-0-reason_stopped": "Did not help",
            "trials-1-drug": "Venlafaxine",
            "trials-1-duration_weeks": "6",
            "trials-1-response": "partial",
        }
    )
    data.update(overrides)
    return data


def test_unknown_token_shows_the_neutral_page(db):
    response = Client().get("/intake/not-a-real-token/")
    assert response.status_code == 404
    assert b"This link cannot be used" in response.content


def test_date_of_birth_comes_first(sent):
    _, link = sent
    response = Client().get(url_of(link))
    assert response.status_code == 200
    assert b"date of birth" in response.content
    assert b"Have you ever" not in response.content


def test_three_wrong_dates_lock_the_link(sent):
    _, link = sent
    client = Client()
    for left in (2, 1):
        response = client.post(url_of(link), {"date_of_birth": "1990-01-01"})
        assert response.status_code == 422
        assert f"try {left} more time".encode() in response.content
    response = client.post(url_of(link), {"date_of_birth": "1990-01-01"})
    assert response.status_code == 404
    assert b"This link cannot be used" in response.content
    # locked for good, even with the right date
    response = Client().post(url_of(link), {"date_of_birth": DOB})
    assert response.status_code == 404
    failures = AuditEvent.objects.filter(event_type="intake_link.dob_failed")
    assert failures.count() == 3
    assert failures.order_by("-id").first().detail["locked"] is True


def test_packet_shows_patient_questions_only(sent):
    _, link = sent
    response = verified(link).get(url_of(link))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Have you ever been told you have an aneurysm" in html
    assert 'name="fact_aneurysmal_vascular_disease"' in html
    assert "Not sure" in html
    for name in CLINICIAN_FACTS:
        assert f'name="fact_{name}"' not in html
    assert "dose_adequate" not in html
    for heading in (
        "Your mental health history",
        "Your physical health",
        "Pregnancy and breastfeeding",
        "Antidepressants you have tried",
    ):
        assert heading in html
    assert 'name="viewport"' in html  # phone layout


def test_submit_stores_answers_measurement_and_thanks(sent, patient):
    intake, link = sent
    client = verified(link)
    response = client.post(url_of(link), packet_post())
    assert response.status_code == 302
    assert response["Location"] == "/intake/done/"
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SUBMITTED
    assert intake.facts["aneurysmal_vascular_disease"] is True
    assert intake.facts["hypertension"] is False
    assert "pregnant" not in intake.facts  # "Not sure" is unknown, stored absent
    assert [t.drug for t in intake.prior_trials.all()] == ["Sertraline", "Venlafaxine"]
    measurement = BodyMeasurement.objects.get(patient=patient)
    assert measurement.weight_kg == Decimal("82.4")
    assert measurement.source == "intake"
    done = client.get("/intake/done/")
    assert b"Thank you" in done.content
    assert b"Harbor Light Clinic" in done.content


def test_link_is_single_use(sent):
    intake, link = sent
    client = verified(link)
    assert client.post(url_of(link), packet_post()).status_code == 302
    again = client.post(url_of(link), packet_post(reason_for_referral="again"))
    assert again.status_code == 404
    assert client.get(url_of(link)).status_code == 404
    intake.refresh_from_db()
    assert intake.reason_for_referral == "Low mood for two years"


def test_bad_answers_keep_what_was_typed_and_name_the_field(sent):
    intake, link = sent
    client = verified(link)
    response = client.post(url_of(link), packet_post(diastolic_mmhg="", **{"trials-2-dose": "10 mg"}))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Give both blood pressure numbers" in html
    assert "Medicine 3, medicine name: Give the medicine" in html  # the summary names the row
    assert "Low mood for two years" in html
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SENT


def test_expired_link_is_neutral(sent):
    _, link = sent
    with time_machine.travel(timezone.now() + datetime.timedelta(days=8)):
        response = Client().get(url_of(link))
    assert response.status_code == 404
    assert b"This link cannot be used" in response.content


def test_done_without_submission_is_neutral(db):
    assert Client().get("/intake/done/").status_code == 404


@pytest.mark.parametrize("path", ["/intake/x/", "/intake/done/"])
def test_patient_pages_show_no_staff_navigation(db, path):
    assert b"Sign out" not in Client().get(path).content
