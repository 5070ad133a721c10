from django.urls import path

from ketacare.measures import staff_views, views

urlpatterns = [
    path("alerts/", views.alert_inbox, name="measures-alerts"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="measures-alert"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="measures-alert-acknowledge"),
    path("alerts/<int:alert_id>/close/", views.alert_close, name="measures-alert-close"),
    path("patients/<int:patient_id>/", staff_views.patient_measures, name="measures-history"),
    path("patients/<int:patient_id>/enter/<slug:code>/", staff_views.enter_response, name="measures-enter"),
]

# Questionnaires sent to patients (staff side); the patient's pages are in patient_urls (/q/).
from ketacare.measures import request_views  # noqa: E402

urlpatterns += [
    path("patients/<int:patient_id>/questionnaires/", request_views.patient_requests, name="measures-requests"),
    path("patients/<int:patient_id>/questionnaires/send/", request_views.send_request, name="measures-requests-send"),
    path("patients/<int:patient_id>/questionnaires/kiosk/", request_views.start_kiosk, name="measures-requests-kiosk"),
    path("questionnaires/<int:request_id>/cancel/", request_views.cancel_request, name="measures-requests-cancel"),
    path(
        "patients/<int:patient_id>/questionnaires/schedules/",
        request_views.create_schedule,
        name="measures-schedules-create",
    ),
    path(
        "questionnaire-schedules/<int:schedule_id>/stop/", request_views.stop_schedule, name="measures-schedules-stop"
    ),
]
