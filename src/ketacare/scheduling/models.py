"""Scheduling: what can be booked, when it is open, and who holds what (issue #8).

- `ScheduleSettings`: the clinic's rules (patients per nurse, slot grid, late-cancel window,
  reminder times).
- `AppointmentType`: consultation, IV infusion, IM, Spravato, oral, integration therapy, follow-up,
  telehealth; its length, its recovery or observation buffer (from the protocol for a dosing
  visit), and what it needs: a chair or room, a nurse, an exclusive clinician (prescriber or
  therapist), a prescriber on site (Spravato, clinical.md §1.3 [REMS-FDA]).
- Availability: `OpeningHours` per location, `StaffHours` per person and location, and `Closure`
  (a holiday for the clinic or a location, a closed chair or room) and `TimeOff` cut out of them.
- Bookings: an `Appointment` is one visit; a `Series` groups the visits booked together from a
  signed plan. What an appointment occupies is a `Hold` row per chair, room or staff place, for the
  visit plus its buffer. **The database refuses two live holds of the same chair, room or staff
  place that overlap in time**: an exclusion constraint over (resource, period) on PostgreSQL
  (migration 0002); on SQLite every booking runs in a transaction that takes the write lock first
  and re-checks for overlap inside it (`booking._fit`). On PostgreSQL bookings of one clinic also
  take turns (an advisory lock, `booking._serialise`), so simultaneous bookings do not deadlock in
  the constraints' checks; the constraints remain the guarantee. A nurse looks after up to
  `patients_per_nurse` patients at once: the nurse has that many places (`lane`), each held by one
  patient at a time, so the same constraint bounds the nurse's load.
"""

from __future__ import annotations

import datetime
import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.measures.outbox import OutboxMessage
from ketacare.patients.models import Patient
from ketacare.plans.models import PlanRoute, TreatmentPlan
from ketacare.protocols.models import ClinicProtocolVersion
from ketacare.sessions.models import TreatmentSession

USER = settings.AUTH_USER_MODEL

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


def default_reminder_hours() -> list[int]:
    return [72, 24]


class ScheduleSettings(models.Model):
    """One row per clinic; `settings_for(clinic)` creates it with the defaults on first use."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="schedule_settings")
    patients_per_nurse = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(8)],
        help_text=(
            "How many dosing patients one nurse monitors at once. Clinic-set: clinical.md gives no ratio "
            "(the Spravato REMS asks for healthcare providers on site, §1.3 [REMS-FDA])."
        ),
    )
    slot_minutes = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(60)],
        help_text="Start times are offered on this grid.",
    )
    late_cancel_hours = models.PositiveSmallIntegerField(
        default=24, help_text="A cancellation this close to the visit counts as a late cancellation."
    )
    no_show_after_minutes = models.PositiveSmallIntegerField(
        default=30, help_text="A visit not checked in this long after its start may be marked a no-show."
    )
    reminder_hours = models.JSONField(
        default=default_reminder_hours,
        blank=True,
        help_text="Reminders go this many hours before each visit, e.g. [72, 24] (empty: none).",
    )
    remind_by_email = models.BooleanField(default=True)
    remind_by_sms = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Scheduling settings of {self.clinic}"


def settings_for(clinic: Clinic) -> ScheduleSettings:
    row, _ = ScheduleSettings.objects.get_or_create(clinic=clinic)
    return row


class Category(models.TextChoices):
    CONSULTATION = "consultation", "Consultation"
    IV_INFUSION = "iv_infusion", "IV infusion"
    IM = "im", "IM injection"
    SPRAVATO = "spravato", "Spravato (esketamine)"
    ORAL = "oral", "Oral / sublingual"
    INTEGRATION = "integration", "Integration therapy"
    FOLLOW_UP = "follow_up", "Follow-up"
    TELEHEALTH = "telehealth", "Telehealth"


# A dosing visit's plan route (it opens a treatment session at check-in).
DOSING_ROUTE = {
    Category.IV_INFUSION: PlanRoute.IV,
    Category.IM: PlanRoute.IM,
    Category.SPRAVATO: PlanRoute.INTRANASAL_ESKETAMINE,
    Category.ORAL: PlanRoute.ORAL,
}


class Space(models.TextChoices):
    CHAIR = "chair", "A treatment chair"
    ROOM = "room", "A room"
    NONE = "none", "No chair or room (telehealth)"


class ClinicianRole(models.TextChoices):
    NONE = "", "None"
    PRESCRIBER = "prescriber", "A prescriber, for the whole visit"
    THERAPIST = "therapist", "A therapist, for the whole visit"


class AppointmentType(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=20, choices=Category.choices)
    duration_minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(5), MaxValueValidator(480)],
        help_text="The visit itself: arrival, checks and dosing, or the consultation.",
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(480)],
        help_text=(
            "Recovery or observation held after the visit. Empty on a dosing type: the protocol's minimum "
            "observation (Spravato: 120 minutes, clinical.md §1.3)."
        ),
    )
    space = models.CharField(max_length=8, choices=Space.choices, default=Space.CHAIR)
    resources = models.ManyToManyField(
        Resource,
        blank=True,
        related_name="+",
        help_text="Only these chairs or rooms (e.g. integration therapy in its room). None: any of the kind.",
    )
    needs_nurse = models.BooleanField(default=False, help_text="A nurse's place for the visit and its buffer.")
    clinician_role = models.CharField(max_length=12, choices=ClinicianRole.choices, blank=True, default="")
    needs_prescriber_on_site = models.BooleanField(
        default=False, help_text="A prescriber must be working at the location for the whole visit (Spravato REMS)."
    )
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["clinic", "sort_order", "name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "code"], name="appointment_type_code_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def route(self) -> str | None:
        route = DOSING_ROUTE.get(Category(self.category))
        return route.value if route is not None else None

    @property
    def is_dosing(self) -> bool:
        return self.route is not None


class OpeningHours(models.Model):
    """A location is open on `weekday` from `opens` to `closes` (local time); several rows a day allowed."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["location", "weekday", "opens"]
        constraints = [models.CheckConstraint(condition=Q(closes__gt=models.F("opens")), name="opening_hours_order")]

    def __str__(self) -> str:
        return f"{self.location}: {self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class StaffHours(models.Model):
    """A staff member works at `location` on `weekday` from `starts` to `ends` (local time)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="+")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        ordering = ["user", "weekday", "starts"]
        constraints = [models.CheckConstraint(condition=Q(ends__gt=models.F("starts")), name="staff_hours_order")]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M} at {self.location}"


class Closure(models.Model):
    """A holiday (whole clinic, or one location) or a chair or room out of service, [starts_at, ends_at)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="closure_order")]

    def __str__(self) -> str:
        return self.reason


