"""Scheduling pages: see the module's views (issue #8)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
