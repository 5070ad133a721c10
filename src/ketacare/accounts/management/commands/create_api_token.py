"""`manage.py create_api_token EMAIL [--clinic SLUG] [--name NAME]`.

Prints only the new token on stdout, so a script can capture it (`TOKEN=$(manage.py …)`); the
line for people goes to stderr.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ketacare.accounts import actions
from ketacare.accounts.context import Origin
from ketacare.accounts.models import Membership, User
from ketacare.clinics.models import Clinic


class Command(BaseCommand):
    help = "Create a personal API token for a user in one clinic. Prints only the token on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The user's email address.")
        parser.add_argument(
            "--clinic", metavar="SLUG", help="The clinic the token acts in (required if the user is in several)."
        )
        parser.add_argument("--name", default="command line", help="What will use it (default: 'command line').")

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"].strip()
        slug: str | None = options["clinic"]
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        if not user.is_active:
            raise CommandError(f"{user.email} is inactive; an inactive user's token would be refused.")
        membership = self._membership(user, slug)
        try:
            token, raw = actions.create_api_token(user, membership.clinic, options["name"], origin=Origin(via="cli"))
        except ValidationError as exc:
            raise CommandError("; ".join(f"--{f}: {' '.join(m)}" for f, m in exc.message_dict.items())) from exc
        except PermissionDenied as exc:  # the membership ended meanwhile
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Created API token “{token.name}” ({token.hint}…) for {user.email} in {membership.clinic.name} "
            f"({membership.clinic.slug}) as {membership.get_role_display()}. It is shown only this once.",
            style_func=self.style.SUCCESS,
        )
        self.stdout.write(raw)

    def _membership(self, user: User, slug: str | None) -> Membership:
        memberships = list(
            Membership.objects.filter(user=user, is_active=True).select_related("clinic").order_by("clinic__slug")
        )
        if slug:
            match = next((m for m in memberships if m.clinic.slug == slug), None)
            if match is not None:
                return match
            if not Clinic.objects.filter(slug=slug).exists():
                raise CommandError(f"No clinic with slug {slug!r}.")
            raise CommandError(f"{user.email} is not an active member of clinic {slug!r}.")
        if not memberships:
            raise CommandError(f"{user.email} is not an active member of any clinic.")
        if len(memberships) > 1:
            slugs = ", ".join(m.clinic.slug for m in memberships)
            raise CommandError(f"{user.email} is a member of several clinics ({slugs}); choose one with --clinic SLUG.")
        return memberships[0]
