from django.urls import path

from domains import views_help

app_name = "help"
urlpatterns = [
    path("rules/", views_help.rules, name="rules"),
]
