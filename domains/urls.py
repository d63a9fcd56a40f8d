from django.urls import path

app_name = "domains"
urlpatterns: list = []
