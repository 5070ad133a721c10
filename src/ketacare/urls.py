from django.contrib import admin
from django.urls import include, path

from ketacare.accounts import views as account_views
from ketacare.api import api

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/", include("ketacare.accounts.urls")),
    path("patients/", include("ketacare.patients.urls")),
    path("audit/", include("ketacare.audit.urls")),
    path("measures/", include("ketacare.measures.urls")),
    path("q/", include("ketacare.measures.patient_urls")),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
]
