"""Calendar pages: the day and week calendar of a location (by chairs and rooms, or by staff), and a
patient's schedule with each series on one line (issue #8).

Read-only pages: parse the query, fetch through the clinic-scoped queries, write one audit row,
render. The geometry is computed in `calendar.py`; templates copy the numbers into CSS.
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location
from ketacare.patients.access import access_patient
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.scheduling import booking
from ketacare.scheduling import calendar as cal
from ketacare.scheduling.models import AppointmentState


def _url(location: Location, day: datetime.date, view: str, by: str) -> str:
    query = urlencode({"location": location.pk, "date": day.isoformat(), "view": view, "by": by})
    return f"{reverse('scheduling-calendar')}?{query}"


@clinic_view(Perm.SCHEDULE_VIEW)
@require_GET
def calendar_page(request: HttpRequest) -> HttpResponse:
    """`?location=<id>&date=YYYY-MM-DD&view=day|week&by=chairs|staff`."""
    actor = actor_of(request)
    zone = actor.clinic.zone
    locations = list(Location.objects.filter(clinic=actor.clinic, is_active=True).select_related("clinic"))
    locations.sort(key=lambda loc: (loc.name.casefold(), loc.pk))
    wanted = request.GET.get("location", "").strip()
    if wanted:
        location = next((loc for loc in locations if str(loc.pk) == wanted), None)
        if location is None:
            raise Http404("No such location.")
    else:
        location = locations[0] if locations else None
    now = timezone.now()
    today = now.astimezone(zone).date()
    problems: list[str] = []
    raw_date = request.GET.get("date", "").strip()
    day = today
    if raw_date:
        try:
            day = datetime.date.fromisoformat(raw_date)
        except ValueError:
            problems.append(f"Date: “{raw_date[:20]}” is not a date of the form YYYY-MM-DD; showing today.")
    view = request.GET.get("view", "day")
    if view not in cal.VIEWS:
        problems.append("View: choose day or week; showing the day.")
        view = "day"
    by = request.GET.get("by", "chairs")
    if by not in cal.BYS:
        problems.append("Columns: choose chairs or staff; showing chairs and rooms.")
        by = "chairs"

    context: dict[str, Any] = {
        "locations": locations,
        "location": location,
        "day": day,
        "today": today,
        "view": view,
        "by": by,
        "problems": problems,
        "can_book": actor.can(Perm.SCHEDULE_BOOK),
    }
    if location is None:
        record(
            actor, AuditAction.READ, "schedule.calendar_viewed", detail={"location": None, "date": day, "view": view}
        )
        return render(request, "scheduling/calendar.html", context)

    if view == "week":
        days = cal.week_of(day)
        step = datetime.timedelta(days=7)
        data = cal.load(location, days[0], days[-1], with_staff=by == "staff")
        context["week"] = cal.week_layout(data, day, by=by, now=now)
        context["week_heads"] = [(d, _url(location, d.day, "day", by)) for d in context["week"].days]
        shown = context["week"].visit_count
    else:
        step = datetime.timedelta(days=1)
        data = cal.load(location, day, day, with_staff=by == "staff")
        context["grid"] = cal.day_layout(data, day, by=by, now=now)
        shown = context["grid"].visit_count
    context.update(
        {
            "prev_url": _url(location, day - step, view, by),
            "next_url": _url(location, day + step, view, by),
            "today_url": _url(location, today, view, by),
            "day_view_url": _url(location, day, "day", by),
            "week_view_url": _url(location, day, "week", by),
            "chairs_url": _url(location, day, view, "chairs"),
            "staff_url": _url(location, day, view, "staff"),
            "location_urls": [(loc, _url(loc, day, view, by)) for loc in locations],
            "week_days": cal.week_of(day),
        }
    )
    record(
        actor,
        AuditAction.READ,
        "schedule.calendar_viewed",
        detail={"location": location.pk, "date": day, "view": view, "by": by, "visits": shown},
    )
    return render(request, f"scheduling/calendar_{view}.html", context)


@clinic_view(Perm.SCHEDULE_VIEW)
@require_GET
def patient_schedule(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A patient's series (each on one line), upcoming visits and past visits."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.SCHEDULE_VIEW)
    zone = actor.clinic.zone
    now = timezone.now()
    today = now.astimezone(zone).date()
    lines = cal.series_lines(patient, zone=zone, today=today)
    visits = list(
        booking.appointments_of(actor)
        .filter(patient=patient)
        .select_related("appointment_type", "location", "chair", "nurse", "clinician", "patient")
        .order_by("starts_at", "pk")
    )
    upcoming = [a for a in visits if a.held_until >= now]
    past = [a for a in reversed(visits) if a.held_until < now]
    plans: list[tuple[TreatmentPlan, int]] = []
    if actor.can(Perm.SCHEDULE_BOOK):
        for plan in TreatmentPlan.objects.filter(clinic=actor.clinic, patient=patient, status=PlanStatus.SIGNED):
            left = booking.series_rule(plan).count
            if left > 0:
                plans.append((plan, left))
    record(
        actor,
        AuditAction.READ,
        "schedule.patient_viewed",
        subject=patient,
        patient=patient,
        detail={"series": len(lines), "appointments": len(visits)},
    )
    return render(
        request,
        "scheduling/patient_schedule.html",
        {
            "patient": patient,
            "name": cal.patient_name(patient),
            "lines": lines,
            "sections": [
                ("upcoming", "Upcoming visits", [(a, cal.status_of(a)) for a in upcoming], "No upcoming visits."),
                ("past", "Past visits", [(a, cal.status_of(a)) for a in past], "No past visits."),
            ],
            "plans": plans,
            "can_book": actor.can(Perm.SCHEDULE_BOOK),
            "today": today,
            "cancelled_state": AppointmentState.CANCELLED.value,
        },
    )
