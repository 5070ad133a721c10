"""Patient replies (issue #8): the reply link (confirm, ask to cancel, each recorded once; unknown
token 404; a past or cancelled visit says so) and the SMS provider's webhook (secret required; "C"
confirms the soonest upcoming visit of that phone number)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.scheduling import booking, notify, replies
from ketacare.scheduling.models import Appointment, AppointmentMessage, AppointmentReply, MessageKind
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db

SECRET = "s3cret-webhook-value"


def token_of(visit: Appointment) -> str:
    message = AppointmentMessage.objects.filter(appointment=visit, kind__in=["confirmation", "change"]).latest("id")
    return message.body.split("/visit/")[1].split("/")[0]


@pytest.fixture
def visit(actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any]) -> Appointment:
    return booking.book_visit(
        actors["cy"],
        patient=iv_plan.patient,
        appointment_type=iv_type,
        location=floor["location"],
        starts_at=at(4, "09:00"),
        plan=iv_plan,
    )


def test_the_link_page_shows_the_visit_and_its_preparation(visit: Appointment) -> None:
    response = Client().get(reverse("scheduling-visit", args=[token_of(visit)]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Friday 27 November 2026 at 9:00 AM" in text
    assert "Main Street" in text
    assert "IV ketamine infusion" in text
    assert "No food for 6 hours before your visit." in text
    assert "Confirm I will come" in text
    assert "I need to cancel" in text
    assert 'name="viewport"' in text
    assert AuditEvent.objects.filter(event_type="appointment.reply_page_opened", actor_role="patient").count() == 1


def test_confirm_by_link_is_recorded_once(visit: Appointment) -> None:
    url = reverse("scheduling-visit", args=[token_of(visit)])
    client = Client()
    first = client.post(url, {"answer": "confirm"})
    assert first.status_code == 302
    again = client.post(url, {"answer": "confirm"})  # a double tap
    assert again.status_code == 302
    assert AppointmentReply.objects.filter(appointment=visit).count() == 1
    visit.refresh_from_db()
    assert visit.patient_confirmed_at is not None
    page = client.get(first["Location"]).content.decode()
    assert "Confirmed." in page
    event = AuditEvent.objects.get(event_type="appointment.patient_confirmed")
    assert event.actor_role == "patient"
    assert event.via == "link"


def test_cancel_by_link_is_a_request_the_front_desk_acts_on(visit: Appointment) -> None:
    url = reverse("scheduling-visit", args=[token_of(visit)])
    client = Client()
    client.post(url, {"answer": "cancel", "reason": "Car broke down"})
    client.post(url, {"answer": "cancel", "reason": "Car broke down"})
    rows = list(AppointmentReply.objects.filter(appointment=visit))
    assert len(rows) == 1
    assert rows[0].reply == "cancel"
    assert rows[0].raw == "Car broke down"
    visit.refresh_from_db()
    assert visit.state == "booked"  # the chair is not freed by the patient
    page = client.get(url).content.decode()
    assert "We have your request and will confirm the cancellation" in page
    assert replies.cancel_requested(visit)


def test_unknown_token_is_404_and_a_bad_answer_is_422(visit: Appointment) -> None:
    assert Client().get(reverse("scheduling-visit", args=["nope"])).status_code == 404
    assert Client().post(reverse("scheduling-visit", args=["x" * 43]), {"answer": "confirm"}).status_code == 404
    url = reverse("scheduling-visit", args=[token_of(visit)])
    assert Client().post(url, {"answer": "maybe"}).status_code == 422
    assert not AppointmentReply.objects.exists()


def test_a_moved_visit_gets_a_new_link_and_the_old_one_stops(actors: dict[str, Any], visit: Appointment) -> None:
    old = token_of(visit)
    booking.reschedule(actors["cy"], visit, starts_at=at(4, "13:00"))
    new = token_of(visit)
    assert new != old
    assert Client().get(reverse("scheduling-visit", args=[old])).status_code == 404
    assert "1:00 PM" in Client().get(reverse("scheduling-visit", args=[new])).content.decode()


def test_cancelled_and_past_visits_say_so(actors: dict[str, Any], visit: Appointment, clock: Any) -> None:
    url = reverse("scheduling-visit", args=[token_of(visit)])
    clock.move_to(at(4, "10:00"))
    page = Client().get(url)
    assert page.status_code == 200
    assert "This visit has passed" in page.content.decode()
    assert Client().post(url, {"answer": "confirm"}).status_code == 200
    assert not AppointmentReply.objects.exists()

    clock.move_to(at(0, "08:00"))
    booking.cancel(actors["cy"], visit, reason="Clinic closed")
    page = Client().get(url)
    assert "This visit is cancelled" in page.content.decode()


# --- the SMS webhook ---------------------------------------------------------------------------


def post_sms(secret: str | None, sender: str, body: str) -> Any:
    headers = {"HTTP_X_KETACARE_WEBHOOK_SECRET": secret} if secret is not None else {}
    return Client().post(reverse("scheduling-sms-reply"), {"from": sender, "body": body}, **headers)


def test_webhook_is_404_when_not_set_up(settings: Any, visit: Appointment) -> None:
    settings.KETACARE_SMS_WEBHOOK_SECRET = ""
    assert post_sms(SECRET, "+1 312 555 0142", "C").status_code == 404
    assert post_sms(None, "+1 312 555 0142", "C").status_code == 404


def test_webhook_refuses_a_missing_or_wrong_secret(settings: Any, visit: Appointment) -> None:
    settings.KETACARE_SMS_WEBHOOK_SECRET = SECRET
    assert post_sms(None, "+1 312 555 0142", "C").status_code == 403
    assert post_sms("wrong", "+1 312 555 0142", "C").status_code == 403
    assert not AppointmentReply.objects.exists()


def test_webhook_confirms_the_soonest_upcoming_visit_of_that_phone(
    settings: Any, actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], visit: Appointment
) -> None:
    settings.KETACARE_SMS_WEBHOOK_SECRET = SECRET
    sooner = booking.book_visit(
        actors["cy"],
        patient=iv_plan.patient,
        appointment_type=iv_type,
        location=floor["location"],
        starts_at=at(1, "09:00"),
        plan=iv_plan,
    )
    response = post_sms(SECRET, "+1 (312) 555-0142", "yes please")
    assert response.status_code == 200
    assert response.json()["recorded"] is True
    sooner.refresh_from_db()
    visit.refresh_from_db()
    assert sooner.patient_confirmed_at is not None
    assert visit.patient_confirmed_at is None
    post_sms(SECRET, "13125550142", "C")  # the same reply again: one row
    assert AppointmentReply.objects.filter(appointment=sooner).count() == 1
    event = AuditEvent.objects.get(event_type="appointment.patient_confirmed")
    assert event.via == "sms"

    cancel = post_sms(SECRET, "312-555-0142", "X")
    assert cancel.json()["status"] == "recorded: cancel"
    assert replies.cancel_requested(sooner)

    other = post_sms(SECRET, "312-555-0142", "what time?")
    assert other.status_code == 200
    assert other.json()["recorded"] is False
    unknown = post_sms(SECRET, "+1 999 555 0000", "C")
    assert unknown.json()["recorded"] is False
    assert AuditEvent.objects.filter(event_type__in=["sms_reply.ignored", "sms_reply.unmatched"]).count() == 2


def test_parse_sms_words() -> None:
    assert replies.parse_sms(" c ") == "confirm"
    assert replies.parse_sms("Y.") == "confirm"
    assert replies.parse_sms("Cancel please") == "cancel"
    assert replies.parse_sms("no") == "cancel"
    assert replies.parse_sms("STOP") is None
    assert replies.parse_sms("") is None


def test_reminders_keep_working_after_a_reply(visit: Appointment) -> None:
    replies.record_reply(visit, "confirm", "link")
    assert AppointmentMessage.objects.filter(appointment=visit, kind=MessageKind.REMINDER, cancelled_at=None).count()
    assert notify.send_due_messages()[1] == 0
