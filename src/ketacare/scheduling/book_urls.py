"""Booking pages, today's list and one appointment (issue #8)."""

from django.urls import URLPattern, URLResolver, path

from ketacare.scheduling import book_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("today/", book_views.today, name="scheduling-today"),
    path("book/", book_views.book, name="scheduling-book"),
    path("book/series/<int:plan_id>/", book_views.book_series, name="scheduling-book-series"),
    path("appointments/<int:appointment_id>/", book_views.appointment_page, name="scheduling-appointment"),
    path("appointments/<int:appointment_id>/check-in/", book_views.check_in, name="scheduling-check-in"),
    path("appointments/<int:appointment_id>/escort/", book_views.escort, name="scheduling-escort"),
    path("appointments/<int:appointment_id>/no-show/", book_views.no_show, name="scheduling-no-show"),
    path("appointments/<int:appointment_id>/cancel/", book_views.cancel, name="scheduling-cancel"),
    path("appointments/<int:appointment_id>/reschedule/", book_views.reschedule, name="scheduling-reschedule"),
]
