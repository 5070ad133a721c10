from django.urls import path

from ketacare.patients import views

urlpatterns = [
    path("", views.patient_list, name="patients-list"),
    path("new/", views.patient_create, name="patients-create"),
    path("<int:patient_id>/", views.patient_chart, name="patients-chart"),
    path("<int:patient_id>/edit/", views.patient_edit, name="patients-edit"),
]
