"""Preparation instructions for a visit, read from its protocol (issue #8).

Only what the protocol says is turned into words: fasting (`protocol.fasting`: no food for N
minutes, no liquids for M minutes, other instructions), the escort or driver rule
(`protocol.escort`; for Spravato, clinical.md §0 and §1.1 [LABEL-120TY, SPRHCP-TRD]: someone drives
the patient home and the patient does not drive until the next day after a restful sleep), and one
sentence about medicines that never tells anyone to hold a medicine the protocol does not name.
Where the clinic has not set a value the words say the clinic will tell the patient; nothing is
invented.
"""

from __future__ import annotations

from ketacare.protocols.definitions import Protocol
from ketacare.scheduling.models import Appointment

NO_FASTING_VALUES = "Your clinic will tell you about eating and drinking beforehand."
MEDICINES = "Tell us about every medicine you take; do not stop any medicine unless your prescriber told you to."
SPRAVATO_ESCORT = "Someone must drive you home; do not drive until the next day after a restful sleep."
ESCORT = "Someone must take you home: you will be released only to a responsible adult. Do not drive yourself."
ESCORT_UNKNOWN = "Your clinic will tell you whether someone must take you home."


def protocol_of(appointment: Appointment) -> Protocol | None:
    """The visit's protocol: its treatment session's, else its plan's snapshot (None: not a dosing visit)."""
    if appointment.session_id is not None and appointment.session is not None:
        return appointment.session.protocol
    if appointment.plan_id is not None and appointment.plan is not None:
        return Protocol.model_validate(appointment.plan.protocol_snapshot)
    return None


def duration_words(minutes: int) -> str:
    """120 -> "2 hours", 90 -> "1 hour 30 minutes", 45 -> "45 minutes"."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest or not hours:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts)


def fasting_lines(protocol: Protocol, *, other: bool = True) -> list[str]:
    fasting = protocol.fasting
    food, liquids = fasting.no_food_minutes, fasting.no_liquids_minutes
    lines: list[str] = []
    if food is None and liquids is None:
        lines.append(NO_FASTING_VALUES)
    else:
        if food is not None:
            lines.append(
                f"No food for {duration_words(food)} before your visit." if food else "You may eat before your visit."
            )
        else:
            lines.append("Your clinic will tell you about eating beforehand.")
        if liquids is not None:
            lines.append(
                f"No liquids for {duration_words(liquids)} before your visit."
                if liquids
                else "You may drink before your visit."
            )
        else:
            lines.append("Your clinic will tell you about drinking beforehand.")
    if other:
        lines.extend(text for text in fasting.other_instructions if text.strip())
    return lines


def escort_line(protocol: Protocol) -> str | None:
    required = protocol.escort.required
    if required is None:
        return ESCORT_UNKNOWN
    if not required:
        return None
    return SPRAVATO_ESCORT if protocol.route == "intranasal" else ESCORT


def instructions_from(protocol: Protocol | None) -> list[str]:
    if protocol is None:
        return []
    lines = fasting_lines(protocol)
    escort = escort_line(protocol)
    if escort:
        lines.append(escort)
    lines.append(MEDICINES)
    return lines


def instructions_for(appointment: Appointment) -> list[str]:
    """What the patient does before a dosing visit, in plain words; [] for any other visit."""
    if not appointment.appointment_type.is_dosing:
        return []
    return instructions_from(protocol_of(appointment))


def sms_instructions_for(appointment: Appointment) -> list[str]:
    """The short form for a text message: the fasting values and the escort rule. The protocol's
    other instructions may name medicines, so they go by email and on the visit page only."""
    protocol = protocol_of(appointment) if appointment.appointment_type.is_dosing else None
    if protocol is None:
        return []
    lines = fasting_lines(protocol, other=False)
    escort = escort_line(protocol)
    if escort:
        lines.append(escort)
    return lines
