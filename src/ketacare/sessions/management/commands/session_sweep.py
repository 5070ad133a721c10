"""`manage.py session_sweep [--every SECONDS]`: enqueue the session sweep now, or every N seconds.

It sends pending session-alert messages and escalates overdue REMS Patient Monitoring Forms.

Run it beside the task worker (`manage.py db_worker`), e.g. from a systemd timer or with --every 60.
The sweep itself is idempotent, so an extra run does no harm and a late one catches up.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ketacare.sessions.tasks import session_sweep


class Command(BaseCommand):
    help = "Send pending session-alert messages and escalate overdue REMS forms (enqueued as a background task)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=int, default=0, help="Repeat every SECONDS (0: once).")

    def handle(self, *args: Any, every: int = 0, **options: Any) -> None:
        while True:
            result = session_sweep.enqueue()
            self.stdout.write(f"session sweep enqueued: {result.id}")
            if not every:
                return
            time.sleep(every)
