"""Messages to the patient about a visit (issue #8): the confirmation with the protocol's preparation
instructions, reminders at the clinic's times, and a notice when a visit moves or is cancelled.

Each is an `AppointmentMessage` outbox row written in the booking's transaction; the sweep sends
what is due (email, and text messages through the pluggable SMS sender).
"""

from __future__ import annotations

from ketacare.scheduling.models import Appointment


def booked(appointment: Appointment) -> None:
    """Queue the confirmation (with preparation instructions) and the reminders of a new visit."""


def moved(appointment: Appointment) -> None:
    """Withdraw the visit's unsent reminders, queue new ones and a notice of the new time."""


def cancelled(appointment: Appointment) -> None:
    """Withdraw the visit's unsent reminders and queue a cancellation notice."""
