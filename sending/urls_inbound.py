from django.urls import path

from sending import views_inbound

# Machine endpoints: bearer token or HMAC, never a session (included at "inbound/").
urlpatterns = [
    path("report", views_inbound.inbound_report, name="inbound-report"),
    path("events", views_inbound.inbound_events, name="inbound-events"),
]
