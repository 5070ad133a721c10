"""Spravato REMS pages: the due queue, the chairside PMF answers, its submission record and PDF."""

from django.urls import URLPattern, URLResolver, path

from ketacare.sessions import rems_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("rems/", rems_views.rems_queue, name="sessions-rems-queue"),
    path("<int:session_id>/pmf/", rems_views.pmf_update, name="sessions-pmf-update"),
    path("<int:session_id>/pmf/submission/", rems_views.pmf_submission, name="sessions-pmf-submission"),
    path("<int:session_id>/pmf.pdf", rems_views.pmf_pdf, name="sessions-pmf-pdf"),
]
