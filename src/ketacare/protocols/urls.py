from django.urls import URLPattern, URLResolver, path

from ketacare.protocols import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.protocol_list, name="protocols-list"),
    path("library/<slug:code>/<str:version>/", views.library_detail, name="protocols-library"),
    path("adopt/", views.adopt, name="protocols-adopt"),
    path("<int:clinic_protocol_id>/", views.copy_detail, name="protocols-copy"),
    path("<int:clinic_protocol_id>/edit/", views.edit, name="protocols-edit"),
    path("versions/<int:version_id>/", views.version_detail, name="protocols-version"),
    path("versions/<int:version_id>/publish/", views.publish, name="protocols-publish"),
]
