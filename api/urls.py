from django.urls import path

from api import views

urlpatterns = [
    # The signed API answers POST /; GET / sends a browser to the console.
    path("", views.entry, name="api"),
]
