"""Who is acting, for which clinic, from where: passed to every access check and action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.http import HttpRequest

from ketacare.accounts.roles import can
from ketacare.lib.http import client_ip, user_agent

if TYPE_CHECKING:
    from ketacare.accounts.models import Membership, User
    from ketacare.clinics.models import Clinic


@dataclass(frozen=True)
class Actor:
    user: User
    clinic: Clinic
    role: str
    remote_addr: str = ""
    user_agent: str = ""
    via: str = "web"  # web, api, cli, task

    def can(self, perm: str) -> bool:
        return can(self.role, perm)

    @classmethod
    def from_membership(cls, membership: Membership, request: HttpRequest | None, via: str) -> Actor:
        return cls(
            user=membership.user,
            clinic=membership.clinic,
            role=membership.role,
            remote_addr=client_ip(request) if request is not None else "",
            user_agent=user_agent(request) if request is not None else "",
            via=via,
        )
