from django.urls import path

from ketacare.measures import views

urlpatterns = [
    path("alerts/", views.alert_inbox, name="measures-alerts"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="measures-alert"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="measures-alert-acknowledge"),
    path("alerts/<int:alert_id>/close/", views.alert_close, name="measures-alert-close"),
]
