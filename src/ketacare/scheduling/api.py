"""/api/v1/scheduling: slots, bookings and series (issue #8)."""

from __future__ import annotations

from ninja import Router

router = Router()
