"""The inbound endpoints (sending.inbound.views), included at "inbound/" by sesconsole/urls.py."""

from django.urls import path

from sending.inbound import views

# Machine endpoints: bearer token or HMAC, never a session (included at "inbound/").
urlpatterns = [
    path("report", views.inbound_report, name="inbound-report"),
    path("events", views.inbound_events, name="inbound-events"),
]