class TimeOff(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="time_off_order")]

    def __str__(self) -> str:
        return self.reason or "Time off"


class Series(models.Model):
    """Visits booked together, all or nothing (e.g. the six infusions of an induction)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(TreatmentPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    count = models.PositiveSmallIntegerField()
    min_interval_hours = models.PositiveSmallIntegerField(null=True, blank=True)
    window_days = models.PositiveSmallIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return f"Series {self.pk} ({self.count} visits)"


class AppointmentState(models.TextChoices):
    BOOKED = "booked", "Booked"
    CHECKED_IN = "checked_in", "Checked in"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


LIVE_STATES = (AppointmentState.BOOKED, AppointmentState.CHECKED_IN, AppointmentState.COMPLETED)


class AppointmentQuerySet(models.QuerySet["Appointment"]):
    def live(self) -> AppointmentQuerySet:
        return self.filter(state__in=[s.value for s in LIVE_STATES])


class Appointment(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments")
    sequence = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Visit number within the plan.")
    plan = models.ForeignKey(TreatmentPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # A dosing visit's treatment session (created at booking in state "scheduled"; check-in opens it).
    session = models.OneToOneField(
        TreatmentSession, on_delete=models.PROTECT, null=True, blank=True, related_name="appointment"
    )
    protocol_version = models.ForeignKey(
        ClinicProtocolVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(help_text="End of the visit itself.")
    held_until = models.DateTimeField(
        help_text="End of the recovery or observation buffer: resources are held to here."
    )
    chair = models.ForeignKey(Resource, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    nurse = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    clinician = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    prescriber_on_site = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=12, choices=AppointmentState.choices, default=AppointmentState.BOOKED)
    notes = models.CharField(max_length=500, blank=True)

    # Before the visit: escort (dosing visits count as confirmed only once it is), confirmation sent
    # with the preparation instructions, the patient's own reply.
    escort_name = models.CharField(max_length=200, blank=True)
    escort_phone = models.CharField(max_length=40, blank=True)
    escort_confirmed_at = models.DateTimeField(null=True, blank=True)
    escort_confirmed_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    patient_confirmed_at = models.DateTimeField(null=True, blank=True)
    reply_token_hash = models.CharField(max_length=64, blank=True, db_index=True)

    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cancelled_by_patient = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=500, blank=True)
    late_cancel = models.BooleanField(default=False)
    no_show_at = models.DateTimeField(null=True, blank=True)
    rescheduled_from = models.DateTimeField(null=True, blank=True, help_text="The start before the last move.")

    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["clinic", "location", "starts_at"], name="appt_location_day"),
            models.Index(fields=["patient", "starts_at"], name="appt_patient"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="appt_order"),
            models.CheckConstraint(condition=Q(held_until__gte=models.F("ends_at")), name="appt_buffer_order"),
            models.CheckConstraint(
                condition=~Q(state="cancelled") | Q(cancelled_at__isnull=False), name="appt_cancelled_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_type} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def is_dosing(self) -> bool:
        return self.appointment_type.is_dosing

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def escort_confirmed(self) -> bool:
        return self.escort_confirmed_at is not None

    @property
    def is_confirmed(self) -> bool:
        """A dosing visit counts as confirmed only once its escort or driver is confirmed (issue #8)."""
        if self.state != AppointmentState.BOOKED:
            return False
        return self.escort_confirmed or not self.is_dosing

    @property
    def status_label(self) -> str:
        if self.state == AppointmentState.BOOKED:
            if self.is_dosing and not self.escort_confirmed:
                return "Booked: escort not confirmed"
            return "Confirmed"
        if self.state == AppointmentState.CANCELLED and self.late_cancel:
            return "Late cancellation"
        return self.get_state_display()


class Hold(models.Model):
    """One chair, room or staff place held by an appointment for [starts_at, ends_at).

    Exactly one of `resource` and `staff`. A live hold has `released_at` null; cancelling or moving an
    appointment releases its holds (they stay, for the record). PostgreSQL refuses overlapping live
    holds of the same resource, or of the same staff member and lane (migration 0002).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="holds")
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    staff = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lane = models.PositiveSmallIntegerField(default=0, help_text="Which of the nurse's places (0 for everyone else).")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(
                fields=["resource", "starts_at"], name="hold_resource_time", condition=Q(released_at__isnull=True)
            ),
            models.Index(fields=["staff", "starts_at"], name="hold_staff_time", condition=Q(released_at__isnull=True)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="hold_order"),
            models.CheckConstraint(
                condition=(Q(resource__isnull=False) & Q(staff__isnull=True))
                | (Q(resource__isnull=True) & Q(staff__isnull=False)),
                name="hold_one_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"Hold {self.key} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def key(self) -> str:
        """The slot finder's calendar key for what this holds."""
        if self.resource_id is not None:
            return f"resource:{self.resource_id}"
        return f"staff:{self.staff_id}:{self.lane}"


class MessageKind(models.TextChoices):
    CONFIRMATION = "confirmation", "Booking confirmation with preparation instructions"
    REMINDER = "reminder", "Reminder"
    CHANGE = "change", "Change or cancellation notice"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "Text message"


class AppointmentMessage(OutboxMessage):
    """A message to the patient about a visit: written when due becomes known, sent by the sweep."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=14, choices=MessageKind.choices)
    channel = models.CharField(max_length=6, choices=Channel.choices)
    due_at = models.DateTimeField()
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    cancelled_at = models.DateTimeField(null=True, blank=True, help_text="Withdrawn (visit moved or cancelled).")

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["sent_at", "due_at"], name="appt_message_due")]


class ReplyKind(models.TextChoices):
    CONFIRM = "confirm", "Confirmed"
    CANCEL = "cancel", "Asked to cancel"


class AppointmentReply(models.Model):
    """The patient's answer to a confirmation or reminder (link or text reply), kept as received."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="replies")
    reply = models.CharField(max_length=8, choices=ReplyKind.choices)
    channel = models.CharField(max_length=6, choices=[("link", "Link"), ("sms", "Text message")])
    received_at = models.DateTimeField(default=timezone.now)
    raw = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["received_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_reply_display()} ({self.channel})"


class CalendarFeed(models.Model):
    """A staff member's secret iCalendar URL; only the token's SHA-256 is stored. Revoking ends it."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "user"], condition=Q(revoked_at__isnull=True), name="one_live_feed_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"Calendar feed of user {self.user_id}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def local_day_bounds(clinic: Clinic, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[midnight, next midnight) of `day` in the clinic's zone, as aware datetimes."""
    zone = clinic.zone
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
    return start, end
