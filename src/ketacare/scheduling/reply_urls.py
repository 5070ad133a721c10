"""The patient's pages for a visit (/visit/, no login): the reply link and the SMS reply webhook."""

from django.urls import URLPattern, URLResolver, path

from ketacare.scheduling import reply_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("sms-reply/", reply_views.sms_reply, name="scheduling-sms-reply"),
    path("<str:token>/", reply_views.visit, name="scheduling-visit"),
]
