from django.urls import path

from console import views

urlpatterns = [
    # The account's home page
    path("dashboard/", views.dashboard, name="dashboard"),
]
