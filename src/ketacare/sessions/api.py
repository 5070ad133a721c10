"""Sessions API (placeholder: the API helper fills it)."""

from __future__ import annotations

from ninja import Router

router = Router()
