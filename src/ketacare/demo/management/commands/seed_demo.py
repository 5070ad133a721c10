"""`manage.py seed_demo`: load the synthetic demo clinic (idempotent) and print the demo logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.test.utils import override_settings

from ketacare.demo.seed import DEMO_PASSWORD, DEMO_PATIENTS, DEMO_URL, seed_demo


class Command(BaseCommand):
    help = "Create the synthetic demo clinic (staff in every role, rooms, patients). Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--patients", type=int, default=DEMO_PATIENTS, help=f"Demo clinic patients (default {DEMO_PATIENTS})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Synthetic patients' addresses: the intake links the demo sends go nowhere (not even the console).
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            report = seed_demo(patients=options["patients"])
        created = ", ".join(f"{count} {what}" for what, count in report.created.items() if count)
        self.stdout.write(
            self.style.SUCCESS(f"Demo clinic: {report.clinic.name} (also {report.other_clinic.name}).")
            + f" Created: {created or 'nothing, it was already there'}."
        )
        self.stdout.write(
            f"Measurement-based care: added {report.created.get('responses', 0)} responses "
            f"and {report.created.get('safety alerts', 0)} safety alerts "
            f"({report.care_patients} patients in treatment, {report.open_alerts} alert(s) open)."
        )
        self.stdout.write("All data is synthetic. Demo logins (two-factor is off for the demo clinics):\n")
        rows = [("Role", "Name", "Email", "Password")] + [
            (role, name, email, DEMO_PASSWORD) for role, name, email in report.logins
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        self.stdout.write(rule)
        for index, row in enumerate(rows):
            self.stdout.write("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
            if index == 0:
                self.stdout.write(rule)
        self.stdout.write(rule)
        self.stdout.write(f"\nThe admin also belongs to {report.other_clinic.name}: use the clinic switcher.")
        self.stdout.write(f"Open {DEMO_URL} (make run, or: python manage.py runserver 127.0.0.1:8000)")
