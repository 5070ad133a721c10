"""A staff member's iCalendar feed: a secret URL their calendar app polls (issue #8).

- `create_feed(actor)` makes a new secret (256 bits, `models.new_token`), revokes the live one if
  any, stores only its SHA-256 and returns the secret once: the page shows it and forgets it.
- `revoke_feed(actor)` ends the live feed; its URL answers 404 from then on.
- `render_feed(token)` is what the URL serves, with no login: the feed is found by the secret's
  hash (an indexed equality on a digest, then a constant-time compare), must be live and its owner
  still an active member of the clinic; it lists the owner's visits (as nurse, clinician or
  prescriber on site) from 30 days ago to 180 days ahead. Every fetch updates `last_used_at` and is
  audited as a system read.

What leaves the clinic carries no patient name: an event's summary is the visit type, the chair or
room and the patient's initials; the link goes to the appointment page, behind the login.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac

import icalendar
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record, record_system
from ketacare.scheduling.booking import require
from ketacare.scheduling.calendar import buffer_word, patient_initials
from ketacare.scheduling.models import Appointment, AppointmentState, CalendarFeed, new_token

PAST = datetime.timedelta(days=30)
AHEAD = datetime.timedelta(days=180)
PRODID = "-//KetaCare//Scheduling feed//EN"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def live_feed(actor: Actor) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(clinic=actor.clinic, user=actor.user, revoked_at__isnull=True).first()


def feed_url(token: str) -> str:
    return settings.KETACARE_BASE_URL.rstrip("/") + reverse("scheduling-feed-ics", args=[token])


@transaction.atomic
def create_feed(actor: Actor) -> str:
    """A new secret feed URL's token for the actor (the previous live feed is revoked). Shown once."""
    require(actor, Perm.SCHEDULE_VIEW)
    # Two creates at once (two tabs) queue on the user's row: each revokes what the other made.
    User.objects.select_for_update().filter(pk=actor.user.pk).first()
    now = timezone.now()
    revoked = list(
        CalendarFeed.objects.select_for_update()
        .filter(clinic=actor.clinic, user=actor.user, revoked_at__isnull=True)
        .values_list("pk", flat=True)
    )
    if revoked:
        CalendarFeed.objects.filter(pk__in=revoked).update(revoked_at=now)
    token = new_token()
    feed = CalendarFeed.objects.create(clinic=actor.clinic, user=actor.user, token_hash=hash_token(token))
    record(
        actor,
        AuditAction.CREATE,
        "calendar_feed.created",
        subject=feed,
        detail={"revoked": revoked},
    )
    return token


@transaction.atomic
def revoke_feed(actor: Actor) -> bool:
    """End the actor's live feed; False when there was none."""
    require(actor, Perm.SCHEDULE_VIEW)
    feed = (
        CalendarFeed.objects.select_for_update()
        .filter(clinic=actor.clinic, user=actor.user, revoked_at__isnull=True)
        .first()
    )
    if feed is None:
        return False
    feed.revoked_at = timezone.now()
    feed.save(update_fields=["revoked_at"])
    record(actor, AuditAction.UPDATE, "calendar_feed.revoked", subject=feed, detail={})
    return True


def _find(token: str) -> CalendarFeed | None:
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    feed = (
        CalendarFeed.objects.filter(token_hash=digest, revoked_at__isnull=True).select_related("clinic", "user").first()
    )
    if feed is None or not hmac.compare_digest(feed.token_hash, digest):
        return None
    if not feed.user.is_active:
        return None
    member = Membership.objects.filter(user=feed.user, clinic=feed.clinic, is_active=True).first()
    if member is None or not Actor(user=feed.user, clinic=feed.clinic, role=member.role).can(Perm.SCHEDULE_VIEW):
        return None
    return feed


def _status(appointment: Appointment) -> str:
    if appointment.state in (AppointmentState.CANCELLED, AppointmentState.NO_SHOW):
        return "CANCELLED"
    if appointment.state == AppointmentState.BOOKED and appointment.is_dosing and not appointment.escort_confirmed:
        return "TENTATIVE"
    return "CONFIRMED"


def _event(appointment: Appointment, user_id: int, stamp: datetime.datetime, zone: datetime.tzinfo) -> icalendar.Event:
    a = appointment
    place = a.chair.name if a.chair is not None else "no chair or room"
    initials = patient_initials(a.patient)
    roles = [
        label
        for uid, label in (
            (a.nurse_id, "nurse"),
            (a.clinician_id, "clinician"),
            (a.prescriber_on_site_id, "prescriber on site"),
        )
        if uid == user_id
    ]
    start, end, held = (t.astimezone(datetime.UTC) for t in (a.starts_at, a.ends_at, a.held_until))
    buffer = int((a.held_until - a.ends_at).total_seconds() // 60)
    local = a.starts_at.astimezone(zone)
    lines = [
        f"{a.appointment_type.name} for patient {initials}, {local:%a %d %b %Y %H:%M} ({a.location.name}).",
        f"Visit {a.starts_at.astimezone(zone):%H:%M}–{a.ends_at.astimezone(zone):%H:%M}.",
    ]
    if buffer > 0:
        lines.append(
            f"Then {buffer} min {buffer_word(a)} {a.ends_at.astimezone(zone):%H:%M}–"
            f"{a.held_until.astimezone(zone):%H:%M} (the {buffer_word(a)} part of this event)."
        )
    lines.append(f"Your role: {', '.join(roles) or 'staff'}. Status: {a.status_label}.")
    lines.append("Details (sign-in needed): see the link.")
    event = icalendar.Event()
    event.add("uid", f"appointment-{a.pk}@ketacare")
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", held if held > end else end)
    event.add("summary", f"{a.appointment_type.name} · {place} · {initials}")
    event.add("location", a.location.name)
    event.add("description", "\n".join(lines))
    event.add("url", settings.KETACARE_BASE_URL.rstrip("/") + reverse("scheduling-appointment", args=[a.pk]))
    event.add("status", _status(a))
    event.add("last-modified", a.updated_at.astimezone(datetime.UTC))
    event.add("transp", "TRANSPARENT" if _status(a) == "CANCELLED" else "OPAQUE")
    return event


def appointments_for(feed: CalendarFeed, now: datetime.datetime) -> list[Appointment]:
    user_id = feed.user_id
    return list(
        Appointment.objects.filter(clinic=feed.clinic, starts_at__gte=now - PAST, starts_at__lt=now + AHEAD)
        .filter(Q(nurse_id=user_id) | Q(clinician_id=user_id) | Q(prescriber_on_site_id=user_id))
        .select_related("patient", "appointment_type", "location", "chair")
        .order_by("starts_at", "pk")
    )


@transaction.atomic
def render_feed(token: str) -> bytes | None:
    """The feed's iCalendar text, or None for an unknown, revoked or orphaned secret (404)."""
    feed = _find(token)
    if feed is None:
        return None
    now = timezone.now()
    zone = feed.clinic.zone
    visits = appointments_for(feed, now)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"KetaCare · {feed.clinic.name}")
    cal.add("x-wr-timezone", feed.clinic.time_zone)
    for visit in visits:
        cal.add_component(_event(visit, feed.user_id, now, zone))
    CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
    record_system(
        feed.clinic,
        AuditAction.READ,
        "calendar_feed.fetched",
        subject=feed,
        detail={"user": feed.user_id, "events": len(visits), "appointments": [v.pk for v in visits][:500]},
    )
    return bytes(cal.to_ical())
