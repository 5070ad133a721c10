"""JSON API for this domain (mounted in ketacare.api)."""

from ninja import Router

router = Router()
