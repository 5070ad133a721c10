from django.urls import URLPattern, URLResolver

# Patient-facing pages at /intake/<token>/ (no account).
urlpatterns: list[URLPattern | URLResolver] = []
