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
    path("screening/", include("ketacare.screening.urls")),
    path("intake/", include("ketacare.screening.patient_urls")),
    path("eligibility/", include("ketacare.eligibility.urls")),
    path("consents/", include("ketacare.consents.urls")),
    path("consent/", include("ketacare.consents.patient_urls")),
    path("protocols/", include("ketacare.protocols.urls")),
    path("plans/", include("ketacare.plans.urls")),
    path("inventory/", include("ketacare.inventory.urls")),
    path("sessions/", include("ketacare.sessions.urls")),
    path("schedule/", include("ketacare.scheduling.urls")),
    path("visit/", include("ketacare.scheduling.reply_urls")),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
]
