"""A staff member's iCalendar feed: secret link shown once, stored hashed, revocable; the feed has the
user's visits and no one else's, and no patient name (issue #8)."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import icalendar
import pytest
from django.urls import reverse

from ketacare.accounts.models import IdempotencyKey, Membership
from ketacare.audit.models import AuditEvent
from ketacare.scheduling import booking, feeds
from ketacare.scheduling.models import CalendarFeed
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def visits(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any, iv_type: Any, make_patient: Any
) -> dict[str, Any]:
    """Ben's IV infusion (escort not confirmed), Tess's integration therapy with another patient."""
    iv = booking.book_visit(
        actors["cy"],
        patient=iv_plan.patient,
        appointment_type=iv_type,
        location=floor["location"],
        starts_at=at(1, "09:00"),
        plan=iv_plan,
    )
    other = make_patient(legal_first_name="Robin", legal_last_name="Quill")
    therapy = booking.book_visit(
        actors["cy"],
        patient=other,
        appointment_type=floor["types"]["integration"],
        location=floor["location"],
        starts_at=at(2, "11:00"),
    )
    return {"iv": iv, "therapy": therapy}


def _token(url: str) -> str:
    found = re.search(r"/schedule/feed/([^/]+)\.ics$", url)
    assert found, url
    return found.group(1)


def _events(body: bytes) -> list[Any]:
    cal = icalendar.Calendar.from_ical(body)
    return list(cal.walk("VEVENT"))


def test_feed_has_the_users_events_and_not_others(
    actors: dict[str, Any], visits: dict[str, Any], client_for: Any
) -> None:
    token = feeds.create_feed(actors["ben"])
    response = client_for("anon").get(reverse("scheduling-feed-ics", args=[token]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    events = _events(response.content)
    iv = visits["iv"]
    assert [str(e["UID"]) for e in events] == [f"appointment-{iv.pk}@ketacare"]
    (event,) = events
    assert event.decoded("DTSTART") == iv.starts_at
    assert event.decoded("DTEND") == iv.held_until  # visit + observation
    assert event.decoded("DTSTART").utcoffset().total_seconds() == 0
    assert str(event["STATUS"]) == "TENTATIVE"  # the escort is not confirmed yet
    assert str(event["SUMMARY"]) == f"IV ketamine infusion · {iv.chair.name} · J.A."
    assert str(event["LOCATION"]) == "Main Street"
    assert str(event["URL"]).endswith(reverse("scheduling-appointment", args=[iv.pk]))
    assert "30 min observation" in str(event["DESCRIPTION"])
    # No patient name leaves the clinic.
    text = response.content.decode()
    for name in ("Jordan", "Avery", "Robin", "Quill"):
        assert name not in text
    # Tess sees hers only.
    tess = _events(feeds.render_feed(feeds.create_feed(actors["tess"])) or b"")
    assert [str(e["UID"]) for e in tess] == [f"appointment-{visits['therapy'].pk}@ketacare"]


def test_status_follows_the_visit(actors: dict[str, Any], visits: dict[str, Any]) -> None:
    token = feeds.create_feed(actors["ben"])
    booking.confirm_escort(actors["cy"], visits["iv"], name="Kim Avery", phone="312 555 0100")
    (event,) = _events(feeds.render_feed(token) or b"")
    assert str(event["STATUS"]) == "CONFIRMED"
    booking.cancel(actors["cy"], visits["iv"], reason="Unwell")
    (event,) = _events(feeds.render_feed(token) or b"")
    assert str(event["STATUS"]) == "CANCELLED"
    assert "Kim" not in (feeds.render_feed(token) or b"").decode()


def test_fetch_updates_last_used_and_is_audited_as_system(
    actors: dict[str, Any], visits: dict[str, Any], client_for: Any
) -> None:
    token = feeds.create_feed(actors["ben"])
    feed = CalendarFeed.objects.get()
    assert feed.last_used_at is None
    client_for("anon").get(reverse("scheduling-feed-ics", args=[token]))
    feed.refresh_from_db()
    assert feed.last_used_at is not None
    event = AuditEvent.objects.filter(event_type="calendar_feed.fetched").latest("id")
    assert event.actor is None
    assert event.via == "task"
    assert event.action == "R"
    assert event.detail["events"] == 1
    created = AuditEvent.objects.get(event_type="calendar_feed.created")
    assert created.actor == actors["ben"].user


def test_revoke_makes_it_404(actors: dict[str, Any], visits: dict[str, Any], client_for: Any) -> None:
    token = feeds.create_feed(actors["ben"])
    url = reverse("scheduling-feed-ics", args=[token])
    assert client_for("anon").get(url).status_code == 200
    assert feeds.revoke_feed(actors["ben"]) is True
    assert client_for("anon").get(url).status_code == 404
    assert feeds.revoke_feed(actors["ben"]) is False
    assert AuditEvent.objects.filter(event_type="calendar_feed.revoked").count() == 1


def test_unknown_token_is_404(floor: dict[str, Any], client_for: Any) -> None:
    assert client_for("anon").get(reverse("scheduling-feed-ics", args=["nope"])).status_code == 404


def test_second_create_revokes_the_first(actors: dict[str, Any], visits: dict[str, Any], client_for: Any) -> None:
    first = feeds.create_feed(actors["ben"])
    second = feeds.create_feed(actors["ben"])
    assert first != second
    anon = client_for("anon")
    assert anon.get(reverse("scheduling-feed-ics", args=[first])).status_code == 404
    assert anon.get(reverse("scheduling-feed-ics", args=[second])).status_code == 200
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).count() == 1


def test_token_is_stored_hashed_only(actors: dict[str, Any], floor: dict[str, Any]) -> None:
    token = feeds.create_feed(actors["ben"])
    feed = CalendarFeed.objects.get()
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert len(token) >= 43  # 256 bits
    row = CalendarFeed.objects.filter(pk=feed.pk).values().get()
    assert token not in " ".join(str(v) for v in row.values())
    assert token not in str(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_feed_of_a_member_no_longer_active_is_404(actors: dict[str, Any], floor: dict[str, Any]) -> None:
    token = feeds.create_feed(actors["ben"])
    Membership.objects.filter(user=actors["ben"].user).update(is_active=False)
    assert feeds.render_feed(token) is None


# --- the page -------------------------------------------------------------------------------------


def test_page_creates_shows_once_and_revokes(actors: dict[str, Any], floor: dict[str, Any], client_for: Any) -> None:
    ben = client_for("ben")
    page = ben.get(reverse("scheduling-feed")).content.decode()
    assert 'data-testid="feed-none"' in page
    assert 'name="form_token"' in page
    form = {"action": "create", "form_token": str(uuid.uuid4())}
    response = ben.post(reverse("scheduling-feed"), form)
    assert response.status_code == 201
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    html = response.content.decode()
    url = re.search(r'id="feed-url" type="text" readonly value="([^"]+)"', html)
    assert url is not None
    token = _token(url.group(1))
    assert feeds.render_feed(token) is not None
    # The double click: no second link, no link shown again, and the first still works.
    again = ben.post(reverse("scheduling-feed"), form)
    assert again.status_code == 302
    assert CalendarFeed.objects.count() == 1
    assert feeds.render_feed(token) is not None
    assert token not in str(list(IdempotencyKey.objects.values_list("response", flat=True)))
    page = ben.get(reverse("scheduling-feed")).content.decode()
    assert 'data-testid="feed-live"' in page
    assert token not in page
    revoked = ben.post(reverse("scheduling-feed"), {"action": "revoke", "form_token": str(uuid.uuid4())})
    assert revoked.status_code == 302
    assert feeds.render_feed(token) is None


@pytest.mark.parametrize(("key", "status"), [("ivy", 403), ("cy", 200), ("aud", 200), ("dee", 200)])
def test_page_permissions(floor: dict[str, Any], client_for: Any, key: str, status: int) -> None:
    assert client_for(key).get(reverse("scheduling-feed")).status_code == status


def test_page_refuses_inventory_and_anonymous_posts(floor: dict[str, Any], client_for: Any) -> None:
    assert client_for("ivy").post(reverse("scheduling-feed"), {"action": "create"}).status_code == 403
    anon = client_for("anon").post(reverse("scheduling-feed"), {"action": "create"})
    assert anon.status_code == 302
    assert "/accounts/login" in anon["Location"]
    assert CalendarFeed.objects.count() == 0


def test_other_clinic_feed_has_none_of_harbors_visits(actors: dict[str, Any], visits: dict[str, Any]) -> None:
    events = _events(feeds.render_feed(feeds.create_feed(actors["dee"])) or b"")
    assert events == []
