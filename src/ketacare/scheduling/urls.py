"""Scheduling URLs (/schedule/): each area's own module adds its pages (issue #8).

- calendar_urls: the day and week calendar per location, a patient's schedule (series on one line);
- feed_urls: a staff member's iCalendar feed (secret URL, revocable);
- book_urls: booking a visit or a series, today's list for the front desk, one appointment;
- settings_urls: appointment types, opening and staff hours, closures, time off, reminders.

The patient's own pages (confirm or cancel from a message) are under /visit/ (reply_urls).
"""

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("ketacare.scheduling.book_urls")),
    path("", include("ketacare.scheduling.calendar_urls")),
    path("", include("ketacare.scheduling.feed_urls")),
    path("", include("ketacare.scheduling.settings_urls")),
]
