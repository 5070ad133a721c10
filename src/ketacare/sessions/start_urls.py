"""Pre-dose checks and dosing: /sessions/<id>/checks/... and /sessions/<id>/dose/... (issue #7 items 2, 3)."""

from django.urls import URLPattern, URLResolver, path

from ketacare.sessions import start_views as v

urlpatterns: list[URLPattern | URLResolver] = [
    path("<int:session_id>/checks/begin/", v.begin, name="sessions-check-begin"),
    path("<int:session_id>/checks/refresh/", v.refresh, name="sessions-check-refresh"),
    path("<int:session_id>/checks/escort/", v.escort, name="sessions-check-escort"),
    path("<int:session_id>/checks/baseline/", v.baseline, name="sessions-check-baseline"),
    path("<int:session_id>/checks/baseline/decision/", v.baseline_decision, name="sessions-check-baseline-decision"),
    path("<int:session_id>/checks/<slug:item>/", v.record_item, name="sessions-check-record"),
    path("<int:session_id>/dose/", v.give, name="sessions-dose-give"),
    path("<int:session_id>/dose/panel/", v.dosing_panel, name="sessions-dose-panel"),
    path("<int:session_id>/dose/end/", v.end, name="sessions-dose-end"),
    path("<int:session_id>/dose/waste/", v.waste, name="sessions-dose-waste"),
    path("<int:session_id>/dose/<int:dose_id>/stop/", v.stop, name="sessions-dose-stop"),
]
