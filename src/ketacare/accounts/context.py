"""Who is acting, for which clinic, from where: passed to every access check and action.

`Origin` is the "from where" alone, for account actions that are not tied to one clinic
(two-factor, password) or that build their own Actor (API tokens).
"""

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


@dataclass(frozen=True)
class Origin:
    """Where a request comes from: address, user agent and channel (web, api, cli, task)."""

    remote_addr: str = ""
    user_agent: str = ""
    via: str = "cli"

    @classmethod
    def of(cls, request: HttpRequest, via: str = "web") -> Origin:
        return cls(remote_addr=client_ip(request), user_agent=user_agent(request), via=via)
