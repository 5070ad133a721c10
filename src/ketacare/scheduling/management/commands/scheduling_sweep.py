"""`manage.py scheduling_sweep [--every SECONDS] [--enqueue]`: send the visit messages now due.

By default the sweep runs here and prints what it did (`sent 3, failed 0, withdrawn 1`), so a cron
line `* * * * * manage.py scheduling_sweep` is enough even without a task worker. `--enqueue` hands it
to the worker instead (`manage.py db_worker`). Safe to run every minute, twice, or late: each message
is sent once, and a failure stays pending with its error for the next run.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ketacare.scheduling.notify import send_due_messages, withdraw_stale
from ketacare.scheduling.tasks import scheduling_sweep


class Command(BaseCommand):
    help = "Send the visit confirmations, reminders and change notices now due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=int, default=0, help="Repeat every SECONDS (0: once).")
        parser.add_argument("--enqueue", action="store_true", help="Enqueue the sweep for the task worker.")
        parser.add_argument("--limit", type=int, default=200, help="Send at most this many messages a run.")

    def handle(self, *args: Any, every: int = 0, enqueue: bool = False, limit: int = 200, **options: Any) -> None:
        while True:
            if enqueue:
                result = scheduling_sweep.enqueue()
                self.stdout.write(f"scheduling sweep enqueued: {result.id}")
            else:
                withdrawn = withdraw_stale()
                sent, failed = send_due_messages(limit=limit)
                self.stdout.write(f"scheduling sweep: sent {sent}, failed {failed}, withdrawn {withdrawn}")
            if not every:
                return
            time.sleep(every)
