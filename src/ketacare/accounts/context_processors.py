from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from ketacare.accounts.roles import PERMISSIONS, can


def clinic(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    role = membership.role if membership else None
    return {
        "current_clinic": getattr(request, "clinic", None),
        "current_membership": membership,
        "memberships": getattr(request, "memberships", []),
        # perms.<area>_<verb> for templates, e.g. {% if perms_for.patient_create %}
        "role_can": {perm.replace(".", "_"): can(role, perm) for perm in PERMISSIONS},
    }
