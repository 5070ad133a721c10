"""Text messages through a pluggable sender.

`settings.KETACARE_SMS_SENDER` is the dotted path of a class with `send(to, body)`; the default,
`LogSmsSender`, only writes the message to the log (development and clinics without an SMS
provider). A provider's sender raises on failure, and the outbox keeps the message for the next sweep.
"""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "ketacare.measures.sms.LogSmsSender"


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> None: ...


class LogSmsSender:
    """Writes the message to the log instead of sending it."""

    def send(self, to: str, body: str) -> None:
        logger.info("SMS to %s: %s", to, body)


def get_sms_sender() -> SmsSender:
    cls = import_string(getattr(settings, "KETACARE_SMS_SENDER", DEFAULT_SENDER))
    sender: SmsSender = cls()
    return sender
