"""A staff member's iCalendar feed: the page to create or revoke it, and the secret URL (feed_views)."""

from django.urls import URLPattern, URLResolver, path

from ketacare.scheduling import feed_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("feed/", feed_views.feed_page, name="scheduling-feed"),
    path("feed/<str:token>.ics", feed_views.feed_ics, name="scheduling-feed-ics"),
]
