"""Session URLs: the spine here; each area's own module (start, monitor, rems, board) adds its pages."""

from django.urls import URLPattern, URLResolver, include, path

from ketacare.sessions import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.today, name="sessions-today"),
    path("patients/<int:patient_id>/", views.patient_sessions, name="sessions-patient"),
    path("patients/<int:patient_id>/order/", views.order, name="sessions-order"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="sessions-chart"),
    path("<int:session_id>/", views.chairside, name="sessions-chair"),
    path("<int:session_id>/check-in/", views.check_in, name="sessions-check-in"),
    path("<int:session_id>/seat/", views.seat, name="sessions-seat"),
    path("<int:session_id>/cancel/", views.cancel, name="sessions-cancel"),
    path("<int:session_id>/stop/", views.stop_early, name="sessions-stop"),
    path("", include("ketacare.sessions.start_urls")),
    path("", include("ketacare.sessions.monitor_urls")),
    path("", include("ketacare.sessions.rems_urls")),
    path("", include("ketacare.sessions.board_urls")),
]
