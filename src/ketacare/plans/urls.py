from django.urls import URLPattern, URLResolver, path

from ketacare.plans import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<int:patient_id>/", views.patient_page, name="plans-list"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="plans-chart"),
    path("patients/<int:patient_id>/weight/", views.record_weight, name="plans-weight"),
    path("<int:plan_id>/", views.plan_detail, name="plans-detail"),
    path("<int:plan_id>/sign/", views.sign, name="plans-sign"),
    path("<int:plan_id>/revise/", views.revise, name="plans-revise"),
    path("<int:plan_id>/cancel/", views.cancel, name="plans-cancel"),
]
