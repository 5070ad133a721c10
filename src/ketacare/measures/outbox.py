"""The outbox both kinds of message use (alert notifications, questionnaire invitations).

A message row is written in the transaction that makes it necessary; `drain` sends the pending
ones later, each under its own row lock, at most once: a failure keeps the row pending with its
error for the next run, a success stamps `sent_at`. Callers say how to send and what to audit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import connection, models, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


class OutboxMessage(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True

    def mark_sent(self) -> None:
        self.sent_at = timezone.now()
        self.attempts += 1
        self.save(update_fields=["sent_at", "attempts"])

    def mark_failed(self, exc: BaseException) -> None:
        self.attempts += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        self.save(update_fields=["attempts", "last_error"])


M = TypeVar("M", bound=OutboxMessage)


def drain(
    pending: models.QuerySet[M],
    deliver: Callable[[M], None],
    on_sent: Callable[[M], None],
    on_failed: Callable[[M], None],
    limit: int = 200,
) -> tuple[int, int]:
    """Send up to `limit` unsent rows of `pending` (select_related as the callbacks need).

    Returns (sent, failed). Safe with several workers: a row another worker holds is skipped
    (PostgreSQL) or waited for and then found sent (SQLite serialises writers).
    """
    sent = failed = 0
    for pk in list(pending.filter(sent_at__isnull=True).order_by("id").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            rows = pending.filter(pk=pk, sent_at__isnull=True)
            if connection.features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True)
            message = rows.first()
            if message is None:
                continue  # sent meanwhile by another worker
            try:
                deliver(message)
            except Exception as exc:  # any transport failure: keep it pending, say why
                message.mark_failed(exc)
                logger.warning("%s %s failed: %s", type(message).__name__, pk, exc)
                on_failed(message)
                failed += 1
                continue
            message.mark_sent()
            on_sent(message)
            sent += 1
    return sent, failed
