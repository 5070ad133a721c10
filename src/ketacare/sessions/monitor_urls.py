"""Monitoring, discharge and sign-and-lock URLs under /sessions/<id>/ (names `sessions-<thing>`)."""

from django.urls import URLPattern, URLResolver, path

from ketacare.sessions import monitor_views as v

urlpatterns: list[URLPattern | URLResolver] = [
    path("<int:session_id>/vitals/", v.vitals, name="sessions-vitals"),
    path("<int:session_id>/assessment/", v.assessment, name="sessions-assessment"),
    path("<int:session_id>/side-effect/", v.side_effect, name="sessions-side-effect"),
    path("<int:session_id>/alerts/<int:alert_id>/ack/", v.alert_ack, name="sessions-alert-ack"),
    path("<int:session_id>/alerts/<int:alert_id>/resolve/", v.alert_resolve, name="sessions-alert-resolve"),
    path("<int:session_id>/checklist/", v.checklist, name="sessions-checklist"),
    path("<int:session_id>/escort-present/", v.escort, name="sessions-escort-present"),
    path("<int:session_id>/ready/", v.ready, name="sessions-ready"),
    path("<int:session_id>/discharge/", v.discharge_view, name="sessions-discharge"),
    path("<int:session_id>/sign/", v.sign, name="sessions-sign"),
    path("<int:session_id>/addendum/", v.addendum, name="sessions-addendum"),
    path("<int:session_id>/note.pdf", v.note, name="sessions-note-pdf"),
]
