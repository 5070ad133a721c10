from django.urls import URLPattern, URLResolver

# Patient-facing pages at /consent/<token>/ (no account).
urlpatterns: list[URLPattern | URLResolver] = []
