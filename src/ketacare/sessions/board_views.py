"""The live floor board pages: `/sessions/board/?location=<id>` and its tiles partial (HTMX polling).

The full page renders everything (with JavaScript off it reloads itself every minute). With
HTMX the live region (`#board-live`: the chair grid, the waiting strip and the expected list) is
fetched from `/sessions/board/tiles/` every 10 seconds and swapped in place; nothing else reloads.
`?wall=1` is the wall-screen mode (no navigation, big type, dark high contrast).

Reads are audited (the board shows patients' names): every page load writes one
`session.board_viewed` row naming the location and the sessions shown. A poll writes one
`session.board_polled` row only when what it shows differs from the last row this user has for this
location, or when that row is older than `POLL_AUDIT_EVERY` — so a wall screen left on all day
leaves a row when a patient appears or leaves and one every 15 minutes, not 8,640 a day.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction, AuditEvent
from ketacare.audit.record import record
from ketacare.clinics.models import Location
from ketacare.sessions import board as floor_board

POLL_SECONDS = 10
POLL_AUDIT_EVERY = datetime.timedelta(minutes=15)


def board_location(actor: Actor, request: HttpRequest) -> Location:
    """The location asked for (404 if it is not one of the clinic's active ones), else the first one."""
    places = Location.objects.filter(clinic=actor.clinic, is_active=True).select_related("clinic")
    wanted = request.GET.get("location")
    if wanted:
        try:
            pk = int(wanted)
        except ValueError:
            raise Http404("No such location.") from None
        found = places.filter(pk=pk).first()
    else:
        found = places.order_by("name", "pk").first()
    if found is None:
        raise Http404("No such location.")
    return found


def _shown(board: floor_board.Board) -> dict[str, Any]:
    sessions = board.sessions
    return {
        "location": board.location.pk,
        "sessions": [s.pk for s in sessions],
        "patients": sorted({s.patient_id for s in sessions}),
    }


def _audit(actor: Actor, board: floor_board.Board, *, polled: bool) -> None:
    detail = _shown(board)
    if polled:
        last = (
            AuditEvent.objects.filter(
                clinic=actor.clinic,
                actor=actor.user,
                event_type__in=["session.board_viewed", "session.board_polled"],
                occurred_at__gte=timezone.now() - POLL_AUDIT_EVERY,
            )
            .order_by("-occurred_at", "-id")
            .values_list("detail", flat=True)
            .first()
        )
        if (
            last is not None
            and last.get("location") == detail["location"]
            and last.get("sessions") == detail["sessions"]
        ):
            return
    record(
        actor,
        AuditAction.READ,
        "session.board_polled" if polled else "session.board_viewed",
        subject=board.location,
        detail=detail,
    )


def _context(request: HttpRequest, board: floor_board.Board) -> dict[str, Any]:
    wall = request.GET.get("wall") == "1"
    return {
        "board": board,
        "location": board.location,
        "wall": wall,
        "poll_seconds": POLL_SECONDS,
        "query": f"location={board.location.pk}" + ("&wall=1" if wall else ""),
    }


@clinic_view(Perm.SESSION_BOARD)
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    location = board_location(actor, request)
    shown = floor_board.floor(actor, location, timezone.now())
    _audit(actor, shown, polled=False)
    context = _context(request, shown)
    context["locations"] = list(Location.objects.filter(clinic=actor.clinic, is_active=True).order_by("name", "pk"))
    return render(request, "sessions/board.html", context)


@clinic_view(Perm.SESSION_BOARD)
@require_GET
def tiles(request: HttpRequest) -> HttpResponse:
    """The live region alone (what HTMX swaps every `POLL_SECONDS`)."""
    actor = actor_of(request)
    location = board_location(actor, request)
    shown = floor_board.floor(actor, location, timezone.now())
    _audit(actor, shown, polled=True)
    return render(request, "sessions/_board_live.html", _context(request, shown))
